"""Which published SHHS model scores a single-EEG recording best with its EOG and EMG blocks absent?

Each of the nine published checkpoints, reduced to its EEG block (:func:`stqs_core.model.keep_modalities`),
scores every real excerpt in ../shared/data/real/dreams (the file's one EEG feeds both EEG rows, as ``stqs score``
reads it). The choice leaves each excerpt out: for excerpt i, the model with the best mean kappa on the other
excerpts is chosen and its kappa on excerpt i reported, so no excerpt is scored by a choice made on it.
:data:`stqs_core.scoring.MODEL_FOR` names the model this chooses.

Run: ``python benchmarks/eeg_only_choice.py [--data DIR]``; prints the kappa table and the left-out choices.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from stqs_core import read_hypnogram, read_recording
from stqs_core.checkpoint import load_model
from stqs_core.model import keep_modalities
from stqs_core.registry import PUBLISHED, published_name
from stqs_core.scoring import recording_epochs

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STQS_SHARED", ROOT.parent / "shared"))


def kappas(data: Path) -> pd.DataFrame:
    """Kappa of each published model's EEG block (rows) on each excerpt (columns)."""
    excerpts = sorted(data.glob("excerpt*.edf"))
    recordings = {edf.stem: read_recording(edf, required=("eeg",)) for edf in excerpts}
    epochs = {name: recording_epochs(rec)[0].data for name, rec in recordings.items()}
    truth = {edf.stem: read_hypnogram(edf.with_suffix(".stages.csv")) for edf in excerpts}
    table = {}
    for file in PUBLISHED:
        name = published_name(file)
        model = keep_modalities(load_model(name), ["eeg"])
        table[name] = {
            ex: cohen_kappa_score(truth[ex][: len(x)], model.predict_proba(x).argmax(1)) for ex, x in epochs.items()
        }
    return pd.DataFrame(table).T


def leave_one_out(table: pd.DataFrame) -> pd.DataFrame:
    """For each excerpt, the model chosen on the others and its kappa on the excerpt."""
    rows = []
    for ex in table.columns:
        chosen = table.drop(columns=ex).mean(axis=1).idxmax()
        rows.append({"left out": ex, "chosen on the others": chosen, "kappa": table.at[chosen, ex]})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "real" / "dreams")
    args = parser.parse_args()
    if "STQS_MODELS_URL" not in os.environ and (SHARED / "reference").is_dir():
        os.environ["STQS_MODELS_URL"] = (SHARED / "reference" / "stqs_shhs_checkpoints").as_uri()
    table = kappas(args.data)
    table["mean"] = table.mean(axis=1)
    print(table.sort_values("mean", ascending=False).round(2).to_markdown())
    chosen = leave_one_out(table.drop(columns="mean"))
    print()
    print(chosen.round(2).to_markdown(index=False))
    print(f"\nleft-out mean kappa {np.mean(chosen.kappa):.3f}")


if __name__ == "__main__":
    main()
