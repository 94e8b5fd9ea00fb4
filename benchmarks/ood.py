"""Out-of-domain score on the domain-shift suite: does ``ood_score`` separate in-domain from shifted nights?

For each model, simulated nights of every lab profile (``stqs simulate --list-profiles``; night ``i`` of every
profile on seed ``1000 + i``, so a profile's cost is measured on the same underlying nights) are scored without
adaptation: Cohen's kappa and :func:`stqs_core.adapt.ood_score`. Beside it, the score shipped before (``kl``: the
Kullback-Leibler divergence of every batch norm's recording statistics from the stored ones, averaged over
layers, ``d / (1 + d)``), for comparison. Reported per model:

- the AUROC separating the in-domain nights (``--in-domain`` of them, seeds ``1000...``) from each profile's
  nights, and overall from the nights of the profiles that cost the model at least 0.1 of kappa (``costly``),
  at least 0.05 (``cost>=0.05``), and from every shifted night (``all``, which includes profiles that change
  nothing the network sees: channel names, units, mains that the preprocessing filters out, the scorer);
- the in-domain nights' scores on calibration seeds (``2000...``, not evaluated), from which
  :data:`stqs_core.adapt.OOD_WARN` is set;
- the seconds ``ood_score`` adds to scoring an ``--timing-hours`` night (the probabilities given).

The suite's in-domain nights are the simulator's default: the training domain of the shipped simulated models,
but not of the published SHHS models, for which every simulated night is out of domain.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/ood.py [--seeds 2] [--in-domain 8] [--hours 1]
        [--models shhs-oversampling-cnn,stqs-cnn-oversampling-sim] [--checkpoints DIR] [--out table.csv]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from stqs_core.adapt import OOD_WARN, adapt_model, ood_score
from stqs_core.allocator import keep_freed_memory
from stqs_core.checkpoint import load_model
from stqs_core.metrics import agreement
from stqs_core.model import STQS
from stqs_core.scoring import recording_epochs
from stqs_core.simulate import PROFILES, simulate_night

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT.parent / "shared" / "reference" / "stqs_shhs_checkpoints"
PUBLISHED = {"shhs-oversampling-cnn": "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar"}
SEED, CALIBRATION_SEED = 1000, 2000


def kl_score(model: STQS, epochs: np.ndarray, max_epochs: int = 240) -> float:
    """The out-of-domain score shipped before: KL divergence of every batch norm's recording Gaussian from the
    stored one, averaged over channels then layers, ``d / (1 + d)``."""
    if len(epochs) > max_epochs:
        epochs = epochs[np.linspace(0, len(epochs) - 1, max_epochs).round().astype(int)]
    adapted = adapt_model(model, epochs, "adabn")
    norms = [(a, b) for a, b in zip(model.modules(), adapted.modules()) if isinstance(a, torch.nn.BatchNorm1d)]
    per_layer = []
    for ref, rec in norms:
        v0, v = ref.running_var.double() + ref.eps, rec.running_var.double() + rec.eps
        dm = rec.running_mean.double() - ref.running_mean.double()
        per_layer.append(float((0.5 * (v / v0 + dm**2 / v0 - 1 - torch.log(v / v0))).mean()))
    d = float(np.mean(per_layer))
    return d / (1 + d)


def nights(profiles: list[str], seeds: int, in_domain: int, calibration: int) -> list[tuple[str, int, str]]:
    """(profile, seed, role) of every night: ``eval`` nights of each profile, extra in-domain ones, calibration."""
    jobs = [(p, SEED + i, "eval") for p in profiles for i in range(seeds if p != "in-domain" else in_domain)]
    return jobs + [("in-domain", CALIBRATION_SEED + i, "calibration") for i in range(calibration)]


def run(models: dict[str, STQS], jobs: list[tuple[str, int, str]], hours: float) -> pd.DataFrame:
    """One row per night and model: kappa (no adaptation), ``ood_score``, the previous score ``kl``."""
    from tqdm.auto import tqdm

    rows = []
    for profile, seed, role in tqdm(jobs, desc="nights", unit="night"):
        night = simulate_night(hours=hours, seed=seed, profile=profile, name=f"{profile}-{seed}")
        epochs = recording_epochs(night.recording)[0].data
        for label, model in models.items():
            proba = model.predict_proba(epochs)
            rows.append(
                {
                    "model": label,
                    "profile": profile,
                    "seed": seed,
                    "role": role,
                    "kappa": agreement(night.stages[: len(epochs)], proba.argmax(1))["kappa"],
                    "ood_score": ood_score(model, epochs, proba),
                    "kl": kl_score(model, epochs),
                }
            )
    return pd.DataFrame(rows)


def auroc(table: pd.DataFrame, seeds: int, scores=("ood_score", "kl")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model and profile: kappa cost and the AUROC of each score (in-domain vs the profile's nights); per
    model: the AUROC against the costly, the cost >= 0.05 and all shifted nights."""
    per_profile, overall = [], []
    ev = table[table.role == "eval"]
    for model, part in ev.groupby("model", sort=False):
        inside = part[part.profile == "in-domain"]
        base = inside[inside.seed < SEED + seeds].kappa.mean()  # the same seeds as every profile's nights
        cost = base - part.groupby("profile", sort=False).kappa.mean()

        def auc(out: pd.DataFrame, score: str, inside: pd.DataFrame = inside) -> float:
            if out.empty:
                return float("nan")
            return roc_auc_score([0] * len(inside) + [1] * len(out), [*inside[score], *out[score]])

        for profile in cost.index.drop("in-domain"):
            out = part[part.profile == profile]
            per_profile.append(
                {"model": model, "profile": profile, "kappa_cost": round(cost[profile], 3)}
                | {f"auroc_{s}": round(auc(out, s), 2) for s in scores}
                | {f"mean_{s}": round(out[s].mean(), 3) for s in scores}
            )
        shifted = part[part.profile != "in-domain"]
        for name, out in (
            ("costly (>= 0.1)", shifted[shifted.profile.map(cost) >= 0.1]),
            ("cost >= 0.05", shifted[shifted.profile.map(cost) >= 0.05]),
            ("all shifted", shifted),
        ):
            overall.append(
                {"model": model, "nights": name, "n": len(out)} | {f"auroc_{s}": round(auc(out, s), 3) for s in scores}
            )
        per_profile.append(
            {"model": model, "profile": "in-domain", "kappa_cost": 0.0}
            | {f"mean_{s}": round(inside[s].mean(), 3) for s in scores}
        )
    return pd.DataFrame(per_profile), pd.DataFrame(overall)


