"""Result tables of the occlusion analyses: which decisions changed, and how each stage's probability moved.

Every table compares the probabilities of ``V`` occluded variants of a night ``(V, N, 5)`` with the unoccluded
pass (:class:`~.baseline.BaselinePass`). Stages are integer codes 0-4 (:data:`~stqs_core.constants.STAGES`) in
per-epoch tables; summary tables name them, with ``"all"`` for the whole night.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..constants import ROLES, STAGES
from ..errors import StqsError
from .baseline import BaselinePass

CHANGE_ATOL = 1e-5
"""A decision counts as changed only where the new stage's probability beats the original stage's by more than
this. The network computes in float32 (eps 1.2e-7); rescoring the same features in another batch shape sums the
~400 products of each logit in another order (the CPU's kernels choose it: AVX-512 and AVX2 differ), which moves
probabilities by about 1e-7 to 1e-6. So a near-tie must not flip by rounding; a band or window that matters moves
them by 1e-3 or more."""


def _decisions(proba: np.ndarray, stages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New stages and whether each changed.

    The new stage is the most probable one where it beats the original stage by more than :data:`CHANGE_ATOL`,
    else the original stage (unchanged).

    Parameters
    ----------
    proba : ndarray, shape (..., N, 5)
        Rescored probabilities.
    stages : ndarray, shape (N,)
        The original stages.

    Returns
    -------
    new : ndarray of int, shape (..., N)
    changed : ndarray of bool, shape (..., N)
    """
    best = proba.argmax(-1)
    original = np.broadcast_to(stages, best.shape)
    margin = np.take_along_axis(proba, best[..., None], -1) - np.take_along_axis(proba, original[..., None], -1)
    changed = margin[..., 0] > CHANGE_ATOL
    return np.where(changed, best, original), changed


def _modality_name(modalities) -> str:
    """``"eeg+emg"`` style name of a group of modalities (role order), ``"none"`` for the empty group."""
    return "+".join(role for role in ROLES if role in modalities) or "none"


def _per_epoch(baseline: BaselinePass, proba: np.ndarray, keys: dict[str, list], labels) -> pd.DataFrame:
    """One row per (variant, epoch): original and new stage, changed, probability changes per stage.

    Parameters
    ----------
    baseline : BaselinePass
        The unoccluded pass.
    proba : ndarray, shape (V, N, 5)
        Probabilities of each variant.
    keys : dict of str to list
        Columns naming the variants, each a list of ``V`` values (e.g. ``band``, ``modalities``).
    labels : ndarray, shape (N,), or None
        Expert stages (-1 unscored): adds a ``true`` column.

    Returns
    -------
    DataFrame
        ``V * N`` rows: the ``keys`` columns, ``epoch``, ``stage``, ``new_stage``, ``changed``, ``true`` (with
        labels), ``drop`` (drop of the original stage's probability), ``d_W`` .. ``d_REM`` (new minus original).
    """
    v, n = proba.shape[:2]
    new, changed = _decisions(proba, baseline.stages)
    cols = {name: np.repeat(values, n) for name, values in keys.items()}
    cols.update(
        epoch=np.tile(np.arange(n), v),
        stage=np.tile(baseline.stages, v),
        new_stage=new.ravel(),
        changed=changed.ravel(),
    )
    if labels is not None:
        cols["true"] = np.tile(labels, v)
    stages = baseline.stages
    cols["drop"] = (baseline.proba[np.arange(n), stages] - proba[:, np.arange(n), stages]).ravel()
    delta = proba - baseline.proba
    for i, s in enumerate(STAGES):
        cols[f"d_{s}"] = delta[..., i].ravel()
    return pd.DataFrame(cols)


def _summary(baseline: BaselinePass, proba: np.ndarray, keys: dict[str, list], labels) -> pd.DataFrame:
    """One row per (variant, stage in ``"all"``, W..REM): share changed, probability drops, metric changes.

    By originally predicted stage: ``n``, ``share_changed``, ``prob_drop`` (mean drop of the predicted
    stage's probability). With labels, by true stage: ``n_true``, ``true_prob_drop`` (mean drop of the true
    stage's probability), ``recall``/``recall_after``/``recall_change``; for ``"all"`` also accuracy and
    kappa before, after and change.

    Parameters
    ----------
    baseline : BaselinePass
        The unoccluded pass.
    proba : ndarray, shape (V, N, 5)
        Probabilities of each variant.
    keys : dict of str to list
        Columns naming the variants, each a list of ``V`` values.
    labels : ndarray, shape (N,), or None
        Expert stages (-1 unscored).

    Returns
    -------
    DataFrame
        ``V * 6`` rows.
    """
    from ..metrics import agreement

    n = len(baseline.stages)
    orig = baseline.stages
    new, changed = _decisions(proba, orig)
    drop = baseline.proba[np.arange(n), orig] - proba[:, np.arange(n), orig]  # (V, N)
    if labels is not None:
        scored = labels >= 0
        safe = np.where(scored, labels, 0)
        true_drop = baseline.proba[np.arange(n), safe] - proba[:, np.arange(n), safe]
        base = agreement(labels, orig)
    rows = []
    for v in range(proba.shape[0]):
        key = {name: values[v] for name, values in keys.items()}
        for stage in ["all", *STAGES]:
            sel = np.ones(n, bool) if stage == "all" else orig == STAGES.index(stage)
            row = {
                **key,
                "stage": stage,
                "n": int(sel.sum()),
                "share_changed": float(changed[v, sel].mean()) if sel.any() else np.nan,
                "prob_drop": float(drop[v, sel].mean()) if sel.any() else np.nan,
            }
            if labels is not None:
                tsel = scored if stage == "all" else labels == STAGES.index(stage)
                row.update(
                    n_true=int(tsel.sum()), true_prob_drop=float(true_drop[v, tsel].mean()) if tsel.any() else np.nan
                )
                if stage == "all":
                    after = agreement(labels, new[v])
                    for metric in ("accuracy", "kappa"):
                        row[metric] = base[metric]
                        row[f"{metric}_after"] = after[metric]
                        row[f"{metric}_change"] = after[metric] - base[metric] if base[metric] is not None else np.nan
                else:
                    before = float((orig[tsel] == labels[tsel]).mean()) if tsel.any() else np.nan
                    after = float((new[v, tsel] == labels[tsel]).mean()) if tsel.any() else np.nan
                    row.update(recall=before, recall_after=after, recall_change=after - before)
            rows.append(row)
    return pd.DataFrame(rows)


def _labels(labels, n: int) -> np.ndarray | None:
    """Expert stages as an int64 array ``(n,)`` (checked), or None."""
    if labels is None:
        return None
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (n,):
        raise StqsError(f"labels must have one stage per epoch ({n}); got shape {labels.shape}")
    return labels


def _softmax(logits: torch.Tensor) -> np.ndarray:
    """Probabilities (float64 ndarray) of logits ``(..., 5)``."""
    return torch.softmax(logits, -1).numpy().astype(np.float64)
