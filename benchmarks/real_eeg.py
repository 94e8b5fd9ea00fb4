"""Real EEG side by side: STQS's default command, YASA and GSSC on the real excerpts in ../shared/data/real/.

Each tool is run as its documentation says, on the same EDF files and with nothing but the file and (for the peers,
which do not find channels themselves) the name of its EEG channel:

- ``stqs``: :func:`stqs_core.score_file` with no model and no channel options (``stqs score FILE --out x.csv``);
- ``stqs-adapt``: the same with ``--adapt`` (label-free adaptation to the recording, its default method);
  ``stqs-adapt-<method>`` with ``--adapt-method <method>`` (one of :data:`stqs_core.adapt.METHODS`);
- ``stqs-forced``: the full-PSG SHHS model with the one EEG fed to every row, as a user had to before STQS
  scored EEG-only files (``--model shhs-oversampling-cnn --eeg C,C --eog C,C --emg C``), for comparison;
- ``yasa``: ``yasa.SleepStaging(raw, eeg_name=ch).predict()`` (pip install yasa);
- ``gssc``: ``gssc.infer.EEGInfer().mne_infer(raw, eeg=[ch], eog=[])`` (``pip install --no-deps gssc
  importlib_resources``; its checkpoints are pickles, loaded with ``weights_only=False`` here only).

The peers are benchmark-only: the library never imports them. Nothing is fitted or tuned here; where a choice of
STQS was made on these excerpts (the EEG-only model), it was made leaving each excerpt out (see the model's card).
Per excerpt and tool: Cohen's kappa, accuracy, recall per stage, seconds; pooled: the confusion matrix; for STQS
also the AUROC of (1 - confidence) for its errors (how well low confidence finds the wrong epochs).

Run: ``python benchmarks/real_eeg.py --out runs/real_eeg [--data DIR] [--tools stqs,stqs-adapt,stqs-forced,yasa,gssc]``.
Writes ``real_eeg.csv`` (one row per excerpt and tool), ``real_eeg.md`` (the tables) and prints the markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, roc_auc_score

from stqs_core import read_hypnogram, score_file
from stqs_core.adapt import METHODS
from stqs_core.constants import STAGES

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STQS_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data" / "real" / "dreams"
REFERENCE = SHARED / "reference" / "stqs_shhs_checkpoints"
TOOLS = ("stqs", "stqs-adapt", "stqs-forced", "yasa", "gssc")


def _eeg_name(path: Path) -> str:
    import mne

    raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
    return next(ch for ch in raw.ch_names if "EEG" in ch.upper())


def run_stqs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Stages and confidence of the default ``stqs score`` (no model, no channel options)."""
    night = score_file(path)
    return night.stages, night.confidence


