"""Do explanations point at the waves that define a stage? Attribution methods against the simulator's events.

For simulated nights (every spindle, K-complex, slow wave, eye movement... known to the sample), each model and
each attribution method of :mod:`stqs_core.interpret.attribution`:

- event AUROC: per-sample importance inside vs outside the events that define the epoch's stage (AASM: alpha in W,
  vertex waves in N1, spindles and K-complexes in N2, slow waves in N3, rapid eye movements and sawtooth waves in
  REM), on epochs the model scores as their true stage and that hold such an event; mean over epochs.
  ``auroc``: the importance built from the rows of the modality that carries the event (EEG waves: the two EEG
  rows; eye movements: the two EOG rows), against every other sample of the epoch; ``auroc_bg``: the same
  against background samples only (outside every event any stage's rule names, so a K-complex is not counted
  against a spindle); ``auroc_all_rows``: the importance summed over all five rows, against every other sample;
- energy share: share of the positive importance (event's modality) that falls inside those events (``event
  time`` gives the share of time they cover: a method that ignores events scores about that);
- deletion: mean probability of the stage while its most-attributed seconds (all-row importance) are removed
  (area under the deletion curve, lower is more faithful) against removing seconds in random order, per stage;
- seconds (wall) and CPU seconds per explained epoch (all-row importance; torch on one thread).

Run: ``python benchmarks/faithfulness.py [--nights 2 --hours 2 --per-stage 8 --first-night 100 --out
runs/faithfulness]``. Nights are simulated with seeds ``first-night + i``; the settings of
``band_integrated_gradients`` were chosen on nights 300-302, so keep the reported nights away from those.
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
from stqs_core.interpret import BaselinePass
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
MODALITY = {"rem": "eog"}
"""Modality whose rows carry each event (EEG unless named)."""


def models(names=None) -> dict:
    """The published checkpoints found and the shipped models, or only those named in ``names``."""
    found = {name: CHECKPOINTS / file for name, file in PUBLISHED.items() if (CHECKPOINTS / file).is_file()}
    chosen = {**found, **{name: name for name in SHIPPED}}
    return {name: load_model(source) for name, source in chosen.items() if names is None or name in names}


def chosen_epochs(night, pred, stage: int, kinds, per_stage: int, rng) -> list[int]:
    ev = night.events
    with_events = set(ev.epoch[ev.type.isin(kinds)])
    idx = [i for i in np.flatnonzero((night.stages == stage) & (pred == stage)) if i in with_events]
    return sorted(rng.choice(idx, min(per_stage, len(idx)), replace=False).tolist()) if idx else []


def measure(model, night, x, pred, per_stage: int, seed: int, methods) -> list[dict]:
    rows = []
    rng = np.random.default_rng(seed)
    picks = {
        stage: chosen_epochs(night, pred, STAGES.index(stage), kinds, per_stage, rng)
        for stage, kinds in EVIDENCE.items()
    }
    every_event = [kind for kinds in EVIDENCE.values() for kind in kinds]
    base = BaselinePass(model, x)  # the unoccluded night, once (as the dashboard and notebooks hold it)
    for method in methods:  # untimed warm-up: imports, first backward pass
        attribute(model, x, [0], method, baseline=base)
    for method in methods:
        for stage, kinds in EVIDENCE.items():
            idx = picks[stage]
            if not idx:
                continue
            start, cpu = time.perf_counter(), time.process_time()
            attribution = attribute(model, x, idx, method, seed=seed, baseline=base)
            seconds, cpu = (time.perf_counter() - start) / len(idx), (time.process_time() - cpu) / len(idx)
            by_modality = {
                modality: attribute(model, x, idx, method, seed=seed, modality=modality, baseline=base)
                for modality in {MODALITY.get(kind, "eeg") for kind in kinds}
            }
            deletion = deletion_curve(model, x, attribution, baseline=base).mean(1)
            random = deletion_curve(model, x, attribution, order="random", seed=seed, baseline=base).mean(1)
            for kind in [*kinds, "+".join(kinds)] if len(kinds) > 1 else kinds:
                parts = kind.split("+")
                mask = event_mask(night.events, idx, parts)
                background = ~event_mask(night.events, idx, every_event) | mask
                own = by_modality[MODALITY.get(parts[0], "eeg")]
                for i, epoch in enumerate(idx):
                    if not mask[i].any() or mask[i].all():
                        continue
                    imp = own.importance[i]
                    positive = np.clip(imp, 0, None)
                    rows.append(
                        {
                            "method": method,
                            "stage": stage,
                            "event": kind,
                            "epoch": epoch,
                            "auroc": roc_auc_score(mask[i], imp),
                            "auroc_bg": roc_auc_score(mask[i][background[i]], imp[background[i]]),
                            "auroc_all_rows": roc_auc_score(mask[i], attribution.importance[i]),
                            "event_time": mask[i].mean(),
                            "energy_share": positive[mask[i]].sum() / positive.sum() if positive.sum() else np.nan,
                            "deletion": deletion[i],
                            "deletion_random": random[i],
                            "seconds": seconds,
                            "cpu_seconds": cpu,
                        }
                    )
    return rows


def overview(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per model and method: AUROC per event (event's modality, vs all / vs background), deletion AUC
    against random (mean over stages), stages whose deletion falls faster than random, seconds per epoch."""
    single = summary[~summary.event.str.contains("+", regex=False)]
    per_stage = summary.drop_duplicates(["model", "method", "stage"])
    rows = []
    for (model, method), group in single.groupby(["model", "method"], sort=False):
        stages = per_stage[(per_stage.model == model) & (per_stage.method == method)]
        row = {"model": model, "method": method}
        found = dict(zip(group.event, zip(group.auroc, group.auroc_bg)))
        order = [kind for kinds in EVIDENCE.values() for kind in kinds]
        row.update({event: "{:.2f} / {:.2f}".format(*found[event]) if event in found else "" for event in order})
        row["deletion AUC (random)"] = f"{stages.deletion.mean():.2f} ({stages.deletion_random.mean():.2f})"
        faster = (stages.deletion < stages.deletion_random).sum()
        row["stages faster than random"] = f"{faster}/{len(stages)}"
        row["s/epoch (CPU)"] = f"{stages.seconds.mean():.2f} ({stages.cpu_seconds.mean():.2f})"
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=2)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--per-stage", type=int, default=8, help="explained epochs per stage and night")
    parser.add_argument("--first-night", type=int, default=100, help="seed of the first simulated night")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated attribution methods")
    parser.add_argument("--models", help="comma-separated model names (default: all found)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "faithfulness")
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    rows = []
    nets = models(args.models.split(",") if args.models else None)
    start = time.perf_counter()
    for seed in range(args.nights):
        night = simulate_night(hours=args.hours, seed=args.first_night + seed)
        x = recording_epochs(night.recording)[0].data
        for name, model in nets.items():
            pred = model.predict_proba(x).argmax(1)
            rows += [
                {"model": name, "night": seed, **r}
                for r in measure(model, night, x, pred, args.per_stage, seed, methods)
            ]
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "faithfulness_epochs.csv", index=False)
    summary = (
        table.groupby(["model", "method", "stage", "event"], sort=False)
        .agg(
            epochs=("auroc", "size"),
            auroc=("auroc", "mean"),
            auroc_bg=("auroc_bg", "mean"),
            auroc_all_rows=("auroc_all_rows", "mean"),
            energy_share=("energy_share", "mean"),
            event_time=("event_time", "mean"),
            deletion=("deletion", "mean"),
            deletion_random=("deletion_random", "mean"),
            seconds=("seconds", "mean"),
            cpu_seconds=("cpu_seconds", "mean"),
        )
        .round(3)
        .reset_index()
    )
    summary.to_csv(args.out / "faithfulness.csv", index=False)
    brief = overview(summary).to_markdown(index=False)
    (args.out / "faithfulness.md").write_text(brief + "\n\n" + summary.to_markdown(index=False) + "\n")
    print(brief)
    print(f"\n{len(table)} epoch x event rows in {time.perf_counter() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
