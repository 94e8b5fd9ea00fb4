"""Few-label adaptation on a domain-shifted simulated lab: kappa before and after ``stqs finetune`` on 1/2/4 nights.

    python benchmarks/finetune_curve.py [--out runs/finetune_curve] [--nights-in-lab 8] [--hours 2]
        [--shift lab] [--models shhs=PATH stqs-cnnlstm-sim ...] [--freeze cnn none] [--draws 2]
        [--threads 2]

Simulates a lab whose nights differ from the training data (``--shift``, applied to the simulated signals before
preprocessing; the lab profiles of the simulator will replace these): ``frontal-50hz`` records at 50 Hz (nothing
above 25 Hz: the EMG band is cut in half) and gives one frontal derivation, which picks up the eyes (C3 + 1.5 x
E1), for both EEG rows; ``noisy`` adds 20 µV rms white electrode noise to every EEG/EOG row; ``lab`` is both, with
a chin EMG of a fifth of the amplitude (a poor placement). Then runs
:func:`stqs_core.finetune.learning_curve` per model and freeze mode on the same test nights and writes
``<out>/<model>-<freeze>/curve.{csv,md,png}`` and ``<out>/summary.md`` (kappa per night count, runtime).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.signal
import torch

from stqs_core import EpochStore, make_epochs
from stqs_core.allocator import keep_freed_memory
from stqs_core.finetune import learning_curve, summarise_curve
from stqs_core.simulate import simulate_night

SHHS = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "stqs_shhs_checkpoints"
SHIFTS = ("none", "frontal-50hz", "noisy", "lab")


def simulate_lab(path: Path, n_nights: int, hours: float, shift: str, seed: int = 7) -> Path:
    """An epoch store of ``n_nights`` simulated nights of ``hours`` with ``shift`` applied (module docstring)."""
    done = set()
    if path.is_file():  # read-only: runs can share a complete store
        with EpochStore(path) as store:
            done = set(store.recordings)
    todo = [i for i in range(n_nights) if f"lab-{i:02d}" not in done]
    if not todo:
        return path
    with EpochStore(path, "a") as store:
        for i in todo:
            name = f"lab-{i:02d}"
            night = simulate_night(hours=hours, seed=seed * 1000 + i, sfreq=100, name=name)
            rec = night.recording
            data, sfreq = rec.data.astype(np.float64), rec.sfreq
            if shift in ("noisy", "lab"):
                data[:4] += np.random.default_rng(seed + i).normal(0, 20.0, data[:4].shape)
            if shift == "lab":
                data[4] *= 0.2
            if shift in ("frontal-50hz", "lab"):
                data[0] = data[1] = data[0] + 1.5 * data[2]
                data, sfreq = scipy.signal.decimate(data, 2, axis=-1, zero_phase=True), sfreq / 2
            store.append(name, make_epochs(data, sfreq, rec.channel_names).data, night.stages, rec.channel_names)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/finetune_curve"))
    parser.add_argument("--nights-in-lab", type=int, default=8)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--shift", choices=SHIFTS, default="lab")
    parser.add_argument(
        "--models",
        nargs="+",
        default=[
            f"shhs-oversampling-cnn={SHHS / 'model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar'}",
            "stqs-cnnlstm-sim",
        ],
        help="models as LABEL=PATH_OR_NAME or NAME",
    )
    parser.add_argument("--freeze", nargs="+", default=["cnn", "none"])
    parser.add_argument("--curve-nights", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--human-reference", type=Path, default=SHHS.parents[1] / "data" / "hypnograms" / "dod-h")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    lab = simulate_lab(args.out / f"lab-{args.shift}.h5", args.nights_in_lab, args.hours, args.shift)
    print(f"simulated {args.nights_in_lab} x {args.hours} h nights ({args.shift}) in {time.perf_counter() - tic:.0f} s")
    lines = [
        f"Lab: {args.nights_in_lab} simulated {args.hours:g}-h nights, shift {args.shift}; kappa on the same "
        "held-out test nights (mean over draws), fine-tuning seconds per model in brackets.",
        "",
        "| model | freeze | " + " | ".join(f"{n} nights" for n in args.curve_nights) + " |",
        "|---|---|" + "---|" * len(args.curve_nights),
    ]
    for spec in args.models:
        label, _, model = spec.rpartition("=")
        label = label or model
        for freeze in args.freeze:
            tic = time.perf_counter()
            rows = learning_curve(
                model,
                lab,
                args.out / f"{label}-{freeze}",
                nights=tuple(args.curve_nights),
                draws=args.draws,
                freeze=freeze,
                epochs=args.epochs,
                patience=args.patience,
                human_reference=args.human_reference,
                progress=False,
            )
            summary = summarise_curve(pd.DataFrame(rows)).set_index("nights")
            cells = [
                f"{summary.kappa[n]:.3f} ({summary.seconds[n]:.0f} s)" if n in summary.index else "-"
                for n in args.curve_nights
            ]
            lines.append(f"| {label} | {freeze} | " + " | ".join(cells) + " |")
            print(lines[-1], f"[{time.perf_counter() - tic:.0f} s]", flush=True)
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    keep_freed_memory()
    main()
