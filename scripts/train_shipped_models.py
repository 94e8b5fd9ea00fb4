"""Build simulated nights and train the three shipped models in trained_models/, then write its README.

    python scripts/train_shipped_models.py [--nights 30] [--epochs 3] [--work runs/shipped]
    python scripts/train_shipped_models.py --suite runs/domain_shift/domain_shift.csv  # cards + README only

The nights are simulated (stqs_core.simulate) along real expert hypnograms from ../shared/data/hypnograms
(DOD-H scorer 1 and Sleep-EDF-20, cropped to the sleep period +- 30 min), alternating between the two; where
that folder is absent the stages are drawn from the simulator's stage model. Each night draws its own lab profile
of varied strength and, on some nights, a dropped or substituted channel (``stqs_core.simulate.Randomisation``,
its defaults; ``--no-randomise`` simulates every night in-domain as before). The recordings are split by
recording (seeded); the CNN model is trained first (oversampling), and the two sequence variants start from its
CNN (``init_cnn``) and train their bi-LSTM head on whole nights. Re-running skips the nights and models that
exist (``--force`` retrains). Every number in the cards is from held-out simulated nights: the test split (as
randomised as the training nights) and ``--check-nights`` in-domain nights driven by hypnograms no model saw.
``--suite`` copies a model's rows of the domain-shift suite (benchmarks/domain_shift.py) into its card, its
``.training.json`` and the README.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import pandas as pd
import torch

from stqs_core import read_hypnogram
from stqs_core.allocator import keep_freed_memory
from stqs_core.checkpoint import MODELS_DIR, load_model, save_model
from stqs_core.evaluation import evaluate, write_report
from stqs_core.hypnogram import trim_wake
from stqs_core.plots import plot_confusion, plot_hypnograms
from stqs_core.simulate import Randomisation, simulate_store
from stqs_core.simulate.dataset import night_seed
from stqs_core.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
HYPNOGRAMS = ROOT.parent / "shared" / "data" / "hypnograms"
MODELS = (
    ("stqs-cnn-oversampling-sim", "cnn"),
    ("stqs-cnnlstm-sim", "cnnlstm"),
    ("stqs-cnnlstm-residual-sim", "cnnlstm-residual"),
)
STATEMENT = (
    "Trained on SIMULATED PSG nights only (stqs_core.simulate), not on real recordings: the metrics are "
    "those on held-out simulated nights and say nothing about accuracy on real PSG. For real data, use "
    "the published SHHS checkpoints or train on your own epoch store with `stqs train`."
)
SEED = 2026
CHECK_SEED = 4049


def drivers(n_nights: int, skip: int = 0) -> tuple[list | None, str]:
    """Real hypnograms (alternating DOD-H scorer 1 and Sleep-EDF-20; the first ``skip`` left out) and a
    description, or None (stage model)."""
    dod = sorted((HYPNOGRAMS / "dod-h" / "scorer_1").glob("*.json"))
    edf = sorted((HYPNOGRAMS / "sleep-edf-20").glob("*.edf"))
    if not dod and not edf:
        return None, "stages drawn from the simulator's stage model (../shared hypnograms absent)"
    pairs = [p for pair in zip(dod, edf) for p in pair] + dod[len(edf) :] + edf[len(dod) :]
    chosen = pairs[skip : skip + n_nights]
    hyps = [trim_wake(read_hypnogram(p)) for p in chosen]
    names = ", ".join(f"{p.parent.parent.name if p.suffix == '.json' else p.parent.name}/{p.stem}" for p in chosen)
    return hyps, f"stages of {len(chosen)} real expert hypnograms, cropped to the sleep period +- 30 min: {names}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=30, help="simulated nights (split 60/20/20 by recording)")
    parser.add_argument("--check-nights", type=int, default=6, help="in-domain nights of unseen hypnograms")
    parser.add_argument("--no-randomise", action="store_true", help="every night in-domain (no profiles)")
    parser.add_argument("--suite", type=Path, help="domain_shift.csv: write its figures into cards and README")
    parser.add_argument("--epochs", type=int, default=3, help="maximum passes per training stage")
    parser.add_argument("--sequence-epochs", type=int, default=10, help="maximum passes of the LSTM stage")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--work", type=Path, default=Path("runs/shipped"), help="folder for the stores (relative: to the repository)"
    )
    parser.add_argument("--force", action="store_true", help="retrain models that exist")
    args = parser.parse_args()
    os.chdir(ROOT)  # relative paths in the cards' commands
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    if args.suite:
        add_suite(args.suite)
        return
    tic = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    randomise = None if args.no_randomise else Randomisation()
    hyps, source = drivers(args.nights)
    suffix = "" if randomise is None else "-randomised"
    store = simulate_store(
        args.work / f"sim-{args.nights}{suffix}.h5", args.nights, seed=SEED, hypnograms=hyps, randomise=randomise
    )
    check_hyps, check_source = drivers(args.check_nights, skip=args.nights)
    check = simulate_store(
        args.work / f"check-{args.check_nights}.h5", args.check_nights, seed=CHECK_SEED, hypnograms=check_hyps
    )
    logging.info("simulated %d + %d nights in %.0f s", args.nights, args.check_nights, time.perf_counter() - tic)
    timings = {}
    reproduce = (
        f"python scripts/train_shipped_models.py --nights {args.nights} --epochs {args.epochs} "
        f"--sequence-epochs {args.sequence_epochs} --lr {args.lr} --threads {args.threads}"
        + (" --no-randomise" if randomise is None else "")
    )
    augmentation = (
        "none: every night in-domain"
        if randomise is None
        else {
            "randomisation": {k: v for k, v in vars(randomise).items()},
            "nights": {f"sim-{SEED}-{i:04d}": randomise.draw(night_seed(SEED, i)).label for i in range(args.nights)},
        }
    )
    for name, variant in MODELS:
        out = MODELS_DIR.relative_to(ROOT) / f"{name}.pt"
        if out.exists() and not args.force:
            continue
        seq = variant != "cnn"
        config = TrainConfig(
            variant=variant,
            imbalance="oversampling",
            epochs=args.sequence_epochs if seq else args.epochs,
            patience=3 if seq else 2,
            lr=args.lr,
            batch_size=64,
            seed=0,
            fractions=(0.6, 0.2, 0.2),
            init_cnn=str(MODELS_DIR.relative_to(ROOT) / f"{MODELS[0][0]}.pt") if seq else None,
            nights_per_batch=2,
            cache_bytes=4 << 30,  # the whole store in memory (30 nights: 2.3 GB); read from disk, 10x slower
        )
        start = time.perf_counter()
        train(
            store,
            out,
            config,
            resume=True,
            card={
                "name": name,
                "training_data": STATEMENT,
                "simulated_from": source,
                "augmentation": augmentation,
                "reproduce": reproduce,
            },
        )
        timings[name] = time.perf_counter() - start
        logging.info("%s trained in %.0f s", name, timings[name])
    for name, _ in MODELS:
        path = MODELS_DIR / f"{name}.pt"
        metrics = evaluate(path, check, "all", human_reference=None)["overall"]
        update_card(
            path,
            {
                "in_domain_check": {
                    "nights": f"{args.check_nights} in-domain nights (seed {CHECK_SEED}), {check_source}",
                    **{k: round(float(metrics[k]), 4) for k in ("accuracy", "macro_f1", "kappa")},
                }
            },
        )
    write_readme(store, reproduce)
    report = evaluate(MODELS[1][0], store, "test")
    write_report(report, args.work / "report")
    docs = ROOT / "docs"
    plot_hypnograms(report, docs / "evaluation_hypnograms.png")
    plot_confusion(report, docs / "evaluation_confusion.png")
    logging.info(
        "done in %.0f s (training: %s)",
        time.perf_counter() - tic,
        ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()),
    )


def update_card(path: Path, fields: dict) -> None:
    """Add ``fields`` to the model card of the model at ``path`` and to its ``.training.json``."""
    model = load_model(path)
    save_model(model, path, fields)
    log = path.with_suffix(".training.json")
    summary = json.loads(log.read_text())
    summary["model_card"] = {**summary.get("model_card", {}), **fields}
    log.write_text(json.dumps(summary, indent=1, default=str))


def add_suite(table: Path) -> None:
    """Each shipped model's rows of the domain-shift suite ``table`` (domain_shift.csv) into its card, then the
    README."""
    frame = pd.read_csv(table)
    for name, _ in MODELS:
        rows = frame[frame.model == name]
        if rows.empty:
            logging.warning("%s has no row in %s", name, table)
            continue
        suite = {
            "table": str(table),
            "nights_per_profile": int(rows.n_nights.iloc[0]),
            "kappa": {
                condition: dict(zip(part.profile, part.kappa.round(4))) for condition, part in rows.groupby("condition")
            },
        }
        update_card(MODELS_DIR / f"{name}.pt", {"domain_shift": suite})
    card = load_model(MODELS_DIR / f"{MODELS[1][0]}.pt").info["model_card"]
    write_readme(Path(card["data"][0]["path"]), card["reproduce"])


def suite_table() -> str:
    """The shipped models' kappa per profile and condition from their cards (empty if none holds the suite)."""
    suites = {name: load_model(MODELS_DIR / f"{name}.pt").info["model_card"].get("domain_shift") for name, _ in MODELS}
    suites = {name: suite for name, suite in suites.items() if suite}
    if not suites:
        return ""
    order = ("none", "adapt", "finetune-1", "finetune-2", "finetune-4")
    found = {c for suite in suites.values() for c in suite["kappa"]}
    conditions = [c for c in order if c in found] + sorted(found - set(order))
    profiles = list(dict.fromkeys(p for suite in suites.values() for c in suite["kappa"].values() for p in c))
    lines = ["| profile | " + " | ".join(suites) + " |", "|---|" + "---|" * len(suites)]
    for profile in profiles:
        cells = [
            " / ".join(
                "-" if (v := suites[n]["kappa"].get(c, {}).get(profile)) is None else f"{v:.2f}" for c in conditions
            )
            for n in suites
        ]
        lines.append(f"| `{profile}` | " + " | ".join(cells) + " |")
    source = next(iter(suites.values()))
    return (
        f"\n## Domain-shift suite\n\nCohen's kappa on {source['nights_per_profile']} simulated nights per lab profile "
        f"(`python benchmarks/domain_shift.py`, table `{source['table']}`; all models and conditions in "
        "docs/domain_shift.md). The models were trained with the single-effect profiles randomised, so their rows "
        "are within the training distribution; the `lab-*` combinations were held out. Each cell: "
        f"{' / '.join(conditions)} (`-`: not run for that profile).\n\n" + "\n".join(lines) + "\n"
    )


