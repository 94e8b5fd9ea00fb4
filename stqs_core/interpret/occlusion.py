"""Occlusion: how the model's decisions change when a frequency band, a stretch of time or a modality is removed.

Every analysis takes a loaded :class:`~stqs_core.model.STQS` and the preprocessed epochs ``(N, R, 3750)`` of one
night in order (the rows of the modalities the model has: R = 5 for the published model; a model with fewer
modalities is analysed over those it has, the absent ones are never occluded nor listed), z-scored as by
:func:`~stqs_core.preprocess.make_epochs`, and is deterministic. The unoccluded
pass is a :class:`~.baseline.BaselinePass`: give the same one (``baseline=``) to every analysis of a night, or
each analysis makes its own. An occlusion only recomputes the modality blocks whose input changed, and for
sequence models the bi-LSTM over the nights of all variants at once (time occlusion: only the window of 8
holding the epoch). Band filters are :mod:`.bands`'; the tables :mod:`.tables`'.

Stages are integer codes 0-4 (:data:`~stqs_core.constants.STAGES`) in per-epoch tables; summary tables name
them, with ``"all"`` for the whole night.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..constants import EPOCH_SAMPLES, SFREQ, STAGES
from ..errors import StqsError
from ..model import STQS
from .bands import (
    DEFAULT_BANDS,
    TRANSITION_HZ,
    _index,
    _modalities,
    _NightSpectrum,
    _passes_all,
    _rezscore,
    _rows,
    _variance,
    band_gain,
)
from .baseline import BaselinePass, _baseline
from .tables import _decisions, _labels, _modality_name, _per_epoch, _softmax, _summary


# ---------------------------------------------------------------------------------------------- frequency
@dataclass
class FrequencyOcclusion:
    """Result of :func:`frequency_occlusion`.

    Parameters
    ----------
    per_epoch : DataFrame
        One row per (band, modalities, epoch): ``stage`` (original prediction), ``new_stage``, ``changed``
        (beyond rounding: :data:`~.tables.CHANGE_ATOL`), ``true`` (with labels), ``drop`` (drop of the originally
        predicted stage's probability) and ``d_W`` .. ``d_REM`` (new minus original probability).
    summary : DataFrame
        One row per (band, modalities, stage in ``"all"``, W..REM): ``n``, ``share_changed``, ``prob_drop``;
        with labels ``n_true``, ``true_prob_drop``, recall, accuracy and kappa before, after and change.
    confusion : dict
        With labels, ``(5, 5)`` counts true x predicted: ``"original"`` and one per ``(band, modalities)``.
    proba : ndarray, shape (N, 5), or None
        Original probabilities.
    """

    per_epoch: pd.DataFrame
    summary: pd.DataFrame
    confusion: dict = field(default_factory=dict)
    proba: np.ndarray | None = None


def frequency_occlusion(
    model: STQS,
    epochs,
    labels=None,
    bands: dict[str, tuple[float, float]] = DEFAULT_BANDS,
    modalities=None,
    mode: str = "stop",
    *,
    transition: float = TRANSITION_HZ,
    renormalize: bool = True,
    baseline: BaselinePass | None = None,
) -> FrequencyOcclusion:
    """Rescore a night with each band removed (or kept alone) on each modality group.

    Parameters
    ----------
    model : STQS
        A loaded model.
    epochs : array_like, shape (N, R, 3750)
        Preprocessed epochs of one night in order.
    labels : array_like, shape (N,), optional
        Expert stages (-1 unscored): adds accuracy, kappa and recall changes.
    bands : dict of str to tuple of 2 float
        Name -> ``(lo, hi)`` (Hz).
    modalities : sequence of sequences of str, optional
        Groups of modality names; each group is filtered together (e.g. ``(("eeg", "eog"),)``). None: each
        modality the model has on its own (``(("eeg",), ("eog",), ("emg",))`` for the published model).
    mode, transition, renormalize
        See :func:`~.bands.occlude_band`.
    baseline : BaselinePass, optional
        The unoccluded pass of ``model`` over ``epochs`` (made here when not given).

    Returns
    -------
    FrequencyOcclusion
        Per-epoch and summary tables, confusion matrices, original probabilities.

    Examples
    --------
    What the model relies on in a simulated night, whose events are known (``stqs interpret`` writes the same
    tables and figures):

    >>> from stqs_core import load_model, make_epochs
    >>> from stqs_core.interpret import frequency_occlusion
    >>> from stqs_core.simulate import simulate_night
    >>> night = simulate_night(hours=0.5, seed=3)
    >>> epochs = make_epochs(night.recording.data, night.recording.sfreq).data
    >>> epochs.shape  # 30-s epochs, rows EEG EEG EOG EOG EMG, samples at 125 Hz
    (60, 5, 3750)
    >>> occlusion = frequency_occlusion(load_model("stqs-cnnlstm-sim"), epochs, night.stages)
    >>> columns = occlusion.summary.columns  # one row per (band, modalities, stage): share changed, drop, ...
    """
    base = _baseline(model, epochs, baseline)
    labels = _labels(labels, len(base.x))
    groups = _groups(modalities, base.rows)
    keys: dict[str, list] = {"band": [], "modalities": []}
    features = []
    progress = tqdm(total=len(groups) * len(bands), desc="frequency occlusion", disable=None)
    with torch.inference_mode():
        for group in groups:
            rows = _rows(group, None, base.rows)
            spectrum = before_var = None
            for name, band in bands.items():
                if rows and not _passes_all(band, mode):
                    if spectrum is None:
                        spectrum = _NightSpectrum(base.x[:, _index(rows)])
                        before_var = _variance(base.x[:, _index(rows)]) if renormalize else None
                    x = spectrum.filtered(band_gain(spectrum.freqs, band, mode, transition))
                    x = _rezscore(x, before_var) if renormalize else x.contiguous()
                    features.append(base.with_blocks(x, rows))
                else:
                    features.append(base.features)
                keys["band"].append(name)
                keys["modalities"].append(_modality_name(group))
                progress.update()
        progress.close()
        proba = _softmax(base.classify(torch.stack(features)))
    confusion = {}
    if labels is not None:
        from ..metrics import confusion as confusion_matrix

        confusion["original"] = confusion_matrix(labels, base.stages)
        for v, key in enumerate(zip(keys["band"], keys["modalities"])):
            confusion[key] = confusion_matrix(labels, _decisions(proba[v], base.stages)[0])
    return FrequencyOcclusion(
        _per_epoch(base, proba, keys, labels), _summary(base, proba, keys, labels), confusion, base.proba
    )


def _groups(modalities, layout: dict[str, list[int]]) -> list[tuple[str, ...]]:
    """Groups of modalities to occlude, checked against the model's ``layout``; None: each modality alone."""
    if modalities is None:
        return [(role,) for role in layout]
    return [_modalities(g, layout) for g in ((modalities,) if isinstance(modalities, str) else modalities)]


# ---------------------------------------------------------------------------------------------- modalities
def modality_importance(model: STQS, epochs, labels=None, *, baseline: BaselinePass | None = None) -> pd.DataFrame:
    """Rescore a night with each modality the model has, each pair and all of them zeroed (zero: the mean of
    z-scored input). A model with fewer modalities lists only those it has (EEG only: one subset).

    Parameters
    ----------
    model : STQS
        A loaded model.
    epochs : array_like, shape (N, R, 3750)
        Preprocessed epochs of one night in order.
    labels : array_like, shape (N,), optional
        Expert stages (-1 unscored).
    baseline : BaselinePass, optional
        The unoccluded pass of ``model`` over ``epochs`` (made here when not given).

    Returns
    -------
    DataFrame
        The summary table of :func:`frequency_occlusion` (``share_changed``, ``prob_drop`` always; with labels
        ``true_prob_drop``, recall, accuracy and kappa changes) with ``occluded`` (e.g. ``"eeg+emg"``) instead
        of band and modalities: 7 subsets (published model) x 6 stages (``"all"``, W..REM) rows.
    """
    base = _baseline(model, epochs, baseline)
    labels = _labels(labels, len(base.x))
    present = tuple(base.rows)
    subsets = [s for k in range(1, len(present) + 1) for s in itertools.combinations(present, k)]
    with torch.inference_mode():
        blank = {role: base.block(role, torch.zeros(1, len(own), EPOCH_SAMPLES))[0] for role, own in base.rows.items()}
        features = []
        for subset in subsets:
            f = base.features.clone()
            for role in subset:
                f[:, base.slices[role]] = blank[role]
            features.append(f)
        proba = _softmax(base.classify(torch.stack(features)))
    return _summary(base, proba, {"occluded": [_modality_name(s) for s in subsets]}, labels)


# ---------------------------------------------------------------------------------------------- time
@dataclass
class TimeOcclusion:
    """Result of :func:`time_occlusion` for epoch ``index``.

    Parameters
    ----------
    index : int
        The epoch.
    stage : int
        Its predicted stage (0-4).
    proba : ndarray, shape (5,)
        Its original probabilities.
    per_sample : DataFrame
        One row per sample of the epoch (3750): ``sample``, ``time_s``, ``share_changed`` (share of the windows
        covering the sample whose occlusion changes the decision), ``mean_drop`` (mean drop of the predicted
        stage's probability over those windows; negative where occluding helps the decision), ``importance``
        (the same mean with each window's drop clipped at 0: evidence *for* the decision, the measure to compare
        stretches of the epoch by), ``flip_to`` (most frequent new stage among the changing windows, -1 where
        none changes).
    windows : DataFrame
        One row per window: ``start``/``stop`` (samples, clipped to the epoch), ``start_s``, ``stop_s``,
        ``new_stage``, ``changed``, ``drop``, ``p_W`` .. ``p_REM``.
    """

    index: int
    stage: int
    proba: np.ndarray
    per_sample: pd.DataFrame
    windows: pd.DataFrame


def time_occlusion(
    model: STQS,
    epochs,
    index: int,
    window_s: float = 5.0,
    stride_s: float = 1.0,
    modalities=None,
    *,
    baseline: BaselinePass | None = None,
) -> TimeOcclusion:
    """Zero a window sliding across epoch ``index`` on the rows of ``modalities`` and rescore that epoch.

    Windows of ``window_s`` start every ``stride_s`` from ``stride_s - window_s`` so that every sample is
    covered by the same number of windows (those at the edges are clipped to the epoch). All windows are
    scored in one batch; only the blocks of ``modalities`` are recomputed, and for sequence models only the
    bi-LSTM window of 8 holding the epoch, from the state the preceding windows leave (the other epochs'
    features are unchanged, later windows do not affect this epoch's decision).

    Parameters
    ----------
    model : STQS
        A loaded model.
    epochs : array_like, shape (N, R, 3750)
        Preprocessed epochs of one night in order.
    index : int
        The epoch to explain (negative counts from the end).
    window_s, stride_s : float
        Window length and step (s), ``0 < stride_s <= window_s``.
    modalities : str or sequence of str, optional
        Modalities whose rows the window zeroes; None: every modality the model has.
    baseline : BaselinePass, optional
        The unoccluded pass of ``model`` over ``epochs`` (made here when not given): give it when explaining
        several epochs of a night.

    Returns
    -------
    TimeOcclusion
        Per-sample importance and per-window probabilities.
    """
    base = _baseline(model, epochs, baseline)
    n = len(base.x)
    if not -n <= index < n:
        raise IndexError(f"epoch index {index} is outside the night's {n} epochs")
    index = index % n
    width, stride = int(round(window_s * SFREQ)), int(round(stride_s * SFREQ))
    if not 0 < stride <= width:
        raise StqsError(f"need 0 < stride_s <= window_s, got stride_s={stride_s}, window_s={window_s}")
    starts = np.arange(stride - width, EPOCH_SAMPLES, stride)
    lo, hi = np.clip(starts, 0, EPOCH_SAMPLES), np.clip(starts + width, 0, EPOCH_SAMPLES)
    modalities = _modalities(modalities, base.rows)
    rows = _rows(modalities, None, base.rows)
    samples = np.arange(EPOCH_SAMPLES)
    cover = (samples >= lo[:, None]) & (samples < hi[:, None])  # (W, T)
    x = base.x[index].repeat(len(starts), 1, 1)
    mask = torch.as_tensor(cover)[:, None, :] & torch.isin(torch.arange(x.shape[1]), torch.as_tensor(rows))[:, None]
    x[mask] = 0.0
    with torch.inference_mode():
        features = base.features[index].repeat(len(starts), 1)
        for role, own in base.rows.items():
            if role in modalities:
                features[:, base.slices[role]] = base.block(role, x[:, own])
        logits = base.classify_epoch(index, features)
    proba = _softmax(logits)
    stage = int(base.stages[index])
    new, changed = _decisions(proba, np.full(len(proba), stage))
    drop = base.proba[index, stage] - proba[:, stage]
    windows = pd.DataFrame(
        {
            "window": np.arange(len(starts)),
            "start": lo,
            "stop": hi,
            "start_s": lo / SFREQ,
            "stop_s": hi / SFREQ,
            "new_stage": new,
            "changed": changed,
            "drop": drop,
            **{f"p_{s}": proba[:, i] for i, s in enumerate(STAGES)},
        }
    )
    n_cover = cover.sum(0)
    flips = np.stack([cover[changed & (new == s)].sum(0) for s in range(len(STAGES))])  # (5, T)
    per_sample = pd.DataFrame(
        {
            "sample": samples,
            "time_s": samples / SFREQ,
            "share_changed": cover[changed].sum(0) / n_cover,
            "mean_drop": drop @ cover / n_cover,
            "importance": np.maximum(drop, 0) @ cover / n_cover,
            "flip_to": np.where(flips.max(0) > 0, flips.argmax(0), -1),
        }
    )
    return TimeOcclusion(index, stage, base.proba[index], per_sample, windows)
