"""Domain-shift suite: Cohen's kappa and accuracy of each model on simulated nights of each lab profile.

Every profile (``stqs simulate --list-profiles``) is simulated on the same seeds (``--seeds`` nights of ``--hours``
drawn from the stage model), so a profile's cost is measured on the same underlying nights. Each night is scored
through the library's path, :func:`stqs_core.scoring.score_recording` on the simulated Recording (resampling,
filters and channel rows as for a file), or with ``--via edf`` written as EDF and read back by
:func:`stqs_core.scoring.score_file` with the profile's channel names. Kappa and accuracy pool the scored epochs of
a profile's nights. The kappa cost of a profile is the model's in-domain kappa minus its kappa on the profile:
what adaptation has to recover.

Conditions are entries of :data:`CONDITIONS`, ``name -> f(model, profile, nights, score) -> [ScoredNight]``, where
``score(night, model, **kwargs)`` scores one night along the chosen path. Adding one is one entry, e.g.
``"adapt": lambda model, profile, nights, score: [score(n, model, adapt=True) for n in nights]``.
``eeg-only``, ``eeg+eog`` and ``eeg+emg`` score each night as a file with only those modalities would be read
(the model without its other blocks, :func:`stqs_core.model.keep_modalities`).
``finetune-N`` (N = 1, 2, 4) fine-tunes the model with :func:`stqs_core.finetune.finetune` (its defaults: frozen
CNN) on N labelled nights of the same profile simulated on other seeds (:data:`LAB_SEED`; one more night for early
stopping and one for the fine-tuning's own before/after check, all of ``--hours``; kept in ``<out>/labs`` and
reused) and scores the suite's nights with the result.

Run: ``python benchmarks/domain_shift.py --out runs/domain_shift [--seeds 3] [--hours 2] [--profiles a,b]
[--models name,path] [--conditions none,adapt] [--via memory|edf] [--checkpoints DIR] [--threads 1]``.
Writes ``domain_shift.csv`` (one row per condition, profile and model) and ``domain_shift.md`` into ``--out`` and
prints the table; with a ``finetune-N`` condition also the share of each profile's cost it recovers.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stqs_core.allocator import keep_freed_memory
from stqs_core.checkpoint import load_model
from stqs_core.metrics import agreement
from stqs_core.model import STQS
from stqs_core.scoring import ScoredNight, score_file, score_recording
from stqs_core.simulate import PROFILES, SimulatedNight, simulate_night
from stqs_core.simulate.profiles import SEVERITY

logger = logging.getLogger("domain_shift")
ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT.parent / "shared" / "reference" / "stqs_shhs_checkpoints"
PREFIX = "model2d_shhs1_4692_5213_allCh_"
PUBLISHED = {
    "shhs-oversampling-cnn": "oversampling_cnn",
    "shhs-oversampling-cnnlstm": "oversampling_cnnlstm_ReturnAllChunk_seq_info",
    "shhs-cnnlstm": "cnnlstm_ReturnAllChunk_seq_info",
}
SHIPPED = ("stqs-cnn-oversampling-sim", "stqs-cnnlstm-sim", "stqs-cnnlstm-residual-sim")
SEED = 1000
"""Night ``i`` of every profile uses seed ``SEED + i``."""

Scorer = Callable[..., ScoredNight]
Condition = Callable[[STQS, str, list[SimulatedNight], Scorer], list[ScoredNight]]


def no_adaptation(model: STQS, profile: str, nights: list[SimulatedNight], score: Scorer) -> list[ScoredNight]:
    """The model as it is."""
    return [score(night, model) for night in nights]


def adabn(model: STQS, profile: str, nights: list[SimulatedNight], score: Scorer) -> list[ScoredNight]:
    """Label-free: each night scored by a copy of the model adapted to it (``stqs score --adapt``)."""
    return [score(night, model, adapt=True) for night in nights]


LAB_SEED = 5000
"""Base seed of the labs' labelled nights (the finetune conditions): night ``j`` uses
:func:`~stqs_core.simulate.dataset.night_seed` ``(LAB_SEED, j)``."""
FINETUNE_NIGHTS = (1, 2, 4)
LABS = {"folder": None}
"""Where the labs' epoch stores are kept (``<out>/labs``, set by :func:`main`; None: a temporary folder)."""


