"""Agreement between stage sequences, and the human reference (inter-scorer agreement on DOD-H).

Stages are ints 0-4 (W, N1, N2, N3, REM); an epoch unscored (-1) in the reference is left out of every metric.
The arithmetic is scikit-learn's (:func:`agreement` excepted). Macro and weighted F1 average over the stages
that occur in either sequence; per-stage metrics list all five stages (0 where undefined, ``zero_division=0``).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from .constants import STAGES
from .errors import HypnogramError, StqsError

LABELS = list(range(len(STAGES)))
SUMMARY = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "kappa")
"""The overall metrics of :func:`classification_metrics`, also summarised per recording."""


def _scored(true, pred) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.asarray(true).reshape(-1), np.asarray(pred).reshape(-1)
    if true.shape != pred.shape:
        raise StqsError(f"true and predicted stages differ in length: {true.shape} vs {pred.shape}")
    keep = (true >= 0) & (pred >= 0)
    return true[keep].astype(int), pred[keep].astype(int)


def agreement(true: np.ndarray, pred: np.ndarray) -> dict:
    """Accuracy and Cohen's kappa over the epochs the expert scored, and how many there were.

    Plain NumPy on the confusion matrix (tested equal to scikit-learn's): ``stqs score`` prints these, and
    importing scikit-learn would take 1.4 s of that command's 3 s.

    Parameters
    ----------
    true : ndarray of int, shape (n_epochs,)
        Expert stages (0-4; -1 unscored, left out).
    pred : ndarray of int, shape (n_epochs,)
        Predicted stages.

    Returns
    -------
    dict
        ``accuracy``, ``kappa`` (None without scored epochs) and ``n_scored``.

    Examples
    --------
    >>> import numpy as np
    >>> from stqs_core.metrics import agreement
    >>> agreement(np.array([0, 2, 2, -1]), np.array([0, 2, 3, 4]))["accuracy"]
    0.6667
    """
    true, pred = _scored(true, pred)
    if not len(true):
        return {"n_scored": 0, "accuracy": None, "kappa": None}
    cm = np.bincount(true * len(LABELS) + pred, minlength=len(LABELS) ** 2).reshape(len(LABELS), -1) / len(true)
    observed, expected = np.trace(cm), cm.sum(axis=1) @ cm.sum(axis=0)
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    return {"n_scored": int(len(true)), "accuracy": round(float(observed), 4), "kappa": round(float(kappa), 4)}


def _kappa(true, pred, cohen_kappa_score) -> float:
    """Cohen's kappa, 1.0 when both sequences hold one and the same stage (sklearn gives NaN there)."""
    if len(np.unique(np.concatenate([true, pred]))) == 1:
        return 1.0
    return float(cohen_kappa_score(true, pred, labels=LABELS))


def confusion(true: np.ndarray, pred: np.ndarray, normalise: bool = False) -> np.ndarray:
    """Confusion matrix of predicted vs true stages.

    Parameters
    ----------
    true : ndarray of int, shape (n_epochs,)
        Expert stages (0-4; -1 unscored, left out).
    pred : ndarray of int, shape (n_epochs,)
        Predicted stages.
    normalise : bool
        Divide each row by its sum (a stage never true keeps a row of zeros).

    Returns
    -------
    ndarray, shape (5, 5)
        Rows true stage, columns predicted; counts, or fractions with ``normalise``.
    """
    from sklearn.metrics import confusion_matrix

    true, pred = _scored(true, pred)
    cm = confusion_matrix(true, pred, labels=LABELS)
    if not normalise:
        return cm
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)


def classification_metrics(true: np.ndarray, pred: np.ndarray) -> dict:
    """Overall and per-stage metrics of predicted vs true stages.

    Parameters
    ----------
    true : ndarray of int, shape (n_epochs,)
        Expert stages (0-4; -1 unscored, left out).
    pred : ndarray of int, shape (n_epochs,)
        Predicted stages.

    Returns
    -------
    dict
        ``n_scored``, the :data:`SUMMARY` metrics (accuracy, balanced accuracy, macro-F1, weighted F1,
        Cohen's kappa; None without scored epochs), ``per_stage`` ``{stage: {precision, recall, f1, support}}``,
        ``confusion`` (counts, list of lists) and ``confusion_normalised`` (rows sum to 1).
    """
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_recall_fscore_support

    true, pred = _scored(true, pred)
    out: dict = {"n_scored": int(len(true))}
    if not len(true):
        out.update(
            {k: None for k in SUMMARY},
            per_stage={},
            confusion=np.zeros((5, 5), int).tolist(),
            confusion_normalised=np.zeros((5, 5)).tolist(),
        )
        return out
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=LABELS, zero_division=0)
    out.update(
        accuracy=float(accuracy_score(true, pred)),
        balanced_accuracy=float(np.mean(recall[support > 0])),  # mean recall of the stages that occur
        macro_f1=float(f1_score(true, pred, average="macro", zero_division=0)),
        weighted_f1=float(f1_score(true, pred, average="weighted", zero_division=0)),
        kappa=_kappa(true, pred, cohen_kappa_score),
    )
    out["per_stage"] = {
        s: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, s in enumerate(STAGES)
    }
    out["confusion"] = confusion(true, pred).tolist()
    out["confusion_normalised"] = confusion(true, pred, normalise=True).round(4).tolist()
    return out


