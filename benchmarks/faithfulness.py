"""Do explanations point at the waves that define a stage? Attribution methods against the simulator's events.

For simulated nights (every spindle, K-complex, slow wave, eye movement... known to the sample), each model and
each attribution method of :mod:`stqs_core.interpret.attribution`:

- event AUROC: per-sample importance inside vs outside the events that define the epoch's stage (AASM: alpha in W,
  vertex waves in N1, spindles and K-complexes in N2, slow waves in N3, rapid eye movements and sawtooth waves in
  REM), on epochs the model scores as their true stage and that hold such an event; mean over epochs;
- energy share: share of the positive importance that falls inside those events (``event time`` gives the share of
  time they cover: a method that ignores events scores about that);
- deletion: mean probability of the stage while its most-attributed seconds are removed (area under the deletion
  curve, lower is more faithful) against removing seconds in random order, per stage;
- seconds per explained epoch.

Run: ``python benchmarks/faithfulness.py [--nights 2 --hours 2 --per-stage 8 --out runs/faithfulness]``.
Published SHHS checkpoints are used where ../shared is present; the shipped models always.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from stqs_core import load_model
from stqs_core.allocator import keep_freed_memory
from stqs_core.constants import STAGES
from stqs_core.interpret.attribution import METHODS, attribute, deletion_curve, event_mask
from stqs_core.scoring import recording_epochs
from stqs_core.simulate import simulate_night

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT.parent / "shared" / "reference" / "stqs_shhs_checkpoints"
PUBLISHED = {
    "shhs oversampling_cnn": "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar",
    "shhs oversampling_cnnlstm": "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info.tar",
}
SHIPPED = ("stqs-cnn-oversampling-sim", "stqs-cnnlstm-sim")
EVIDENCE = {
    "W": ["alpha"],
    "N1": ["vertex_wave"],
    "N2": ["spindle", "k_complex"],
    "N3": ["slow_wave"],
    "REM": ["rem", "sawtooth"],
}
"""The events an AASM rule names for each stage (simulator event types)."""


def models() -> dict:
    found = {name: load_model(CHECKPOINTS / file) for name, file in PUBLISHED.items() if (CHECKPOINTS / file).is_file()}
    return {**found, **{name: load_model(name) for name in SHIPPED}}


def chosen_epochs(night, pred, stage: int, kinds, per_stage: int, rng) -> list[int]:
    ev = night.events
    with_events = set(ev.epoch[ev.type.isin(kinds)])
    idx = [i for i in np.flatnonzero((night.stages == stage) & (pred == stage)) if i in with_events]
    return sorted(rng.choice(idx, min(per_stage, len(idx)), replace=False).tolist()) if idx else []


def measure(model, night, x, pred, per_stage: int, seed: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(seed)
    picks = {
        stage: chosen_epochs(night, pred, STAGES.index(stage), kinds, per_stage, rng)
        for stage, kinds in EVIDENCE.items()
    }
    for method in METHODS:
        for stage, kinds in EVIDENCE.items():
            idx = picks[stage]
            if not idx:
                continue
            start = time.perf_counter()
            attribution = attribute(model, x, idx, method, seed=seed)
            seconds = (time.perf_counter() - start) / len(idx)
            deletion = deletion_curve(model, x, attribution).mean(1)
            random = deletion_curve(model, x, attribution, order="random", seed=seed).mean(1)
            for kind in [*kinds, "+".join(kinds)] if len(kinds) > 1 else kinds:
                mask = event_mask(night.events, idx, kind.split("+"))
                for i, epoch in enumerate(idx):
                    if not mask[i].any() or mask[i].all():
                        continue
                    imp = attribution.importance[i]
                    positive = np.clip(imp, 0, None)
                    rows.append(
                        {
                            "method": method,
                            "stage": stage,
                            "event": kind,
                            "epoch": epoch,
                            "auroc": roc_auc_score(mask[i], imp),
                            "event_time": mask[i].mean(),
                            "energy_share": positive[mask[i]].sum() / positive.sum() if positive.sum() else np.nan,
                            "deletion": deletion[i],
                            "deletion_random": random[i],
                            "seconds": seconds,
                        }
                    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=2)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--per-stage", type=int, default=8, help="explained epochs per stage and night")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "faithfulness")
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    rows = []
    nets = models()
    start = time.perf_counter()
    for seed in range(args.nights):
        night = simulate_night(hours=args.hours, seed=100 + seed)
        x = recording_epochs(night.recording)[0].data
        for name, model in nets.items():
            pred = model.predict_proba(x).argmax(1)
            rows += [{"model": name, "night": seed, **r} for r in measure(model, night, x, pred, args.per_stage, seed)]
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "faithfulness_epochs.csv", index=False)
    summary = (
        table.groupby(["model", "method", "stage", "event"], sort=False)
        .agg(
            epochs=("auroc", "size"),
            auroc=("auroc", "mean"),
            energy_share=("energy_share", "mean"),
            event_time=("event_time", "mean"),
            deletion=("deletion", "mean"),
            deletion_random=("deletion_random", "mean"),
            seconds=("seconds", "mean"),
        )
        .round(3)
        .reset_index()
    )
    summary.to_csv(args.out / "faithfulness.csv", index=False)
    (args.out / "faithfulness.md").write_text(summary.to_markdown(index=False))
    print(summary.to_markdown(index=False))
    print(f"\n{len(table)} epoch x event rows in {time.perf_counter() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