def lab_store(profile: str, n_nights: int, hours: float) -> Path:
    """An epoch store of ``n_nights`` labelled nights of ``profile`` (base seed :data:`LAB_SEED`), made once."""
    from stqs_core.simulate import simulate_store

    folder = LABS["folder"] or Path(tempfile.gettempdir()) / "stqs-domain-shift-labs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{profile}-{hours:g}h.h5"
    return simulate_store(path, n_nights, hours=hours, seed=LAB_SEED, profile=profile)


def finetuned(n: int) -> Condition:
    """Condition ``finetune-<n>``: fine-tune on ``n`` labelled nights of the profile, then score."""

    def condition(model: STQS, profile: str, nights: list[SimulatedNight], score: Scorer) -> list[ScoredNight]:
        from stqs_core.checkpoint import save_model
        from stqs_core.finetune import finetune

        hours = len(nights[0].stages) * 30 / 3600
        store = lab_store(profile, max(FINETUNE_NIGHTS) + 2, hours)
        with tempfile.TemporaryDirectory() as tmp:
            source = save_model(model, Path(tmp) / "source.pt")
            result = finetune(source, store, Path(tmp) / "tuned.pt", nights=n, test_nights=1, progress=False)
        return [score(night, result.model) for night in nights]

    condition.__doc__ = f"Fine-tuned on {n} labelled night(s) of the profile (frozen CNN), then scored."
    return condition


SUBSETS = {"eeg-only": ("eeg",), "eeg+eog": ("eeg", "eog"), "eeg+emg": ("eeg", "emg")}
"""Conditions scoring a night as a file with only these modalities would read (in memory, whatever ``--via``)."""


def subset(modalities: tuple[str, ...]) -> Condition:
    """Condition: each night reduced to the rows of ``modalities``, scored by the model without its other blocks."""

    def condition(model: STQS, profile: str, nights: list[SimulatedNight], score: Scorer) -> list[ScoredNight]:
        return [score_recording(night.recording.keep(modalities), model) for night in nights]

    condition.__doc__ = f"Only {' + '.join(modalities).upper()}: the model's other blocks absent."
    return condition


CONDITIONS: dict[str, Condition] = {
    "none": no_adaptation,
    "adapt": adabn,
    **{f"finetune-{n}": finetuned(n) for n in FINETUNE_NIGHTS},
    **{name: subset(modalities) for name, modalities in SUBSETS.items()},
}


def score_in_memory(night: SimulatedNight, model: STQS, **kwargs) -> ScoredNight:
    """Score the simulated Recording as it is."""
    return score_recording(night.recording, model, **kwargs)


def score_via_edf(night: SimulatedNight, model: STQS, **kwargs) -> ScoredNight:
    """Write the night as EDF (stages as EDF+ annotations), read it back by channel name and score it."""
    names = night.recording.channel_names
    with tempfile.TemporaryDirectory() as tmp:
        path = night.write_edf(Path(tmp) / f"{night.recording.name}.edf")[0]
        return score_file(
            path,
            model,
            eeg=list(dict.fromkeys(names[:2])),
            eog=list(dict.fromkeys(names[2:4])),
            emg=names[4:],
            **kwargs,
        )


SCORERS = {"memory": score_in_memory, "edf": score_via_edf}


def default_models(checkpoints: Path) -> dict[str, str]:
    """Label -> model path or shipped name: the published SHHS checkpoints present in ``checkpoints`` and the
    shipped simulated models."""
    models = {
        label: str(checkpoints / f"{PREFIX}{stem}.tar")
        for label, stem in PUBLISHED.items()
        if (checkpoints / f"{PREFIX}{stem}.tar").is_file()
    }
    if not models:
        logger.warning("no published checkpoints in %s (give --checkpoints): shipped models only", checkpoints)
    return {**models, **{name: name for name in SHIPPED}}


