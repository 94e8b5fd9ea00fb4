"""Proof of realism: do the original SHHS-trained STQS networks stage simulated nights as they were simulated?

Simulates nights driven by real expert hypnograms (the first ``--nights`` of Sleep-EDF-20 by default, or of DOD-H
scorer 1 with ``--source dod-h``, read from ../shared; wake trimmed to 30 min before sleep onset and after the last
sleep epoch, as is common practice, and unscored epochs left out of the scores), preprocesses them with
``make_epochs``, scores them with the published SHHS checkpoints and prints the confusion matrix, overall agreement
and per-stage agreement (share of the epochs of each true stage predicted as that stage). Writes
docs/realism_confusion.png and docs/simulated_psd.png.

Run: ``python benchmarks/realism.py [--nights 10] [--seed 0] [--source sleep-edf-20|dod-h] [--no-figures]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from stqs_core import load_model, make_epochs, read_hypnogram
from stqs_core.allocator import keep_freed_memory
from stqs_core.constants import STAGES
from stqs_core.hypnogram import trim_wake
from stqs_core.simulate import simulate_night

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CHECKPOINTS = SHARED / "reference" / "stqs_shhs_checkpoints"
HYPNOGRAMS = SHARED / "data" / "hypnograms"
SOURCES = {"sleep-edf-20": "sleep-edf-20/*-Hypnogram.edf", "dod-h": "dod-h/scorer_1/*.json"}
PREFIX = "model2d_shhs1_4692_5213_allCh_"
MODELS = ("oversampling_cnn", "oversampling_cnnlstm_ReturnAllChunk_seq_info", "cnnlstm_ReturnAllChunk_seq_info")


def simulated_epochs(n_nights: int, seed: int = 0, source: str = "sleep-edf-20") -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(epochs (n, 5, 3750), true stages (n,)), ...]`` for nights driven by the first hypnograms of ``source``."""
    paths = sorted(HYPNOGRAMS.glob(SOURCES[source]))[:n_nights]
    if not paths:
        raise SystemExit(f"no hypnograms in {HYPNOGRAMS}")
    nights = []
    for i, path in enumerate(paths):
        stages = trim_wake(read_hypnogram(path))
        night = simulate_night(stages, seed=seed + i, name=path.stem)
        rec = night.recording
        nights.append((make_epochs(rec.data, rec.sfreq, rec.channel_names).data, night.stages))
    return nights


def confusion(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Counts ``(5, 5)``: rows true stage, columns predicted stage (unscored epochs left out)."""
    keep = true >= 0
    return np.bincount(true[keep] * 5 + pred[keep], minlength=25).reshape(5, 5)


def report(name: str, cm: np.ndarray) -> dict:
    overall = np.trace(cm) / cm.sum()
    per_stage = np.diag(cm) / np.maximum(cm.sum(1), 1)
    print(
        f"\n{name}: overall agreement {overall:.1%}; per stage "
        + ", ".join(f"{s} {a:.1%}" for s, a in zip(STAGES, per_stage))
    )
    print("true\\pred " + " ".join(f"{s:>6}" for s in STAGES))
    for s, row in zip(STAGES, cm):
        print(f"{s:>9} " + " ".join(f"{v:>6d}" for v in row))
    return {"overall": overall, "per_stage": per_stage}


def score(nights, model_name: str) -> np.ndarray:
    model = load_model(CHECKPOINTS / f"{PREFIX}{model_name}.tar")
    cm = np.zeros((5, 5), int)
    for epochs, stages in nights:
        pred = model.predict_logits(epochs).argmax(1)
        cm += confusion(stages.astype(int), pred)
    return cm


def plot_confusion(cm: np.ndarray, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(5):
        for j in range(5):
            ax.text(
                j,
                i,
                f"{share[i, j]:.0%}\n{cm[i, j]}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set(
        xticks=range(5),
        yticks=range(5),
        xticklabels=STAGES,
        yticklabels=STAGES,
        xlabel="predicted by the SHHS network",
        ylabel="simulated as",
        title=title,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_psd(path: Path, seed: int = 0) -> None:
    """Welch PSD per stage of C4 of one simulated 8-h night, log scale, AASM bands shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import welch

    night = simulate_night(seed=seed, artefacts=False)  # drawn from the stage model
    rec = night.recording
    x = rec.data[1].reshape(len(night.stages), -1)
    freqs, psd = welch(x, rec.sfreq, nperseg=int(4 * rec.sfreq), axis=-1)
    bands = {"delta": (0.5, 4), "theta": (4, 8), "alpha": (8, 12), "sigma": (12, 16), "beta": (16, 30)}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    shades = ("#dbe9f6", "#e5f5e0", "#fdeadb", "#efe3f3", "#f2f2f2")
    for (band, (lo, hi)), shade in zip(bands.items(), shades):
        ax.axvspan(lo, hi, color=shade, zorder=0)
        ax.text((lo + hi) / 2, 0.97, band, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8)
    for code, stage in enumerate(STAGES):
        if np.any(night.stages == code):
            ax.semilogy(freqs, psd[night.stages == code].mean(0), label=f"{stage} ({np.sum(night.stages == code)})")
    ax.set(
        xlim=(0.3, 35),
        xlabel="frequency (Hz)",
        ylabel="PSD (µV²/Hz)",
        title=f"Simulated night (seed {seed}), EEG C4-A1, Welch 4 s, mean per stage",
    )
    ax.legend(title="stage (epochs)", loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--source", choices=list(SOURCES), default="sleep-edf-20")
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    nights = simulated_epochs(args.nights, args.seed, args.source)
    n = sum(len(s) for _, s in nights)
    print(
        f"simulated {len(nights)} nights driven by {args.source} hypnograms (wake trimmed to 30 min), "
        f"{n} epochs, in {time.perf_counter() - start:.1f} s"
    )
    for i, name in enumerate(args.models):
        cm = score(nights, name)
        report(name, cm)
        if i == 0 and not args.no_figures:
            plot_confusion(
                cm, f"{name}: {np.trace(cm) / cm.sum():.1%} agreement", ROOT / "docs" / "realism_confusion.png"
            )
    if not args.no_figures:
        plot_psd(ROOT / "docs" / "simulated_psd.png", args.seed)
        print(f"\nwrote {ROOT / 'docs' / 'realism_confusion.png'} and {ROOT / 'docs' / 'simulated_psd.png'}")


if __name__ == "__main__":
    keep_freed_memory()
    main()
