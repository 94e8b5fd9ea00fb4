"""Label-free adaptation methods and the out-of-domain score on simulated nights shifted as another lab's would be.

For each shifted simulated night and model: Cohen's kappa without adaptation and with each method of
:mod:`stqs_core.adapt`, and the out-of-domain score. The AUROC of ``ood_score`` separating unshifted from shifted
nights is measured with the simulated-data models, whose training domain the unshifted nights are; the published
SHHS models never saw a simulated night, so for them every night here is shifted. The shifts live here, not in
the library:

- ``frontal``: an Fpz-Cz-like EEG (the central EEG mixed with the left eye channel, which a frontal electrode
  picks up);
- ``50hz``: recorded at 50 Hz (nothing above 25 Hz; resampled to 125 Hz by the scorer);
- ``amplifier``: another amplifier's causal filters (high-pass 0.7 Hz order 1, low-pass 20 Hz order 2);
- ``noise``: white electrode noise (20 µV rms on EEG/EOG, 3 µV on EMG);
- ``eeg-half``: EEG amplitude halved under the same electrode noise (a pure gain would cancel in the z-score);
- ``emg-low``: chin EMG at a quarter of its tone over a 1 µV noise floor;
- ``lab``: frontal + 50 Hz + noise together.

Then the out-of-domain score of one night under rising electrode noise (0-40 µV). Measured figures: README,
"Adapting to your lab".

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/adapt_methods.py [--nights 2] [--hours 1.5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.signal import butter, resample_poly, sosfilt
from sklearn.metrics import roc_auc_score

from stqs_core import load_model
from stqs_core.adapt import METHODS, adapt_model, ood_score
from stqs_core.allocator import keep_freed_memory
from stqs_core.metrics import agreement
from stqs_core.preprocess import make_epochs
from stqs_core.simulate import simulate_night

ROOT = Path(__file__).resolve().parents[1]
SHHS = {
    "shhs-oversampling-cnn": "oversampling_cnn",
    "shhs-oversampling-cnnlstm": "oversampling_cnnlstm_ReturnAllChunk_seq_info",
}
SIM = {"sim-cnn": "stqs-cnn-oversampling-sim", "sim-cnnlstm": "stqs-cnnlstm-sim"}
SHIFTS = ("none", "frontal", "50hz", "amplifier", "noise", "eeg-half", "emg-low", "lab")


def shift(data: np.ndarray, sfreq: float, kind: str, seed: int = 0, noise_uv: float = 20.0) -> tuple[np.ndarray, float]:
    """``data`` ``(5, n)`` µV at ``sfreq`` as another lab would record it; returns the data and its rate (Hz)."""
    rng = np.random.default_rng(seed)
    x = np.array(data, dtype=np.float64)
    if kind in ("frontal", "lab"):
        x[:2] = 0.6 * x[:2] + 0.6 * x[2]
    if kind in ("noise", "eeg-half", "lab"):
        if kind == "eeg-half":
            x[:2] *= 0.5
        x += rng.standard_normal(x.shape) * noise_uv * np.array([[1], [1], [1], [1], [0.15]])
    if kind == "amplifier":
        x = sosfilt(butter(1, 0.7, "highpass", fs=sfreq, output="sos"), x, axis=1)
        x = sosfilt(butter(2, 20, "lowpass", fs=sfreq, output="sos"), x, axis=1)
    if kind == "emg-low":
        x[4] = 0.25 * x[4] + rng.standard_normal(x.shape[1])
    if kind in ("50hz", "lab"):
        x, sfreq = resample_poly(x, 50, int(sfreq), axis=1), 50.0
    return x.astype(np.float32), sfreq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=2, help="simulated nights per shift (default 2)")
    parser.add_argument("--hours", type=float, default=1.5, help="hours per night (default 1.5)")
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=ROOT.parent / "shared/reference/stqs_shhs_checkpoints",
        help="folder of the published SHHS checkpoints (skipped if absent)",
    )
    parser.add_argument("--out", type=Path, help="also write the per-night table here (.csv)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = {k: args.checkpoints / f"model2d_shhs1_4692_5213_allCh_{v}.tar" for k, v in SHHS.items()}
    models = {k: load_model(p) for k, p in paths.items() if p.is_file()} | {k: load_model(v) for k, v in SIM.items()}
    rows = []
    for seed in range(args.nights):
        rec = simulate_night(hours=args.hours, seed=100 + seed).recording
        for kind in SHIFTS:
            data, sfreq = (rec.data, rec.sfreq) if kind == "none" else shift(rec.data, rec.sfreq, kind, seed)
            x = make_epochs(data, sfreq).data
            true = rec.hypnogram[: len(x)]
            for name, model in models.items():
                proba = model.predict_proba(x)
                row = {
                    "seed": seed,
                    "shift": kind,
                    "model": name,
                    "none": agreement(true, proba.argmax(1))["kappa"],
                    "ood_score": ood_score(model, x),
                    "mean_confidence": float(proba.max(1).mean()),
                }
                for method in METHODS:
                    start = time.perf_counter()
                    adapted = adapt_model(model, x, method)
                    row[f"s_{method}"] = time.perf_counter() - start
                    row[method] = agreement(true, adapted.predict_proba(x).argmax(1))["kappa"]
                rows.append(row)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    kappa = ["none", *METHODS]
    print(f"Cohen's kappa, mean of {args.nights} simulated nights of {args.hours:g} h per shift:")
    print(table.groupby(["model", "shift"], sort=False)[kappa].mean().round(2).to_string())
    print("\nmean over shifts (excluding 'none'):")
    shifted = table[table["shift"] != "none"]
    print(shifted.groupby("model", sort=False)[kappa].mean().round(3).to_string())
    print("\nseconds per adaptation of one night:", table[[f"s_{m}" for m in METHODS]].mean().round(2).to_dict())
    print("\nood_score and mean confidence (unadapted) per model and shift:")
    print(
        table.pivot_table(index="shift", columns="model", values=["ood_score", "mean_confidence"], sort=False)
        .round(3)
        .to_string()
    )
    auroc = {}
    for name, part in table.groupby("model", sort=False):
        shifted = part["shift"] != "none"
        auroc[name] = {
            kind: roc_auc_score(
                shifted[part["shift"].isin(["none", kind])], part["ood_score"][part["shift"].isin(["none", kind])]
            )
            for kind in SHIFTS[1:]
        } | {"all": roc_auc_score(shifted, part["ood_score"])}
        # the shifted nights that cost this model more than 0.1 of kappa against the same night unshifted
        base = part[~shifted].set_index("seed")["none"]
        harmful = shifted & (part["seed"].map(base) - part["none"] > 0.1)
        keep = ~shifted | harmful
        auroc[name]["harmful"] = roc_auc_score(harmful[keep], part["ood_score"][keep])
    print(
        "\nAUROC of ood_score, unshifted vs shifted nights, per model ('harmful': the shifted nights whose "
        "kappa fell by > 0.1):"
    )
    print(pd.DataFrame(auroc).T.round(2).to_string())
    rec = simulate_night(hours=args.hours, seed=999).recording
    model = models["sim-cnn"]
    ladder = {}
    for noise in (0, 5, 10, 20, 40):
        data, sfreq = shift(rec.data, rec.sfreq, "noise", noise_uv=noise)
        x = make_epochs(data, sfreq).data
        ladder[noise] = round(ood_score(model, x), 3)
    print("\nsim-cnn ood_score by electrode noise (µV rms):", ladder)


if __name__ == "__main__":
    keep_freed_memory()
    main()