def write_readme(store: Path, reproduce: str) -> None:
    """trained_models/README.md: one row per shipped model, from its card."""
    rows = []
    for name, variant in MODELS:
        path = MODELS_DIR / f"{name}.pt"
        card = load_model(path).info["model_card"]
        test = card["metrics"].get("test", {})
        size = path.stat().st_size / 1e6
        check = card.get("in_domain_check", {})
        rows.append(
            f"| `{name}` | {variant} | {card['imbalance']} | {len(card['split']['train'])} / "
            f"{len(card['split']['validation'])} / {len(card['split']['test'])} simulated nights | "
            f"{test.get('accuracy', float('nan')):.3f} | {test.get('macro_f1', float('nan')):.3f} | "
            f"{test.get('kappa', float('nan')):.3f} | {check.get('kappa', float('nan')):.3f} | {size:.2f} MB | "
            f"`{card['command']}` |"
        )
    card = load_model(MODELS_DIR / f"{MODELS[1][0]}.pt").info["model_card"]
    text = f"""# Shipped models

**{STATEMENT}**

| model | variant | imbalance | train / validation / test | test accuracy | test macro-F1 | test kappa | in-domain kappa | size | command |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Data: `{store.name}`, {card["simulated_from"]}. {augmentation_text(card.get("augmentation"))} The split is by
recording (seed 0, 60/20/20), the same for the three models; test metrics pool the epochs of the held-out test
nights (unscored epochs excluded). In-domain kappa: {card.get("in_domain_check", {}).get("nights", "not measured")}
(simulated without profiles or substitutions). The sequence
models start from the CNN model's CNN (`--init-cnn`) and train the bi-LSTM head on whole nights with the CNN
frozen. Rebuild everything with `{reproduce}` (commands above are the `stqs train` calls it makes;
their `--data` store is the one the script simulates). Each model's card (`load_model(name).info["model_card"]`)
holds the split, history summary, per-stage test metrics and date; `<name>.history.csv` and
`<name>.training.json` beside each file log every training pass.
{suite_table()}"""
    (MODELS_DIR / "README.md").write_text(text)


def augmentation_text(augmentation) -> str:
    """One sentence on the profile randomisation of the training nights (from the card)."""
    if not isinstance(augmentation, dict):
        return "Every night is simulated in-domain (no lab profile)."
    r = augmentation["randomisation"]
    counts = pd.Series([label.split("*")[0].split("+")[0] for label in augmentation["nights"].values()]).value_counts()
    subs = sum("+" in label for label in augmentation["nights"].values())
    return (
        f"Each night drew its lab profile (`stqs_core.simulate.Randomisation`): in-domain with probability "
        f"{r['in_domain']:g}, else one of {len(r['profiles'])} single-effect profiles at strength "
        f"{r['strength'][0]:g}-{r['strength'][1]:g}; with probability {r['substitute']:g} one channel dropped or "
        f"substituted ({', '.join(r['substitutions'])}). Drawn: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; {subs} nights with a substitution (per-night draws in each card's `augmentation`)."
    )


if __name__ == "__main__":
    keep_freed_memory()
    main()
