"""Build simulated nights and train the three shipped models in trained_models/, then write its README.

    python scripts/train_shipped_models.py [--nights 20] [--epochs 3] [--work runs/shipped]

The nights are simulated (stqs_core.simulate) along real expert hypnograms from ../shared/data/hypnograms
(DOD-H scorer 1 and Sleep-EDF-20, cropped to the sleep period +- 30 min), alternating between the two; where
that folder is absent the stages are drawn from the simulator's stage model. The recordings are split by
recording (seeded); the CNN model is trained first (oversampling), and the two sequence variants start from its
CNN (``init_cnn``) and train their bi-LSTM head on whole nights. Re-running skips the nights and models that
exist (``--force`` retrains). Every number in the cards is from held-out simulated nights.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import torch

from stqs_core import read_hypnogram
from stqs_core.allocator import keep_freed_memory
from stqs_core.checkpoint import MODELS_DIR, load_model
from stqs_core.evaluation import evaluate, write_report
from stqs_core.hypnogram import trim_wake
from stqs_core.plots import plot_confusion, plot_hypnograms
from stqs_core.simulate import simulate_store
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


def drivers(n_nights: int) -> tuple[list | None, str]:
    """Real hypnograms (alternating DOD-H scorer 1 and Sleep-EDF-20) and a description, or None (stage model)."""
    dod = sorted((HYPNOGRAMS / "dod-h" / "scorer_1").glob("*.json"))
    edf = sorted((HYPNOGRAMS / "sleep-edf-20").glob("*.edf"))
    if not dod and not edf:
        return None, "stages drawn from the simulator's stage model (../shared hypnograms absent)"
    pairs = [p for pair in zip(dod, edf) for p in pair] + dod[len(edf) :] + edf[len(dod) :]
    chosen = pairs[:n_nights]
    hyps = [trim_wake(read_hypnogram(p)) for p in chosen]
    names = ", ".join(f"{p.parent.parent.name if p.suffix == '.json' else p.parent.name}/{p.stem}" for p in chosen)
    return hyps, f"stages of {len(chosen)} real expert hypnograms, cropped to the sleep period +- 30 min: {names}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=20, help="simulated nights (split 60/20/20 by recording)")
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

    tic = time.perf_counter()
    hyps, source = drivers(args.nights)
    store = simulate_store(args.work / f"sim-{args.nights}.h5", args.nights, seed=2026, hypnograms=hyps)
    logging.info("simulated %d nights in %.0f s", args.nights, time.perf_counter() - tic)
    timings = {}
    reproduce = (
        f"python scripts/train_shipped_models.py --nights {args.nights} --epochs {args.epochs} "
        f"--sequence-epochs {args.sequence_epochs} --lr {args.lr} --threads {args.threads}"
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
        )
        start = time.perf_counter()
        train(
            store,
            out,
            config,
            resume=True,
            card={"name": name, "training_data": STATEMENT, "simulated_from": source, "reproduce": reproduce},
        )
        timings[name] = time.perf_counter() - start
        logging.info("%s trained in %.0f s", name, timings[name])
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


def write_readme(store: Path, reproduce: str) -> None:
    """trained_models/README.md: one row per shipped model, from its card."""
    rows = []
    for name, variant in MODELS:
        path = MODELS_DIR / f"{name}.pt"
        card = load_model(path).info["model_card"]
        test = card["metrics"].get("test", {})
        size = path.stat().st_size / 1e6
        rows.append(
            f"| `{name}` | {variant} | {card['imbalance']} | {len(card['split']['train'])} / "
            f"{len(card['split']['validation'])} / {len(card['split']['test'])} simulated nights | "
            f"{test.get('accuracy', float('nan')):.3f} | {test.get('macro_f1', float('nan')):.3f} | "
            f"{test.get('kappa', float('nan')):.3f} | {size:.2f} MB | `{card['command']}` |"
        )
    card = load_model(MODELS_DIR / f"{MODELS[1][0]}.pt").info["model_card"]
    text = f"""# Shipped models

**{STATEMENT}**

| model | variant | imbalance | train / validation / test | test accuracy | test macro-F1 | test kappa | size | command |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Data: `{store.name}`, {card["simulated_from"]}. The split is by recording (seed 0, 60/20/20), the same for the
three models; test metrics pool the epochs of the held-out test nights (unscored epochs excluded). The sequence
models start from the CNN model's CNN (`--init-cnn`) and train the bi-LSTM head on whole nights with the CNN
frozen. Rebuild everything with `{reproduce}` (commands above are the `stqs train` calls it makes;
their `--data` store is the one the script simulates). Each model's card (`load_model(name).info["model_card"]`)
holds the split, history summary, per-stage test metrics and date; `<name>.history.csv` and
`<name>.training.json` beside each file log every training pass.
"""
    (MODELS_DIR / "README.md").write_text(text)


if __name__ == "__main__":
    keep_freed_memory()
    main()
