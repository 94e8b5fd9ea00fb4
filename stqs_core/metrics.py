"""Agreement between stage sequences; unscored epochs (-1) are left out of every metric."""
from __future__ import annotations

import numpy as np


def agreement(true: np.ndarray, pred: np.ndarray) -> dict:
    """Accuracy and Cohen's kappa over the epochs the expert scored, and how many there were."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    true, pred = np.asarray(true), np.asarray(pred)
    scored = true >= 0
    if not scored.any():
        return {"n_scored": 0, "accuracy": None, "kappa": None}
    return {"n_scored": int(scored.sum()),
            "accuracy": round(float(accuracy_score(true[scored], pred[scored])), 4),
            "kappa": round(float(cohen_kappa_score(true[scored], pred[scored])), 4)}
