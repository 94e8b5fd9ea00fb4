"""Interpretability figures and the AASM report for docs/: published SHHS checkpoints and the shipped models.

Run: python scripts/interpret_figures.py [--hours 8] [--seeds 0,1,2,3] [--out docs]
Writes filters_<model>.png (layer-1 kernels and frequency responses), frequency_occlusion.png and
time_occlusion.png (published oversampling CNN on a simulated night), aasm_report.md (every model). The SHHS
checkpoints are read from ../shared/reference where present; shipped models from trained_models/.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from stqs_core import load_model, make_epochs
from stqs_core.checkpoint import MODELS_DIR
from stqs_core.constants import EPOCH_SEC
from stqs_core.interpret import aasm_report, frequency_occlusion, render_markdown, time_occlusion
from stqs_core.interpret.aasm import stage_drops
from stqs_core.metrics import agreement
from stqs_core.plots import plot_filters, plot_frequency_occlusion, plot_time_occlusion
from stqs_core.simulate import simulate_night

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT.parent / "shared" / "reference" / "stqs_shhs_checkpoints"
SHHS = {
    "shhs_oversampling_cnn": "model2d_shhs1_4692_5213_allCh_oversampling_cnn",
    "shhs_oversampling_cnnlstm": "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info",
}


def models() -> dict:
    found = {name: CHECKPOINTS / f"{stem}.tar" for name, stem in SHHS.items()}
    found = {name: path for name, path in found.items() if path.exists()}
    found.update({path.stem: path for path in sorted(MODELS_DIR.glob("*.pt"))})
    return found


METHOD = """Each AASM stage rule names its evidence as frequency bands of a modality. Every band (delta 0.16-4,
theta 4-8, alpha 8-12, sigma 12-16, beta 16-30 Hz) is removed from every modality in turn (15 occlusions; the
filtered channels are z-scored again per epoch, as preprocessing would have left them), and the night is rescored.
For a stage, an occlusion's *specific drop* is how much it lowers the model's probability of that stage over that
stage's epochs, minus the mean of the same quantity for the other stages (damage that every stage suffers, such as
removing the EEG's delta, says what the model needs for sleep in general, not for this stage). A rule *agrees* when
one of its evidence occlusions is among the two with the largest specific drop for its stage. The rank by the raw
drop is given in brackets."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument(
        "--seeds",
        type=lambda t: [int(v) for v in t.split(",")],
        default=[0, 1, 2, 3],
        help="simulated nights; the first gets the full tables and figures (default 0,1,2,3)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    found = {name: load_model(path) for name, path in models().items()}
    full, summary = (
        [],
        ["| model | " + " | ".join(f"night {s}" for s in args.seeds) + " |", "|---|" + "---|" * len(args.seeds)],
    )
    agreed = {name: [] for name in found}
    for i, seed in enumerate(args.seeds):
        night = simulate_night(hours=args.hours, seed=seed)
        epochs = make_epochs(night.recording.data, night.recording.sfreq).data
        stages = night.stages[: len(epochs)]
        print(f"night {seed}: {len(epochs)} epochs, stage counts {np.bincount(stages[stages >= 0], minlength=5)}")
        for name, model in found.items():
            scores = agreement(stages, model.predict_proba(epochs).argmax(1))
            start = time.perf_counter()
            table = aasm_report(model, epochs, stages)
            failed = ", ".join(table.stage[~table.agrees])
            agreed[name].append(f"{int(table.agrees.sum())}/5" + (f" (not {failed})" if failed else ""))
            print(
                f"  {name}: accuracy {scores['accuracy']}, kappa {scores['kappa']}; {agreed[name][-1]} rules "
                f"agree ({time.perf_counter() - start:.1f} s)"
            )
            if i > 0:
                continue
            full.append(
                render_markdown(
                    table,
                    f"{name} ({model.config.variant}; accuracy {scores['accuracy']:.3f}, "
                    f"kappa {scores['kappa']:.3f} on night {seed})",
                )
            )
            plot_filters(model, args.out / f"filters_{name}.png", title=f"{name}: layer-1 temporal filters")
            if name == "shhs_oversampling_cnn":
                occlusion = frequency_occlusion(model, epochs, stages)
                plot_frequency_occlusion(
                    stage_drops(occlusion.per_epoch),
                    path=args.out / "frequency_occlusion.png",
                    title=f"{name}: stage-specific drop when a band is removed",
                )
                figure_time_occlusion(model, epochs, stages, night.events, args.out / "time_occlusion.png", name)
    summary += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in agreed.items()]
    text = [
        f"# AASM correspondence of STQS models\n\nSimulated {args.hours:g}-hour nights (`stqs_core.simulate`, "
        f"seeds {', '.join(map(str, args.seeds))}); the simulated stages are the expert stages. Produced by "
        "`python scripts/interpret_figures.py`; code in `stqs_core/interpret/aasm.py`.\n",
        METHOD,
        "",
        "## Rules that agree, per night\n",
        *summary,
        "",
        *full,
    ]
    (args.out / "aasm_report.md").write_text("\n".join(text))
    print(f"wrote {args.out}")


def figure_time_occlusion(model, epochs, stages, events, path: Path, name: str) -> None:
    """The N2 epoch with the most spindles and K-complexes that the model scores N2."""
    pred = model.predict_proba(epochs).argmax(1)
    marked = events[events.type.isin(["spindle", "k_complex"]) & (events.row == 0)]
    counts = marked[(stages[marked.epoch] == 2) & (pred[marked.epoch] == 2)].epoch.value_counts()
    index = int(counts.index[0])
    result = time_occlusion(model, epochs, index, window_s=1.0, stride_s=0.25, modalities=("eeg",))
    shown = marked[marked.epoch == index].assign(onset_s=lambda d: d.onset_s - index * EPOCH_SEC)
    plot_time_occlusion(
        result,
        epochs[index],
        shown,
        path=path,
        title=f"{name}: EEG occluded by 1-s windows (0.25-s steps), epoch {index}",
    )


if __name__ == "__main__":
    main()