def run_stqs_adapt(path: Path, method: str | bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Stages and confidence of ``stqs score FILE --adapt`` (True: the default label-free adaptation)."""
    night = score_file(path, adapt=method)
    return night.stages, night.confidence


def run_stqs_forced(path: Path) -> tuple[np.ndarray, None]:
    """Stages of the full-PSG SHHS model with the EEG fed to every row."""
    ch = _eeg_name(path)
    night = score_file(path, "shhs-oversampling-cnn", eeg=[ch, ch], eog=[ch, ch], emg=[ch])
    return night.stages, None


def run_yasa(path: Path) -> tuple[np.ndarray, None]:
    """Stages of YASA's default classifier on the EEG channel."""
    import mne
    import yasa

    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    labels = yasa.SleepStaging(raw, eeg_name=_eeg_name(path)).predict()
    labels = getattr(labels, "hypno", labels)  # a yasa.Hypnogram from 0.7 on, an array of strings before
    codes = {"W": 0, "WAKE": 0, "N1": 1, "N2": 2, "N3": 3, "R": 4, "REM": 4}
    return np.array([codes[str(s)] for s in labels]), None


def run_gssc(path: Path) -> tuple[np.ndarray, None]:
    """Stages of GSSC's default networks on the EEG channel (no EOG)."""
    import mne
    import torch
    from gssc.infer import EEGInfer

    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    load = torch.load
    torch.load = lambda *a, **k: load(*a, **{**k, "weights_only": False})  # GSSC's own pickled checkpoints
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            stages, _ = EEGInfer(use_cuda=False).mne_infer(raw, eeg=[_eeg_name(path)], eog=[])
    finally:
        torch.load = load
    return np.asarray(stages, dtype=int), None


RUNNERS = {
    "stqs": run_stqs,
    "stqs-adapt": run_stqs_adapt,
    "stqs-forced": run_stqs_forced,
    "yasa": run_yasa,
    "gssc": run_gssc,
    **{f"stqs-adapt-{m}": functools.partial(run_stqs_adapt, method=m) for m in METHODS},
}


def measure(tools: list[str], data: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One row per excerpt and tool, and each tool's pooled confusion matrix (rows: expert, columns: tool)."""
    rows, pooled = [], {tool: np.zeros((5, 5), int) for tool in tools}
    for edf in sorted(data.glob("excerpt*.edf")):
        true = read_hypnogram(edf.with_suffix(".stages.csv"))
        for tool in tools:
            start = time.perf_counter()
            stages, conf = RUNNERS[tool](edf)
            seconds = time.perf_counter() - start
            n = min(len(stages), len(true))
            y, p = true[:n], stages[:n]
            keep = y >= 0
            y, p = y[keep], p[keep]
            pooled[tool] += confusion_matrix(y, p, labels=range(5))
            row = {
                "excerpt": edf.stem,
                "tool": tool,
                "n_epochs": int(n),
                "kappa": cohen_kappa_score(y, p),
                "accuracy": accuracy_score(y, p),
                "seconds": seconds,
            }
            for code, stage in enumerate(STAGES):
                row[f"recall_{stage}"] = np.mean(p[y == code] == code) if (y == code).any() else np.nan
            if conf is not None and 0 < (p != y).sum() < len(y):
                row["auroc_confidence"] = roc_auc_score(p != y, 1 - conf[:n][keep])
            rows.append(row)
            logging.info("%s %s: kappa %.2f in %.1f s", edf.stem, tool, row["kappa"], seconds)
    return pd.DataFrame(rows), pooled


def markdown(table: pd.DataFrame, pooled: dict[str, np.ndarray], command: str) -> str:
    """The kappa table (excerpts x tools, and the mean), per-stage recall, and pooled confusion matrices."""
    kappa = table.pivot(index="tool", columns="excerpt", values="kappa")
    kappa["mean"] = kappa.mean(axis=1)
    kappa = kappa.loc[[t for t in RUNNERS if t in kappa.index]]
    lines = [f"Measured {datetime.date.today()} with `{command}`.", "", "Cohen's kappa per excerpt:", ""]
    lines.append(kappa.round(2).to_markdown())
    columns = ["accuracy", *[f"recall_{s}" for s in STAGES], "seconds"]
    columns += ["auroc_confidence"] * ("auroc_confidence" in table)
    means = table.groupby("tool")[columns].mean()
    lines += ["", "Means over the excerpts (recall over the excerpts that have the stage; seconds per excerpt):", ""]
    lines.append(means.loc[kappa.index].round(2).to_markdown())
    for tool, matrix in pooled.items():
        frame = pd.DataFrame(matrix, index=[f"expert {s}" for s in STAGES], columns=list(STAGES))
        lines += ["", f"Pooled confusion, {tool}:", "", frame.to_markdown()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA, help="folder of excerptN.edf + excerptN.stages.csv")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(RUNNERS)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("stqs_core", "mne", "yasa"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} is absent: the real excerpts live in ../shared/data/real/dreams")
    if "STQS_MODELS_URL" not in os.environ and REFERENCE.is_dir():
        os.environ["STQS_MODELS_URL"] = REFERENCE.as_uri()  # the published checkpoints, as fetched
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    table, pooled = measure(tools, args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "real_eeg.csv", index=False)
    text = markdown(table, pooled, "python benchmarks/real_eeg.py --out " + str(args.out))
    (args.out / "real_eeg.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