def run(
    profiles: list[str], models: dict[str, str], conditions: list[str], seeds: int, hours: float, via: str = "memory"
) -> pd.DataFrame:
    """One row per condition, profile and model: kappa and accuracy over the pooled scored epochs of the nights,
    the spread of the nights' own kappas (``kappa_sd``), the kappa cost against in-domain, and the seconds spent
    simulating (per profile) and scoring."""
    from tqdm.auto import tqdm

    loaded = {label: load_model(path) for label, path in models.items()}
    rows = []
    for profile in tqdm(profiles, desc="profiles", unit="profile"):
        start = time.perf_counter()
        nights = [
            simulate_night(hours=hours, seed=SEED + i, profile=profile, name=f"{profile}-{i}") for i in range(seeds)
        ]
        simulated = time.perf_counter() - start
        for condition in conditions:
            for label, model in loaded.items():
                start = time.perf_counter()
                scored = CONDITIONS[condition](model, profile, nights, SCORERS[via])
                seconds = time.perf_counter() - start
                true = np.concatenate([night.stages for night in nights])
                pred = np.concatenate([s.stages for s in scored])
                per_night = [agreement(night.stages, s.stages)["kappa"] for night, s in zip(nights, scored)]
                rows.append(
                    {
                        "condition": condition,
                        "profile": profile,
                        "severity": SEVERITY[PROFILES[profile].severity],
                        "model": label,
                        "n_nights": len(nights),
                        **agreement(true, pred),
                        "kappa_sd": round(float(np.std(per_night)), 4),
                        "ood_nights": [round(float(n.ood_score), 4) for n in scored],
                        "simulate_s": round(simulated, 2),
                        "score_s": round(seconds, 2),
                    }
                )
    table = pd.DataFrame(rows)
    base = table[table.profile == "in-domain"].set_index(["condition", "model"]).kappa
    if len(base):
        key = pd.MultiIndex.from_frame(table[["condition", "model"]])
        table["kappa_cost"] = (base.reindex(key).to_numpy() - table.kappa.to_numpy()).round(4)
    return table


def recovery(table: pd.DataFrame, condition: str, min_cost: float = 0.05) -> pd.DataFrame:
    """Share of each profile's kappa cost (without adaptation) that ``condition`` wins back, per model, where the
    cost is at least ``min_cost`` (smaller costs are within the nights' own spread)."""
    none = table[table.condition == "none"].set_index(["profile", "model"])
    other = table[table.condition == condition].set_index(["profile", "model"])
    shared = none.index.intersection(other.index)
    cost = none.loc[shared, "kappa_cost"]
    gain = other.loc[shared, "kappa"] - none.loc[shared, "kappa"]
    frame = pd.DataFrame({"cost": cost, "gain": gain})[cost >= min_cost]
    frame["recovered"] = (frame.gain / frame.cost).round(2)
    return frame.reset_index()


def ood_auroc(table: pd.DataFrame, min_cost: float = 0.1) -> pd.DataFrame:
    """Per model: AUROC of the per-night out-of-domain score separating in-domain nights from the nights of
    profiles that cost at least ``min_cost`` kappa (without adaptation), and from all shifted nights."""
    from sklearn.metrics import roc_auc_score

    rows = []
    for model, part in table[table.condition == "none"].groupby("model", sort=False):
        inside = [v for v in part[part.profile == "in-domain"].ood_nights for v in v]
        costly = [v for p in part[(part.profile != "in-domain") & (part.kappa_cost >= min_cost)].ood_nights for v in p]
        shifted = [v for p in part[part.profile != "in-domain"].ood_nights for v in p]
        auc = {}
        for name, out in (("costly", costly), ("all_shifted", shifted)):
            auc[name] = (
                round(roc_auc_score([0] * len(inside) + [1] * len(out), inside + out), 3)
                if inside and out
                else float("nan")
            )
        rows.append(
            {
                "model": model,
                "auroc_costly": auc["costly"],
                "auroc_all_shifted": auc["all_shifted"],
                "n_costly_nights": len(costly),
            }
        )
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """Per condition: kappa (accuracy) per profile and model, then the kappa cost of each profile."""
    parts = []
    for condition, part in table.groupby("condition", sort=False):
        cells = part.assign(cell=[f"{k:.2f} ({a:.2f})" for k, a in zip(part.kappa, part.accuracy)])
        wide = cells.pivot(index=["profile", "severity"], columns="model", values="cell")
        wide = wide.reindex(
            index=part.drop_duplicates("profile").set_index(["profile", "severity"]).index, columns=part.model.unique()
        )
        parts.append(f"### condition `{condition}`: Cohen's kappa (accuracy)\n\n{_md(wide)}")
        if "kappa_cost" in part:
            cost = part.pivot(index="profile", columns="model", values="kappa_cost")
            cost = cost.reindex(index=part.profile.unique(), columns=part.model.unique())
            cost["mean"] = cost.mean(axis=1)
            parts.append(
                f"### condition `{condition}`: kappa cost (in-domain kappa minus profile kappa)\n\n"
                + _md(cost.map(lambda v: f"{v:+.2f}"))
            )
    return "\n\n".join(parts) + "\n"


