"""The built-in demo: simulate a night from the stage model, score it, and write what a user would look at."""

from __future__ import annotations

import logging
from pathlib import Path

from .checkpoint import DEMO_MODEL, load_model
from .plots import plot_hypnogram
from .scoring import score_recording

logger = logging.getLogger(__name__)


def run_demo(out: str | Path, hours: float = 8.0, seed: int = 0, model: str | Path = DEMO_MODEL) -> dict:
    """Simulate a night, score it and write what a user would look at into a folder.

    Writes ``night.edf`` (signals in µV with the true hypnogram as EDF+ annotations; score it again with
    ``stqs score``), ``night.events.csv`` (every simulated event), ``hypnogram.csv`` (one row per epoch,
    with ``true_stage``) and ``hypnogram.png``. The model is loaded before anything is written; if a later step
    fails, the files this run wrote are removed (and ``out`` too, if the run created it and it is left empty).

    Parameters
    ----------
    out : str or Path
        The output folder (created if missing).
    hours : float
        Length of the simulated night in hours.
    seed : int
        Seed of the simulation.
    model : str or Path
        A shipped model's name or a model file.

    Returns
    -------
    dict
        The scoring summary (:meth:`~stqs_core.scoring.ScoredNight.summary`, accuracy and kappa included).

    Examples
    --------
    >>> from stqs_core.demo import run_demo
    >>> summary = run_demo("runs/demo", hours=1.0)  # doctest: +SKIP
    >>> summary["n_epochs"]  # doctest: +SKIP
    120
    """
    from .simulate import simulate_night

    net = load_model(model)
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        night = simulate_night(hours=hours, seed=seed, name=f"demo-seed{seed}")
        written += night.write_edf(out / "night.edf")
        written.append(night.write_events(out / "night.events.csv"))
        scored = score_recording(night.recording, net)
        written.append(scored.write(out / "hypnogram.csv"))
        summary = scored.summary()
        fig = plot_hypnogram(
            scored.stages,
            scored.true,
            scored.proba,
            title=f"simulated night (seed {seed}) scored by {scored.model}: "
            f"accuracy {summary['accuracy']:.2f}, kappa {summary['kappa']:.2f}",
        )
        written.append(out / "hypnogram.png")
        fig.savefig(written[-1], dpi=120)
    except BaseException:  # also Ctrl-C: no 37-MB night.edf left behind without its hypnogram
        logger.info("demo failed: removing %s", ", ".join(str(p) for p in written))
        for path in written:
            path.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    return summary
