"""The logs written beside a trained model: ``<stem>.history.csv`` and ``<stem>.training.json``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .._atomic import atomic_path


def plain(value):
    """JSON form of a value :mod:`json` cannot write: a numpy scalar's Python value, else ``str(value)`` (paths).

    Parameters
    ----------
    value : object
        A numpy scalar or array of one element, a :class:`~pathlib.Path`, or anything with a useful ``str``.

    Returns
    -------
    object
        A Python number or a string.
    """
    return value.item() if hasattr(value, "item") else str(value)


def write_logs(out: Path, history: list[dict], summary: dict) -> None:
    """Write ``out``'s training logs, each atomically (a reader never sees half a file).

    Parameters
    ----------
    out : Path
        The model file; the logs go beside it as ``<stem>.training.json`` and ``<stem>.history.csv``.
    history : list of dict
        One row per training pass (``stage``, ``epoch`` (the pass, from 1), ``train_loss``, ...): the CSV, one
        column per key met in any row.
    summary : dict
        The JSON document (settings, split, history, model card); values JSON cannot write become strings.
    """
    with atomic_path(out.with_suffix(".training.json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=str))
    keys = list(dict.fromkeys(k for row in history for k in row))
    with atomic_path(out.with_suffix(".history.csv")) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(history)
