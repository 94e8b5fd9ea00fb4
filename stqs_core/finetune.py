"""Few-label adaptation: fine-tune a trained model on a few scored nights of a lab, and its learning curve.

:func:`finetune` starts from a published or shipped model (anything :func:`~stqs_core.checkpoint.load_model`
accepts) and trains it on ``nights`` of the lab's scored recordings with the training loop of
:func:`stqs_core.training.train` (``init_model``): the lab's recordings are split by recording (never by epoch),
seeded, into ``test`` nights (the before/after metrics), ``validation`` nights (early stopping on their loss)
and a pool from which the training nights are drawn. The split is resumable and bit-identical like
``stqs train`` (``resume=True`` continues a killed run from ``<out>.resume``).

``freeze``:

- ``"cnn"`` (default): the CNN is frozen, batch-norm running statistics included (it runs in eval mode, so its
  weights stay bit-identical); the ``cnn`` variant trains its linear classifier only, the sequence variants their
  bi-LSTM head and classifier. Re-estimating batch-norm statistics on a recording is label-free adaptation's
  job (``stqs score --adapt``), which can be applied on top at scoring time.
- ``"none"``: every weight trains, with a smaller learning rate by default (:func:`default_lr`). The ``cnn``
  variant's batch-norm statistics follow the lab's shuffled batches; a sequence variant's CNN keeps its
  statistics (it runs in eval mode: windows of consecutive epochs of a few nights would skew them; measured,
  they made the fine-tuned ``stqs-cnnlstm-sim`` worse with every night added).

The model card holds the usual training fields plus ``finetune``: ``source_model`` (what was given),
``source_card`` (the source model's own card), ``freeze``, ``nights`` (how many), ``train_nights`` /
``validation_nights`` / ``test_nights`` (names), ``seed``, ``draw`` and ``metrics`` ``{before, after}``
(accuracy, macro-F1, kappa and scored epochs on the test nights, pooled); ``command`` is the ``stqs finetune``
call that reproduces the model.

:func:`learning_curve` fine-tunes on 0, 1, 2, 4, 8 nights (capped by the data; several draws of which nights)
against one fixed set of test nights and writes ``curve.csv``, ``curve.md`` and ``curve.png`` (kappa against
nights, with the human inter-scorer band). Each row also names its ``adapt`` condition: ``adapters`` maps a
condition name to a function ``(model, epochs) -> model`` applied per test recording before scoring (``None``:
the model as it is), so label-free adaptation is one more entry.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .checkpoint import load_model, save_model
from .errors import StqsError, check_option
from .metrics import classification_metrics
from .model import STQS
from .sampling import IMBALANCE, EpochSource
from .training import TrainConfig, train

logger = logging.getLogger(__name__)

FREEZE = ("cnn", "none")
CURVE_NIGHTS = (0, 1, 2, 4, 8)
METRICS = ("n_scored", "accuracy", "macro_f1", "kappa")
Adapter = Callable[[STQS, np.ndarray], STQS]


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns.

    Parameters
    ----------
    model : STQS
        The fine-tuned model, in eval mode.
    path : Path
        Its file.
    card : dict
        Its model card.
    split : dict of str to list of str
        The lab's recordings by role: ``train``, ``validation``, ``test``, ``unused``.
    before, after : dict
        :func:`test_metrics` of the source model and of the fine-tuned one on the test nights.
    history : list of dict
        One row per training epoch (loss, validation loss, seconds ...).
    """

    model: STQS
    path: Path
    card: dict
    split: dict[str, list[str]]
    before: dict
    after: dict
    history: list[dict]


def default_lr(freeze: str, variant: str) -> float:
    """Default Adam learning rate of a fine-tuning.

    1e-4 for the whole network (``freeze="none"``); with a frozen CNN, 1e-2 for the linear classifier of the
    ``cnn`` variant and 1e-3 for a bi-LSTM head. Measured on 2 nights of a shifted simulated lab
    (``benchmarks/finetune_curve.py``, 3 test nights): the published SHHS ``oversampling_cnn`` reached kappa 0.72
    with 1e-3 and 0.85 with 1e-2 (from 0.14); the shipped ``stqs-cnnlstm-sim`` 0.86 with 1e-3 and 0.79 with 1e-2
    (from 0.63).

    Parameters
    ----------
    freeze : str
        ``"cnn"`` or ``"none"``.
    variant : str
        The model's variant (``"cnn"``, ``"cnnlstm"``, ``"cnnlstm-residual"``).

    Returns
    -------
    float
    """
    if freeze == "none":
        return 1e-4
    return 1e-2 if variant == "cnn" else 1e-3