def _md(frame: pd.DataFrame) -> str:
    index = frame.index.names
    head = [*index, *frame.columns]
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head)]
    for key, row in frame.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        lines.append("| " + " | ".join([f"`{key[0]}`", *map(str, key[1:]), *map(str, row.to_numpy())]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for domain_shift.csv and domain_shift.md")
    parser.add_argument("--seeds", type=int, default=3, help="nights per profile (default 3)")
    parser.add_argument("--hours", type=float, default=2.0, help="hours per night (default 2)")
    parser.add_argument("--profiles", help="comma-separated profiles (default all; in-domain is always added)")
    parser.add_argument("--models", help="comma-separated model files or names (default: published SHHS + shipped)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"of {list(CONDITIONS)}")
    parser.add_argument(
        "--via",
        choices=list(SCORERS),
        default="memory",
        help="score the simulated Recording (memory) or its EDF read back by channel name (edf)",
    )
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, help="folder of the published .tar files")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    LABS["folder"] = args.out / "labs"
    logging.basicConfig(level=logging.ERROR)  # flat-signal and simulated-model warnings: one per night
    torch.set_num_threads(args.threads)
    profiles = list(PROFILES) if not args.profiles else ["in-domain", *(p.strip() for p in args.profiles.split(","))]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profiles {unknown}; profiles: {list(PROFILES)}")
    profiles = list(dict.fromkeys(profiles))
    published = {stem: label for label, stem in PUBLISHED.items()}
    models = (
        {
            published.get(Path(m).stem.removeprefix(PREFIX), Path(m).stem.removeprefix(PREFIX)): m
            for m in args.models.split(",")
        }
        if args.models
        else default_models(args.checkpoints)
    )
    conditions = [c.strip() for c in args.conditions.split(",")]
    if any(c not in CONDITIONS for c in conditions):
        parser.error(f"conditions must be among {list(CONDITIONS)}")
    start = time.perf_counter()
    table = run(profiles, models, conditions, args.seeds, args.hours, args.via)
    elapsed = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "domain_shift.csv", index=False)
    text = (
        f"{args.seeds} nights of {args.hours:g} h per profile (seeds {SEED}-{SEED + args.seeds - 1}), scored via "
        f"{args.via}, {len(models)} models, {args.threads} torch thread(s): {elapsed:.0f} s in all "
        f"(simulating {table.drop_duplicates('profile').simulate_s.sum():.0f} s, "
        f"scoring {table.score_s.sum():.0f} s)\n\n{markdown(table)}"
    )
    if "adapt" in conditions and "none" in conditions:
        text += "\n### share of the kappa cost `--adapt` recovers (profiles costing >= 0.05)\n\n"
        text += recovery(table, "adapt").to_markdown(index=False) + "\n"
    for condition in (c for c in conditions if c.startswith("finetune-")):
        if "none" in conditions:
            text += f"\n### share of the kappa cost `{condition}` recovers (profiles costing >= 0.05)\n\n"
            text += recovery(table, condition).to_markdown(index=False) + "\n"
    if "none" in conditions:
        text += "\n### out-of-domain score: AUROC in-domain vs shifted nights\n\n"
        text += ood_auroc(table).to_markdown(index=False) + "\n"
    (args.out / "domain_shift.md").write_text(text)
    print(text)


if __name__ == "__main__":
    keep_freed_memory()
    main()
