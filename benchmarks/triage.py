"""Does evidence triage flag the epochs whose rule evidence is gone? And does a cohort's odd night stand out?

1. Removal check. Simulated nights in which half the N2 epochs lose their spindles and K-complexes and half the N3
   epochs have their slow waves, K-complexes and delta shrunk (``simulate_night(remove_evidence=...)``; the rest of
   each night is the same night, sample for sample). Per model: the flag rate of
   :func:`~stqs_core.interpret.triage.evidence_triage` on the stripped N2 and N3 epochs against the untouched ones
   (and how many stripped N3 epochs the model still calls N3: without slow waves the AASM stage is no longer N3).
2. Cohort: reliance profiles (mean drop per band x modality) of in-domain nights and of nights from other lab
   profiles (a Cz reference that cancels spindles and K-complexes, a 15-Hz low-pass, volts for µV ...): which
   nights :func:`~stqs_core.cohort.reliance_outliers` flags.
3. Seconds for an 8-hour night: triage alone (15 rescored nights) and with the key seconds of the flagged epochs.

Run: ``python benchmarks/triage.py [--nights 3 --hours 2 --timing-hours 8 --out runs/triage]`` (a few minutes on
2 cores). Published SHHS checkpoints are used where ../shared is present; the shipped models always.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stqs_core import load_model
from stqs_core.allocator import keep_freed_memory
from stqs_core.cohort import RELIANCE_COLUMNS, reliance_outliers
from stqs_core.constants import STAGES
from stqs_core.interpret.triage import evidence_triage
from stqs_core.scoring import recording_epochs
from stqs_core.simulate import simulate_night

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT.parent / "shared" / "reference" / "stqs_shhs_checkpoints"
PUBLISHED = {"shhs oversampling_cnn": "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar"}
SHIPPED = ("stqs-cnn-oversampling-sim", "stqs-cnnlstm-sim")
ODD_PROFILES = ("montage-cz-ref", "lowpass-15hz", "montage-c3-fp1", "emg-low-tone", "age-older")
N2, N3 = STAGES.index("N2"), STAGES.index("N3")


def models() -> dict:
    found = {name: load_model(CHECKPOINTS / file) for name, file in PUBLISHED.items() if (CHECKPOINTS / file).is_file()}
    return {**found, **{name: load_model(name) for name in SHIPPED}}


def removal_rows(all_models: dict, nights: int, hours: float, seed: int) -> pd.DataFrame:
    """One row per (model, night, epoch): true stage, removed, predicted stage, flagged."""
    rows = []
    for i in range(nights):
        stages = simulate_night(hours=hours, seed=seed + i).stages
        rng = np.random.default_rng(seed + i)
        removed = np.sort(
            np.concatenate([rng.permutation(np.flatnonzero(stages == s))[: np.sum(stages == s) // 2] for s in (N2, N3)])
        )
        epochs, _ = recording_epochs(simulate_night(hours=hours, seed=seed + i, remove_evidence=removed).recording)
        mask = np.isin(np.arange(len(stages)), removed)
        for name, model in all_models.items():
            table = evidence_triage(model, epochs.data, seconds="none").per_epoch
            rows.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "night": i,
                        "true": stages,
                        "removed": mask,
                        "pred": table.stage,
                        "flag": ~table.rule_ok,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def removal_table(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for name, g in rows.groupby("model", sort=False):
        n2, n3 = g[g.removed & (g.true == N2)], g[g.removed & (g.true == N3)]
        rest = g[~g.removed & (g.true >= 0)]
        still_n3 = n3[n3.pred == N3]
        out.append(
            {
                "model": name,
                "stripped N2: flagged": f"{n2.flag.mean():.2f} (n={len(n2)})",
                "stripped N3: flagged": f"{n3.flag.mean():.2f} (n={len(n3)})",
                "stripped N3: still N3": f"{len(still_n3) / max(len(n3), 1):.2f}",
                "untouched N2: flagged": f"{rest[rest.true == N2].flag.mean():.2f}",
                "untouched N3: flagged": f"{rest[rest.true == N3].flag.mean():.2f}",
                "all untouched: flagged": f"{rest.flag.mean():.3f} (n={len(rest)})",
                "untouched by predicted stage W/N1/N2/N3/REM": "/".join(
                    f"{rest[rest.pred == s].flag.mean():.2f}" if (rest.pred == s).any() else "-" for s in range(5)
                ),
            }
        )
    return pd.DataFrame(out)


def cohort_table(all_models: dict, in_domain: int, hours: float, seed: int) -> pd.DataFrame:
    """Reliance outliers among ``in_domain`` in-domain nights and one night of each odd profile, per model."""
    nights = [("in-domain", seed + 50 + i) for i in range(in_domain)] + [(p, seed + 90) for p in ODD_PROFILES]
    epochs = [recording_epochs(simulate_night(hours=hours, seed=s, profile=p).recording)[0].data for p, s in nights]
    out = []
    for name, model in all_models.items():
        rows = []
        for (profile, s), x in zip(nights, epochs):
            result = evidence_triage(model, x, seconds="none")
            profile_values = dict(zip(RELIANCE_COLUMNS, result.reliance().to_numpy().ravel()))
            rows.append(
                {"profile": profile, "seed": s, "flagged_share": result.summary()["flagged_share"], **profile_values}
            )
        marked = reliance_outliers(rows)
        for row in marked:
            out.append(
                {
                    "model": name,
                    "night": f"{row['profile']} (seed {row['seed']})",
                    "flagged share": row["flagged_share"],
                    "distance": row["reliance_distance"],
                    "robust z": row["reliance_z"],
                    "outlier": "yes" if row["reliance_outlier"] else "",
                }
            )
    return pd.DataFrame(out)


def timing(model, hours: float, seed: int) -> dict:
    epochs, _ = recording_epochs(simulate_night(hours=hours, seed=seed).recording)
    model.predict_proba(epochs.data[:64])  # warm-up
    start = time.perf_counter()
    plain = evidence_triage(model, epochs.data, seconds="none")
    alone = time.perf_counter() - start
    start = time.perf_counter()
    full = evidence_triage(model, epochs.data, occlusion=None)
    with_seconds = time.perf_counter() - start
    return {
        "epochs": len(epochs.data),
        "triage s": round(alone, 1),
        "with key seconds s": round(with_seconds, 1),
        "flagged": int((~plain.per_epoch.rule_ok).sum()),
        "key-second method": full.method or "-",
        "torch threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--cohort-nights", type=int, default=8, help="in-domain nights of the cohort check")
    parser.add_argument("--cohort-hours", type=float, default=1.0)
    parser.add_argument("--timing-hours", type=float, default=8.0, help="0 skips the timing")
    parser.add_argument("--seed", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "triage")
    parser.add_argument("--parts", default="removal,cohort,timing", help="comma-separated parts to run")
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    all_models = models()
    parts = set(args.parts.split(","))
    if "removal" in parts:
        rows = removal_rows(all_models, args.nights, args.hours, args.seed)
        rows.to_csv(args.out / "removal_epochs.csv", index=False)
        print(removal_table(rows).to_markdown(index=False))
    if "cohort" in parts:
        cohort = cohort_table(all_models, args.cohort_nights, args.cohort_hours, args.seed)
        cohort.to_csv(args.out / "cohort.csv", index=False)
        print(cohort.to_markdown(index=False))
    if "timing" in parts and args.timing_hours > 0:
        name = next(iter(all_models))
        times = pd.DataFrame([{"model": name, **timing(all_models[name], args.timing_hours, args.seed)}])
        print(times.to_markdown(index=False))


if __name__ == "__main__":
    main()
