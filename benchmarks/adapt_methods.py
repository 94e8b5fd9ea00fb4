"""Label-free adaptation methods on the domain-shift suite: how much of each lab profile's kappa cost they recover.

For each model, simulated nights of every lab profile (``stqs simulate --list-profiles``; night ``i`` of every
profile on seed ``1000 + i``, so a profile's cost is measured on the same underlying nights) are scored without
adaptation and with each method of :mod:`stqs_core.adapt` (an adapted copy per night), plus two variants tried
here and not shipped: ``adabn-first`` (AdaBN on the batch norms right after the layers that read the signals
only, i.e. matching each channel's spectral shape as the first filter bank sees it to the training data's; the
deeper layers keep their stored statistics) and ``adabn-prior-0.8`` (AdaBN-prior keeping 80% of the stored
statistics). A profile's cost is the in-domain kappa minus the profile's kappa without adaptation; a method's
recovery is its kappa gain on the profile divided by that cost (shown where the cost is at least 0.05).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/adapt_methods.py [--seeds 2] [--hours 1.5]
        [--models shhs-oversampling-cnn,stqs-cnn-oversampling-sim] [--methods adabn,adabn-prior,...]
        [--profiles a,b] [--checkpoints DIR] [--out table.csv]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from stqs_core.adapt import METHODS, adapt_model
from stqs_core.allocator import keep_freed_memory
from stqs_core.checkpoint import load_model
from stqs_core.metrics import agreement
from stqs_core.model import STQS
from stqs_core.scoring import recording_epochs
from stqs_core.simulate import PROFILES, simulate_night

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT.parent / "shared" / "reference" / "stqs_shhs_checkpoints"
PUBLISHED = {
    "shhs-oversampling-cnn": "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar",
    "shhs-oversampling-cnnlstm": "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info.tar",
}
SEED = 1000


def adabn_first(model: STQS, epochs) -> STQS:
    """AdaBN on the batch norms after the signal-reading layers only (spatial mixing, first filter bank)."""
    adapted = adapt_model(model, epochs, "adabn")
    stored = dict(model.named_modules())
    for name, bn in adapted.named_modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm) and not name.endswith(("spatial.1", "temporal1.1")):
            bn.running_mean.copy_(stored[name].running_mean)
            bn.running_var.copy_(stored[name].running_var)
    return adapted


VARIANTS = {
    **{m: lambda model, x, m=m: adapt_model(model, x, m) for m in METHODS},
    "adabn-first": adabn_first,
    "adabn-prior-0.8": lambda model, x: adapt_model(model, x, "adabn-prior", prior=0.8),
}


def run(models: dict[str, STQS], profiles: list[str], methods: list[str], seeds: int, hours: float) -> pd.DataFrame:
    """One row per night and model: kappa without adaptation (``none``) and with each method, and the seconds
    each method took."""
    from tqdm.auto import tqdm

    rows = []
    for profile in tqdm(profiles, desc="profiles", unit="profile"):
        for i in range(seeds):
            night = simulate_night(hours=hours, seed=SEED + i, profile=profile, name=f"{profile}-{i}")
            x = recording_epochs(night.recording)[0].data
            true = night.stages[: len(x)]
            for label, model in models.items():
                row = {"model": label, "profile": profile, "seed": SEED + i}
                row["none"] = agreement(true, model.predict_proba(x).argmax(1))["kappa"]
                for method in methods:
                    start = time.perf_counter()
                    adapted = VARIANTS[method](model, x)
                    row[f"s_{method}"] = time.perf_counter() - start
                    row[method] = agreement(true, adapted.predict_proba(x).argmax(1))["kappa"]
                rows.append(row)
    return pd.DataFrame(rows)


def recovery(table: pd.DataFrame, methods: list[str], min_cost: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model and profile: mean kappa per condition and the profile's cost; and the share of the cost each
    method recovers where the cost is at least ``min_cost``."""
    kappa = table.groupby(["model", "profile"], sort=False)[["none", *methods]].mean()
    cost = kappa["none"].groupby(level="model").transform(lambda k: k.xs("in-domain", level="profile").iloc[0] - k)
    kappa["cost"] = cost
    share = kappa[methods].sub(kappa["none"], axis=0).div(cost, axis=0)[cost >= min_cost]
    return kappa, share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="nights per profile (default 2)")
    parser.add_argument("--hours", type=float, default=1.5, help="hours per night (default 1.5)")
    parser.add_argument("--profiles", help="comma-separated profiles (default all; in-domain is always added)")
    parser.add_argument(
        "--models", default="shhs-oversampling-cnn,stqs-cnn-oversampling-sim", help="published labels or shipped names"
    )
    parser.add_argument("--methods", default=",".join(VARIANTS), help=f"of {list(VARIANTS)}")
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, help="folder of the published .tar files")
    parser.add_argument("--out", type=Path, help="also write the per-night table here (.csv)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    if any(m not in VARIANTS for m in methods):
        parser.error(f"methods must be among {list(VARIANTS)}")
    profiles = list(PROFILES) if not args.profiles else list(dict.fromkeys(["in-domain", *args.profiles.split(",")]))
    models = {m: load_model(args.checkpoints / PUBLISHED[m] if m in PUBLISHED else m) for m in args.models.split(",")}
    start = time.perf_counter()
    table = run(models, profiles, methods, args.seeds, args.hours)
    if args.out:
        table.to_csv(args.out, index=False)
    kappa, share = recovery(table, methods)
    print(f"{args.seeds} nights of {args.hours:g} h per profile, {time.perf_counter() - start:.0f} s\n")
    print("### Cohen's kappa per profile (mean of the nights) and the profile's cost without adaptation\n")
    print(kappa.round(2).to_markdown())
    print("\n### share of the cost recovered (profiles costing >= 0.05)\n")
    print(share.round(2).to_markdown())
    print("\n### mean kappa over all profiles\n")
    print(kappa.drop(columns="cost").groupby(level="model", sort=False).mean().round(3).to_markdown())
    print("\nseconds per adaptation of one night:", table[[f"s_{m}" for m in methods]].mean().round(2).to_dict())


if __name__ == "__main__":
    keep_freed_memory()
    main()