def scored_recordings(source: EpochSource) -> list[str]:
    """The recordings with at least one scored epoch (the others cannot train or test).

    Parameters
    ----------
    source : EpochSource
        The lab's stores.

    Returns
    -------
    list of str
        Recording ids.
    """
    names = [r for r in source.recordings if (source.labels(r) >= 0).any()]
    if len(names) < len(source.recordings):
        logger.warning("%d recording(s) hold no scored epoch and are left out", len(source.recordings) - len(names))
    return names


def finetune_split(
    recordings: list[str],
    nights: int | None = None,
    seed: int = 0,
    validation_nights: int = 1,
    test_nights: int | None = None,
    draw: int = 0,
) -> dict[str, list[str]]:
    """Split a lab's recordings into ``{"train", "validation", "test", "unused"}`` (sorted name lists).

    A shuffle seeded by ``seed`` puts ``test_nights`` recordings first, then ``validation_nights``; the rest is
    the pool, in that shuffled order. Draw ``d`` trains on the ``nights`` pool recordings that follow the first
    ``d * nights`` (cyclically), so draws differ wherever the pool allows. The test and validation sets depend
    on ``seed`` and ``test_nights`` only, so draws and night counts compare on the same test nights; the
    training sets of draw 0 are nested.

    Parameters
    ----------
    recordings : list of str
        The lab's scored recordings.
    nights : int or None
        Training nights; None takes the whole pool.
    seed : int
        Seed of the shuffle.
    validation_nights : int
        Nights for early stopping.
    test_nights : int or None
        Nights for the before/after metrics; None for every recording left after validation and training (one
        when ``nights`` is None).
    draw : int
        Which pool nights train.

    Returns
    -------
    dict of str to list of str
    """
    names = sorted(set(recordings))
    n_val = validation_nights
    if test_nights is None:
        test_nights = 1 if nights is None else len(names) - n_val - nights
    if nights is None:
        nights = len(names) - n_val - test_nights
    if min(nights, n_val) < 0 or test_nights < 1 or nights + n_val + test_nights > len(names):
        raise StqsError(
            f"{len(names)} scored recordings are too few for {nights} training, {n_val} validation and "
            f"{max(test_nights, 1)} test night(s); give more scored nights or ask for fewer"
        )
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    test, validation, pool = order[:test_nights], order[test_nights : test_nights + n_val], order[test_nights + n_val :]
    train = {pool[(draw * nights + i) % len(pool)] for i in range(nights)}
    return {
        "train": sorted(train),
        "validation": sorted(validation),
        "test": sorted(test),
        "unused": sorted(set(pool) - train),
    }


def test_metrics(model: STQS, source: EpochSource, recordings: list[str], adapt: Adapter | None = None) -> dict:
    """Accuracy, macro-F1, kappa and scored epochs of a model on some recordings, epochs pooled.

    Parameters
    ----------
    model : STQS
        The model.
    source : EpochSource
        The stores.
    recordings : list of str
        Recording ids.
    adapt : callable or None
        ``(model, epochs (n_epochs, 5, 3750)) -> model``, applied to each recording before it is scored.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``kappa``, ``n_scored``.
    """
    true, pred = [], []
    for rid in recordings:
        epochs = source.read(rid)
        scorer = model if adapt is None else adapt(model, epochs)
        pred.append(scorer.predict_proba(epochs).argmax(1))
        true.append(source.labels(rid))
    m = classification_metrics(np.concatenate(true), np.concatenate(pred))
    return {k: m[k] for k in METRICS}