def timing(model: STQS, hours: float) -> tuple[float, float]:
    """Wall and CPU seconds :func:`ood_score` takes on a ``hours`` in-domain night, the probabilities given (what
    it adds to scoring)."""
    epochs = recording_epochs(simulate_night(hours=hours, seed=CALIBRATION_SEED - 1).recording)[0].data
    proba = model.predict_proba(epochs)
    wall, cpu = time.perf_counter(), time.process_time()
    ood_score(model, epochs, proba)
    return round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="nights per shifted profile (default 2)")
    parser.add_argument("--in-domain", type=int, default=8, help="in-domain nights evaluated (default 8)")
    parser.add_argument("--calibration", type=int, default=4, help="in-domain calibration nights (default 4)")
    parser.add_argument("--hours", type=float, default=1.0, help="hours per night (default 1)")
    parser.add_argument("--profiles", help="comma-separated profiles (default all; in-domain is always added)")
    parser.add_argument(
        "--models", default="shhs-oversampling-cnn,stqs-cnn-oversampling-sim", help="published labels or shipped names"
    )
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, help="folder of the published .tar files")
    parser.add_argument("--timing-hours", type=float, default=8.0, help="night length for the timing (0: skip)")
    parser.add_argument("--out", type=Path, help="also write the per-night table here (.csv)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(1)
    profiles = list(PROFILES) if not args.profiles else ["in-domain", *args.profiles.split(",")]
    models = {m: load_model(args.checkpoints / PUBLISHED[m] if m in PUBLISHED else m) for m in args.models.split(",")}
    start = time.perf_counter()
    table = run(models, nights(list(dict.fromkeys(profiles)), args.seeds, args.in_domain, args.calibration), args.hours)
    if args.out:
        table.to_csv(args.out, index=False)
    per_profile, overall = auroc(table, args.seeds)
    print(
        f"{args.seeds} nights of {args.hours:g} h per profile, {args.in_domain} in-domain nights, "
        f"{time.perf_counter() - start:.0f} s\n"
    )
    print("### per profile: kappa cost, AUROC in-domain vs the profile, mean score\n")
    print(per_profile.to_markdown(index=False))
    print("\n### overall AUROC, in-domain vs\n")
    print(overall.to_markdown(index=False))
    calibration = table[table.role == "calibration"]
    print(f"\n### in-domain calibration nights (seeds {CALIBRATION_SEED}...): ood_score; OOD_WARN = {OOD_WARN}\n")
    print(calibration.groupby("model", sort=False).ood_score.describe()[["min", "mean", "max"]].round(3).to_markdown())
    if args.timing_hours:
        seconds = {label: timing(model, args.timing_hours) for label, model in models.items()}
        print(f"\nseconds (wall, CPU) ood_score adds to scoring a {args.timing_hours:g}-h night: {seconds}")


if __name__ == "__main__":
    keep_freed_memory()
    main()