def per_recording(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    """One row of metrics per recording.

    Parameters
    ----------
    pairs : dict of str to (ndarray, ndarray)
        ``{name: (true, pred)}``, stage codes ``(n_epochs,)`` each.

    Returns
    -------
    list of dict
        ``{recording, n_epochs, n_scored, accuracy, ..., kappa}`` per recording.
    """
    rows = []
    for name, (true, pred) in pairs.items():
        m = classification_metrics(true, pred)
        rows.append(
            {
                "recording": name,
                "n_epochs": int(len(np.asarray(true))),
                "n_scored": m["n_scored"],
                **{k: m[k] for k in SUMMARY},
            }
        )
    return rows


def spread(rows: list[dict], keys: tuple[str, ...] = SUMMARY) -> dict[str, dict[str, float | None]]:
    """Mean, sample standard deviation (ddof=1), minimum and maximum of metrics over per-recording rows.

    Parameters
    ----------
    rows : list of dict
        Rows as :func:`per_recording` returns; rows where a metric is None are skipped for it.
    keys : tuple of str
        The metrics.

    Returns
    -------
    dict
        ``{metric: {mean, sd, min, max}}`` (None where no row has the metric).
    """
    out = {}
    for key in keys:
        values = np.array([r[key] for r in rows if r.get(key) is not None], dtype=float)
        if not len(values):
            out[key] = {"mean": None, "sd": None, "min": None, "max": None}
            continue
        out[key] = {
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return out


def read_scorers(folder: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """The hypnograms of several scorers from a folder of ``scorer_*/<night>.json`` (the DOD-H layout).

    Parameters
    ----------
    folder : str or Path
        The folder.

    Returns
    -------
    dict
        ``{scorer: {night: stages}}``, stage codes ``(n_epochs,)``.
    """
    from .annotations import read_hypnogram

    folder = Path(folder)
    scorers = sorted(p for p in folder.glob("scorer_*") if p.is_dir())
    if len(scorers) < 2:
        raise HypnogramError(f"{folder} holds fewer than two scorer_* folders of hypnograms")
    return {p.name: {f.stem: read_hypnogram(f) for f in sorted(p.glob("*.json"))} for p in scorers}


def consensus(votes: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Majority vote of several scorers, epoch by epoch.

    Parameters
    ----------
    votes : ndarray of int, shape (n_scorers, n_epochs)
        Stage codes per scorer (-1 votes ignored).
    priority : ndarray, shape (n_scorers,)
        A tie goes to the tied stage chosen by the scorer of highest priority.

    Returns
    -------
    ndarray of int, shape (n_epochs,)
        The consensus stages; -1 where nobody scored.
    """
    votes = np.asarray(votes)
    counts = np.stack([(votes == s).sum(axis=0) for s in LABELS], axis=1)  # (n, 5)
    best = counts.max(axis=1)
    tied = counts == best[:, None]
    out = counts.argmax(axis=1)
    for i in np.flatnonzero(tied.sum(axis=1) > 1):
        for scorer in np.argsort(-np.asarray(priority), kind="stable"):
            if votes[scorer, i] >= 0 and tied[i, votes[scorer, i]]:
                out[i] = votes[scorer, i]
                break
    out[best == 0] = -1
    return out


def inter_scorer_agreement(folder: str | Path) -> dict:
    """Human reference: agreement among expert scorers of the same nights (e.g. the 5 DOD-H scorers).

    Every metric pools the epochs of all nights that both sides scored.

    Parameters
    ----------
    folder : str or Path
        A folder as :func:`read_scorers` reads.

    Returns
    -------
    dict
        ``pairwise`` (one row per pair of scorers: accuracy, kappa, n_scored), ``vs_consensus`` (one row per scorer
        against the majority vote of the others; a tie goes to the tied stage chosen by the other scorer with the
        highest mean pairwise kappa), and ``summary`` (mean, sd, min, max of kappa and accuracy for both).
    """
    scorers = read_scorers(folder)
    names = sorted(scorers)
    nights = sorted(set.intersection(*(set(v) for v in scorers.values())))
    if not nights:
        raise HypnogramError(f"the scorers in {folder} share no night (file names must match)")
    votes = {}
    for night in nights:
        n = min(len(scorers[s][night]) for s in names)
        votes[night] = np.stack([scorers[s][night][:n] for s in names])  # (n_scorers, n)
    stacked = np.concatenate([votes[n] for n in nights], axis=1)
    pairwise = [
        {"scorer_a": names[a], "scorer_b": names[b], **agreement(stacked[a], stacked[b])}
        for a, b in combinations(range(len(names)), 2)
    ]
    mean_kappa = np.array(
        [np.mean([p["kappa"] for p in pairwise if name in (p["scorer_a"], p["scorer_b"])]) for name in names]
    )
    vs = []
    for i, name in enumerate(names):
        others = [j for j in range(len(names)) if j != i]
        reference = np.concatenate([consensus(votes[n][others], mean_kappa[others]) for n in nights])
        vs.append({"scorer": name, **agreement(reference, stacked[i])})
    return {
        "folder": str(folder),
        "n_nights": len(nights),
        "scorers": names,
        "pairwise": pairwise,
        "vs_consensus": vs,
        "summary": {
            "pairwise": spread(pairwise, ("kappa", "accuracy")),
            "vs_consensus": spread(vs, ("kappa", "accuracy")),
        },
    }