def finetune(
    model: str | Path,
    stores: str | Path | list,
    out: str | Path,
    *,
    nights: int | None = None,
    freeze: str = "cnn",
    seed: int = 0,
    draw: int = 0,
    validation_nights: int = 1,
    test_nights: int | None = None,
    epochs: int = 10,
    patience: int = 3,
    lr: float | None = None,
    imbalance: str = "oversampling",
    batch_size: int = 64,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[dict, STQS], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` on ``nights`` scored recordings of the epoch stores ``stores``; save it to ``out``.

    Parameters
    ----------
    model : str | Path
        The model to start from: a file or a name (:func:`~stqs_core.checkpoint.load_model`).
    stores : path or list of paths
        The lab's epoch stores (``stqs prepare``) with expert hypnograms.
    out : str | Path
        The model file (``.pt``) to write, beside it ``<stem>.history.csv`` and ``<stem>.training.json``.
    nights : int | None
        Training nights (None: all but the validation and test nights).
    freeze : str
        ``"cnn"`` or ``"none"`` (module docstring).
    seed, draw : int
        Seed of the split, of the training's shuffling and of which pool nights train (``draw``).
    validation_nights, test_nights : int, int | None
        Held-out nights for early stopping and for the before/after metrics (:func:`finetune_split`).
    epochs, patience, lr, imbalance, batch_size
        As for ``stqs train``; ``lr`` None takes :func:`default_lr`.
    resume : bool
        Continue a killed run from ``<out>.resume`` (same options: same final model).
    on_epoch_end : callable | None
        Passed to :func:`~stqs_core.training.train`.
    progress : bool
        Show progress bars.

    Returns
    -------
    FinetuneResult

    Examples
    --------
    >>> from stqs_core.finetune import finetune
    >>> result = finetune("shhs-oversampling-cnn", "lab.h5", "runs/lab.pt", nights=2)  # doctest: +SKIP
    >>> result.before["kappa"], result.after["kappa"]  # doctest: +SKIP
    (0.14, 0.85)
    """
    check_option("freeze", freeze, FREEZE)
    check_option("imbalance", imbalance, IMBALANCE)
    if nights == 0:
        raise StqsError("nights=0 leaves nothing to fine-tune on: the source model is the 0-night result")
    stores = [Path(p) for p in ([stores] if isinstance(stores, (str, Path)) else stores)]
    out = Path(out)
    source_model = load_model(model)
    lr = default_lr(freeze, source_model.config.variant) if lr is None else lr
    with EpochSource(stores) as source:
        split = finetune_split(scored_recordings(source), nights, seed, validation_nights, test_nights, draw)
        args = [
            "stqs",
            "finetune",
            "--model",
            str(model),
            "--data",
            *map(str, stores),
            "--nights",
            str(len(split["train"])),
            "--freeze",
            freeze,
            "--seed",
            str(seed),
            "--draw",
            str(draw),
            "--validation-nights",
            str(validation_nights),
            "--test-nights",
            str(len(split["test"])),
            "--epochs",
            str(epochs),
            "--patience",
            str(patience),
            "--lr",
            str(lr),
            "--imbalance",
            imbalance,
            "--batch-size",
            str(batch_size),
            "--out",
            str(out),
        ]
        if resume and out.is_file():
            finished = _finished(out, shlex.join(args))
            if finished is not None:
                return finished
        before = test_metrics(source_model, source, split["test"])
    config = TrainConfig(
        variant=source_model.config.variant,
        imbalance=imbalance,
        epochs=epochs,
        patience=patience,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        init_model=str(model),
        fine_tune_cnn=freeze == "none",
        train=split["train"],
        validation=split["validation"],
        test=split["test"],
    )
    info = {
        "source_model": str(model),
        "source_card": source_model.info.get("model_card", {}),
        "freeze": freeze,
        "nights": len(split["train"]),
        "train_nights": split["train"],
        "validation_nights": split["validation"],
        "test_nights": split["test"],
        "seed": seed,
        "draw": draw,
    }
    card = {
        "name": out.stem,
        "command": shlex.join(args),
        "training_data": f"{len(split['train'])} night(s) of {', '.join(map(str, stores))}, fine-tuned from {model}",
        "finetune": info,
    }
    result = train(stores, out, config, resume=resume, card=card, progress=progress, on_epoch_end=on_epoch_end)
    after = {k: result.card["metrics"]["test"][k] for k in METRICS}
    info["metrics"] = {"before": before, "after": after}
    card = {**result.card, "finetune": info}
    save_model(result.model, out, card)
    logger.info(
        "fine-tuned %s on %d night(s): test kappa %.3f -> %.3f",
        model,
        len(split["train"]),
        before["kappa"],
        after["kappa"],
    )
    return FinetuneResult(result.model, out, card, split, before, after, result.history)


def _finished(out: Path, command: str) -> FinetuneResult | None:
    """The model at ``out`` as a result if a finished run of the same ``command`` wrote it, else None."""
    import json

    fitted = load_model(out)
    card = fitted.info.get("model_card", {})
    info = card.get("finetune", {})
    if card.get("command") != command or "metrics" not in info:
        return None
    logger.info("%s is the finished result of the same command; not training again", out)
    log = out.with_suffix(".training.json")
    history = json.loads(log.read_text())["history"] if log.is_file() else []
    split = {"train": info["train_nights"], "validation": info["validation_nights"], "test": info["test_nights"]}
    return FinetuneResult(fitted, out, card, split, info["metrics"]["before"], info["metrics"]["after"], history)


# ---------------------------------------------------------------- learning curve
def curve_nights(requested: tuple[int, ...], n_recordings: int, validation_nights: int = 1) -> list[int]:
    """The requested night counts that leave at least one test night.

    Parameters
    ----------
    requested : tuple of int
        Night counts.
    n_recordings : int
        The lab's scored recordings.
    validation_nights : int
        Nights held out for early stopping.

    Returns
    -------
    list of int
    """
    most = n_recordings - validation_nights - 1
    kept = sorted({n for n in requested if 0 <= n <= most})
    if not kept:
        raise StqsError(
            f"{n_recordings} scored recordings leave no test night after {validation_nights} validation night(s)"
        )
    return kept


def learning_curve(
    model: str | Path,
    stores: str | Path | list,
    out_dir: str | Path,
    *,
    nights: tuple[int, ...] = CURVE_NIGHTS,
    draws: int = 1,
    freeze: str = "cnn",
    seed: int = 0,
    validation_nights: int = 1,
    adapters: dict[str, Adapter | None] | None = None,
    human_reference: str | Path | None = None,
    progress: bool = True,
    **options,
) -> list[dict]:
    """Fine-tune on each count of ``nights`` (``draws`` draws of which nights) and score the same test nights.

    Parameters
    ----------
    model, stores, freeze, seed, validation_nights
        As for :func:`finetune`.
    out_dir : str | Path
        Writes ``models/n<N>-d<draw>.pt`` (kept: a rerun with the same options reuses them and resumes a killed
        fine-tuning), ``curve.csv``, ``curve.md`` and ``curve.png``.
    nights : tuple of int
        Night counts, capped by :func:`curve_nights`; 0 is the source model as it is.
    draws : int
        Draws of training nights per count (one where all the pool trains).
    adapters : dict | None
        ``{condition: adapt function or None}`` (module docstring); default ``{"off": None}``.
    human_reference : str | Path | None
        DOD-H-like folder for the human band of the figure (default: the stored DOD-H reference).
    progress : bool
        Show progress bars.
    **options
        Passed to :func:`finetune` (``epochs``, ``patience``, ``lr`` ...).

    Returns
    -------
    list of dict
        One row per (nights, draw, adapt): ``nights, draw, adapt, freeze, train_nights, test_nights, n_scored,
        accuracy, macro_f1, kappa, seconds`` (fine-tuning time).
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    adapters = adapters or {"off": None}
    stores = [Path(p) for p in ([stores] if isinstance(stores, (str, Path)) else stores)]
    with EpochSource(stores) as source:
        names = scored_recordings(source)
    counts = curve_nights(tuple(nights), len(names), validation_nights)
    n_test = len(names) - validation_nights - counts[-1]
    pool = len(names) - validation_nights - n_test
    runs = [(n, d) for n in counts for d in range(1 if n in (0, pool) else draws)]
    rows = []
    for n, d in tqdm(runs, desc="learning curve", unit="model", disable=not progress):
        tic = time.perf_counter()
        split = finetune_split(names, n, seed, validation_nights, n_test, d)
        if n == 0:
            fitted = load_model(model)
        else:
            path = out_dir / "models" / f"n{n}-d{d}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            fitted = finetune(
                model,
                stores,
                path,
                nights=n,
                freeze=freeze,
                seed=seed,
                draw=d,
                validation_nights=validation_nights,
                test_nights=n_test,
                resume=True,
                progress=False,
                **options,
            ).model
        seconds = time.perf_counter() - tic
        with EpochSource(stores) as source:
            for condition, adapt in adapters.items():
                m = test_metrics(fitted, source, split["test"], adapt)
                rows.append(
                    {
                        "nights": n,
                        "draw": d,
                        "adapt": condition,
                        "freeze": freeze if n else "",
                        "train_nights": ";".join(split["train"]),
                        "test_nights": len(split["test"]),
                        **m,
                        "seconds": round(seconds, 1),
                    }
                )
    write_curve(rows, out_dir, human_reference)
    return rows


def human_band(folder: str | Path | None = None) -> tuple[float, float]:
    """Human inter-scorer kappa band: the stored DOD-H reference, or that of a DOD-H-like folder.

    Parameters
    ----------
    folder : str or Path or None
        A folder as :func:`~stqs_core.evaluation.read_human_reference` reads; None for the stored reference.

    Returns
    -------
    tuple of (float, float)
        ``(pairwise mean, scorer-vs-consensus mean)`` kappa.
    """
    from .evaluation import read_human_reference

    summary = read_human_reference(folder)["summary"]
    return summary["pairwise"]["kappa"]["mean"], summary["vs_consensus"]["kappa"]["mean"]


def write_curve(rows: list[dict], out_dir: str | Path, human_reference: str | Path | None = None) -> dict[str, Path]:
    """Write ``curve.csv`` (all rows), ``curve.md`` (mean and range over draws) and ``curve.png``.

    Parameters
    ----------
    rows : list of dict
        As :func:`learning_curve` returns.
    out_dir : str or Path
        The output folder (created).
    human_reference : str or Path or None
        As for :func:`human_band`.

    Returns
    -------
    dict of str to Path
        ``csv``, ``md``, ``png``.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    files = {"csv": out_dir / "curve.csv", "md": out_dir / "curve.md", "png": out_dir / "curve.png"}
    with atomic_path(files["csv"]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    summary = summarise_curve(table)
    band = human_band(human_reference)
    lines = [
        "| nights | adapt | draws | accuracy | macro-F1 | kappa (mean) | kappa (range) | fine-tune s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.nights} | {r.adapt} | {r.draws} | {r.accuracy:.3f} | {r.macro_f1:.3f} | {r.kappa:.3f} | "
        f"{r.kappa_min:.3f}-{r.kappa_max:.3f} | {r.seconds:.0f} |"
        for r in summary.itertuples()
    ]
    if band:
        lines.append(f"\nHuman scorers (DOD-H): kappa {band[0]:.2f} (pairwise) to {band[1]:.2f} (vs consensus).")
    with atomic_path(files["md"]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    from .plots import plot_curve

    plot_curve(summary, files["png"], band)
    return files


def summarise_curve(table):
    """Mean of each metric over draws, per (nights, adapt), with the kappa range and the number of draws.

    Parameters
    ----------
    table : pandas.DataFrame
        The rows of :func:`learning_curve`.

    Returns
    -------
    pandas.DataFrame
        Columns ``nights``, ``adapt``, ``accuracy``, ``macro_f1``, ``kappa``, ``seconds``, ``kappa_min``,
        ``kappa_max``, ``draws``.
    """
    grouped = table.groupby(["nights", "adapt"], sort=True)
    summary = grouped[["accuracy", "macro_f1", "kappa", "seconds"]].mean()
    summary["kappa_min"], summary["kappa_max"] = grouped["kappa"].min(), grouped["kappa"].max()
    summary["draws"] = grouped.size()
    return summary.reset_index()
