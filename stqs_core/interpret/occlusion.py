"""Occlusion: how the model's decisions change when a frequency band, a stretch of time or a modality is removed.

Every function takes a loaded :class:`~stqs_core.model.STQS` and the preprocessed epochs ``(N, 5, 3750)`` of one
night in order (z-scored as by :func:`~stqs_core.preprocess.make_epochs`) and is deterministic. The unoccluded
pass (per-modality CNN features, probabilities, bi-LSTM states at each window start) is computed once per night
and reused: an occlusion only recomputes the modality blocks whose input changed, and for sequence models the
bi-LSTM over the nights of all variants at once (time occlusion: only the window of 8 holding the epoch).

Stages are integer codes 0-4 (:data:`~stqs_core.constants.STAGES`) in per-epoch tables; summary tables name
them, with ``"all"`` for the whole night.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..constants import AASM_BANDS, EPOCH_SAMPLES, N_CHANNELS, ROLES, SFREQ, STAGES
from ..errors import StqsError
from ..model import STQS

logger = logging.getLogger(__name__)

DEFAULT_BANDS: dict[str, tuple[float, float]] = dict(AASM_BANDS)
"""delta 0.16-4, theta 4-8, alpha 8-12, sigma 12-16, beta 16-30 Hz."""

MODALITY_ROWS: dict[str, list[int]] = {}
_row = 0
for _role in ROLES:
    MODALITY_ROWS[_role] = list(range(_row, _row + N_CHANNELS[_role]))
    _row += N_CHANNELS[_role]
del _row, _role

TRANSITION_HZ = 0.5
"""Width (Hz) of the raised-cosine edges of the occlusion filters, centred on each band edge (gain 1/2 there)."""

CHANGE_ATOL = 1e-5
"""A decision counts as changed only where the new stage's probability beats the original stage's by more than
this. The network computes in float32 (eps 1.2e-7); rescoring the same features in another batch shape sums the
~400 products of each logit in another order (the CPU's kernels choose it: AVX-512 and AVX2 differ), which moves
probabilities by about 1e-7 to 1e-6. So a near-tie must not flip by rounding; a band or window that matters moves
them by 1e-3 or more."""

_PAD_S = 20.0  # overlap on each side of a filtering block, and reflection at the night's ends (s)
_BLOCK = 1 << 15  # samples per filtering block (262 s at 125 Hz)


# ---------------------------------------------------------------------------------------------- band filters
def band_gain(
    freqs: np.ndarray,
    band: tuple[float, float],
    mode: str = "stop",
    transition: float = TRANSITION_HZ,
    sfreq: float = SFREQ,
) -> np.ndarray:
    """Zero-phase gain at ``freqs`` (Hz) that removes (``"stop"``) or keeps only (``"pass"``) ``band`` (Hz).

    Each band edge is a raised-cosine ramp ``transition`` Hz wide centred on the edge: a sinusoid more than
    ``transition / 2`` inside the band is removed exactly, one more than ``transition / 2`` outside is untouched.
    An edge at or below 0 Hz (above Nyquist) leaves that side open; ``hi <= lo`` is the empty band.
    """
    if mode not in ("stop", "pass"):
        raise StqsError(f"mode must be 'stop' (remove the band) or 'pass' (keep only the band), got {mode!r}")
    lo, hi = band
    freqs = np.asarray(freqs, dtype=np.float64)
    if hi <= lo:
        inside = np.zeros_like(freqs)
    else:
        inside = np.ones_like(freqs)
        if lo > 0:
            inside *= _ramp(freqs - lo, transition)
        if hi < sfreq / 2:
            inside *= _ramp(hi - freqs, transition)
    return 1.0 - inside if mode == "stop" else inside


def _ramp(distance: np.ndarray, width: float) -> np.ndarray:
    """0 below ``-width/2``, 1 above ``+width/2``, a half cosine in between."""
    if width <= 0:
        return (distance >= 0).astype(np.float64)
    return 0.5 * (1 + np.sin(np.pi * np.clip(distance / width, -0.5, 0.5)))


class _NightSpectrum:
    """Spectra of rows of a night ``(N, R, T)`` read as R continuous signals, for filtering by many gains.

    Overlap-save: each row, extended by reflection at the night's ends, is cut into blocks of
    :data:`_BLOCK` samples overlapping by twice :data:`_PAD_S`, each block transformed on its own; only the
    central part of each filtered block is kept. Short FFTs are faster than one FFT of the whole night, and
    the filters' impulse responses (a few seconds) are far shorter than the overlap.
    """

    def __init__(self, x: torch.Tensor, sfreq: float = SFREQ):
        self.shape = x.shape
        n, r, t = x.shape
        length = n * t
        signal = x.permute(1, 0, 2).reshape(r, length)
        self.pad = pad = min(int(_PAD_S * sfreq), length - 1)
        self.block = min(_BLOCK, 1 << (length + 2 * pad - 1).bit_length())
        self.step = self.block - 2 * pad
        n_blocks = -(-length // self.step)
        tail = n_blocks * self.step + pad - length  # samples after the end: reflection, then zeros
        parts = [signal[:, 1 : pad + 1].flip(-1), signal, signal[:, -pad - 1 : -1].flip(-1)]
        if tail > pad:
            parts.append(signal.new_zeros(r, tail - pad))
        signal = torch.cat(parts, dim=-1)[:, : n_blocks * self.step + 2 * pad]
        self.spectrum = torch.fft.rfft(signal.unfold(-1, self.block, self.step))  # (R, n_blocks, block // 2 + 1)
        self.freqs = np.fft.rfftfreq(self.block, 1 / sfreq)

    def filtered(self, gain: np.ndarray) -> torch.Tensor:
        """The rows filtered by ``gain`` (one value per frequency of :attr:`freqs`), back as ``(N, R, T)``.

        The result is a strided view of a ``(R, N, T)`` array: assign it into place rather than copying it.
        """
        n, r, t = self.shape
        out = torch.fft.irfft(self.spectrum * torch.as_tensor(gain, dtype=torch.float32), n=self.block)
        out = out[..., self.pad : self.pad + self.step].reshape(r, -1)[:, : n * t]
        return out.reshape(r, n, t).permute(1, 0, 2)


def _rezscore(x: torch.Tensor, before_var: torch.Tensor) -> torch.Tensor:
    """Z-score each channel of each epoch of ``x`` ``(N, R, T)`` again; channels the filter emptied become 0.

    ``before_var`` ``(N, R, 1)`` is each channel-epoch's variance before filtering: one left with less than
    1e-6 of it (-60 dB) is set to zero rather than blown up back to unit variance.
    """
    var, mean = torch.var_mean(x, -1, keepdim=True, correction=0)
    scale = torch.where(var > 1e-6 * before_var, var.clamp_min(1e-24).rsqrt(), 0)
    return (x - mean).mul_(scale)


def _variance(x: torch.Tensor) -> torch.Tensor:
    return torch.var(x, -1, keepdim=True, correction=0)


def _modalities(modalities) -> tuple[str, ...]:
    """A modality name or names as a tuple, checked."""
    modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
    unknown = set(modalities) - set(ROLES)
    if unknown:
        raise StqsError(f"unknown modalities {sorted(unknown)}; choose from {ROLES}")
    return modalities


def _rows(modalities, rows) -> list[int]:
    if rows is not None:
        return sorted(set(int(r) for r in rows))
    modalities = _modalities(modalities)
    return [r for role in ROLES if role in modalities for r in MODALITY_ROWS[role]]


def occlude_band(
    epochs,
    band: tuple[float, float],
    modalities=ROLES,
    mode: str = "stop",
    *,
    rows=None,
    transition: float = TRANSITION_HZ,
    renormalize: bool = True,
) -> np.ndarray:
    """Remove (``"stop"``) or keep only (``"pass"``) ``band`` (Hz) on the rows of ``modalities``.

    Each row of the night is filtered as one continuous signal (its epochs concatenated, 20 s of reflection
    at the night's ends; FFTs of overlapping 262-s blocks) with the gain of :func:`band_gain`. With
    ``renormalize`` each filtered channel of each epoch is z-scored again, as preprocessing would have left a
    signal without that band; a channel-epoch the filter emptied (below -60 dB) becomes zeros.

    Parameters
    ----------
    epochs : array ``(N, 5, 3750)``, preprocessed epochs of one night in order.
    band : ``(lo, hi)`` in Hz.
    modalities : modality names (``"eeg"``, ``"eog"``, ``"emg"``) whose rows are filtered.
    rows : row indices, instead of ``modalities``.
    transition : width (Hz) of the filter edges.

    Returns
    -------
    ``(N, 5, 3750)`` float32; rows not filtered are returned unchanged.
    """
    x = torch.as_tensor(np.asarray(epochs), dtype=torch.float32)
    if x.ndim != 3:
        raise StqsError(f"epochs must have shape (N, 5, 3750); got {tuple(x.shape)}")
    out = x.clone()
    rows = _rows(modalities, rows)
    if rows and not _passes_all(band, mode):
        index = _index(rows)
        spectrum = _NightSpectrum(x[:, index])
        filtered = spectrum.filtered(band_gain(spectrum.freqs, band, mode, transition))
        out[:, index] = _rezscore(filtered, _variance(x[:, index])) if renormalize else filtered
    return out.numpy()


def _passes_all(band: tuple[float, float], mode: str) -> bool:
    """True when the filter is the identity (an empty band stopped, or everything passed): skip the FFTs."""
    lo, hi = band
    return hi <= lo if mode == "stop" else (lo <= 0 and hi >= SFREQ / 2)


def _index(rows: list[int]) -> slice | list[int]:
    """Rows as a slice where they are contiguous (basic indexing: views, no copies)."""
    return slice(rows[0], rows[-1] + 1) if rows == list(range(rows[0], rows[-1] + 1)) else rows


# ---------------------------------------------------------------------------------------------- the night
class _Night:
    """The unoccluded pass of one night: network, per-modality features, probabilities, LSTM states."""

    def __init__(self, model: STQS, epochs, batch_size: int = 128):
        self.x = model._as_input(epochs)
        self.batch_size = batch_size
        model.eval()
        self.model = model
        self.slices, start = {}, 0
        for role, block in self.model.blocks.items():
            self.slices[role] = slice(start, start + block.out_features)
            start += block.out_features
        with torch.inference_mode():
            self.features = torch.cat([self.block(role, self.x[:, MODALITY_ROWS[role]]) for role in ROLES], dim=1)
            self.states = self._window_states()
            self.logits = self.classify(self.features[None])[0]
        self.proba = torch.softmax(self.logits, -1).numpy().astype(np.float64)
        self.stages = self.proba.argmax(1)

    def block(self, role: str, x: torch.Tensor) -> torch.Tensor:
        """Features ``(n, F_role)`` of one modality's rows ``(n, C, T)``, in chunks."""
        block = self.model.blocks[role]
        return torch.cat([block(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)])

    def _window_states(self) -> list:
        """The bi-LSTM state entering each window of the night (sequence models), zeros for the first."""
        head = self.model.head
        if head is None:
            return []
        states, state = [None], None
        for start in range(0, len(self.x), head.window):
            _, state = head(self.features[None, start : start + head.window], state)
            states.append(state)
        return states[:-1]

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(V, N, 5)`` of ``V`` variants of the night's features ``(V, N, 400)``, all at once."""
        head = self.model.head
        if head is None:
            return self.model.classifier(features)
        state, outputs = None, []
        for start in range(0, features.shape[1], head.window):
            out, state = head(features[:, start : start + head.window], state)
            outputs.append(out)
        return self.model.classifier(torch.cat(outputs, dim=1))

    def with_blocks(self, x: torch.Tensor, rows: list[int]) -> torch.Tensor:
        """The night's features with the blocks recomputed whose rows ``rows`` (in role order) are now ``x``.

        ``x`` ``(N, len(rows), T)``; every modality of ``rows`` must be given whole.
        """
        features = self.features.clone()
        for role in ROLES:
            if MODALITY_ROWS[role][0] in rows:
                at = rows.index(MODALITY_ROWS[role][0])
                features[:, self.slices[role]] = self.block(role, x[:, at : at + N_CHANNELS[role]])
        return features


_CACHE: dict = {}


def _night(model: STQS, epochs) -> _Night:
    """The :class:`_Night` of ``(model, epochs)``, reused while model weights and epochs are unchanged.

    One night is kept, keyed by the model's identity, a checksum of its weights and one of the epochs
    (the entry is replaced in one step, so concurrent callers see either the old or the new night).
    """
    x = torch.as_tensor(np.asarray(epochs), dtype=torch.float32)
    with torch.no_grad():
        weights = tuple(float(t.double().sum()) for t in model.state_dict().values() if t.is_floating_point())
        data = (float(np.sum(x.numpy(), dtype=np.float64)), float(torch.linalg.vector_norm(x)))
    key = (id(model), tuple(x.shape), weights, data)
    cached = _CACHE.get("last")
    if cached is not None and cached[0] == key:
        return cached[1]
    logger.info("unoccluded pass of %d epochs (%s), kept for later occlusions", len(x), model.config.variant)
    night = _Night(model, x)
    _CACHE["last"] = (key, night)
    return night


# ---------------------------------------------------------------------------------------------- summaries
def _decisions(proba: np.ndarray, stages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New stages and whether each changed, ``(..., N)`` both, from rescored probabilities ``(..., N, 5)`` and the
    original stages ``(N,)``: the most probable stage where it beats the original one by more than
    :data:`CHANGE_ATOL`, else the original stage (unchanged)."""
    best = proba.argmax(-1)
    original = np.broadcast_to(stages, best.shape)
    margin = np.take_along_axis(proba, best[..., None], -1) - np.take_along_axis(proba, original[..., None], -1)
    changed = margin[..., 0] > CHANGE_ATOL
    return np.where(changed, best, original), changed


def _modality_name(modalities) -> str:
    return "+".join(role for role in ROLES if role in modalities) or "none"


def _per_epoch(night: _Night, proba: np.ndarray, keys: dict[str, list], labels) -> pd.DataFrame:
    """One row per (variant, epoch): original and new stage, changed, probability changes per stage."""
    v, n = proba.shape[:2]
    new, changed = _decisions(proba, night.stages)
    cols = {name: np.repeat(values, n) for name, values in keys.items()}
    cols.update(
        epoch=np.tile(np.arange(n), v), stage=np.tile(night.stages, v), new_stage=new.ravel(), changed=changed.ravel()
    )
    if labels is not None:
        cols["true"] = np.tile(labels, v)
    cols["drop"] = (night.proba[np.arange(n), night.stages] - proba[:, np.arange(n), night.stages]).ravel()
    delta = proba - night.proba
    for i, s in enumerate(STAGES):
        cols[f"d_{s}"] = delta[..., i].ravel()
    return pd.DataFrame(cols)


def _summary(night: _Night, proba: np.ndarray, keys: dict[str, list], labels) -> pd.DataFrame:
    """One row per (variant, stage in ``"all"``, W..REM): share changed, probability drops, metric changes.

    By originally predicted stage: ``n``, ``share_changed``, ``prob_drop`` (mean drop of the predicted
    stage's probability). With labels, by true stage: ``n_true``, ``true_prob_drop`` (mean drop of the true
    stage's probability), ``recall``/``recall_after``/``recall_change``; for ``"all"`` also accuracy and
    kappa before, after and change.
    """
    from ..metrics import agreement

    n = len(night.stages)
    orig = night.stages
    new, changed = _decisions(proba, orig)
    drop = night.proba[np.arange(n), orig] - proba[:, np.arange(n), orig]  # (V, N)
    if labels is not None:
        scored = labels >= 0
        safe = np.where(scored, labels, 0)
        true_drop = night.proba[np.arange(n), safe] - proba[:, np.arange(n), safe]
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
    if labels is None:
        return None
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (n,):
        raise StqsError(f"labels must have one stage per epoch ({n}); got shape {labels.shape}")
    return labels


def _softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits, -1).numpy().astype(np.float64)


# ---------------------------------------------------------------------------------------------- frequency
@dataclass
class FrequencyOcclusion:
    """Result of :func:`frequency_occlusion`.

    ``per_epoch``: one row per (band, modalities, epoch): ``stage`` (original prediction), ``new_stage``,
    ``changed`` (beyond rounding: :data:`CHANGE_ATOL`), ``true`` (with labels), ``drop`` (drop of the originally
    predicted stage's probability) and ``d_W`` .. ``d_REM`` (new minus original probability). ``summary``: see
    ``_summary``: one row per (band, modalities, stage). ``confusion``: with labels, ``(5, 5)`` counts true x
    predicted, ``"original"`` and one per ``(band, modalities)``. ``proba``: original probabilities ``(N, 5)``.
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
    modalities=(("eeg",), ("eog",), ("emg",)),
    mode: str = "stop",
    *,
    transition: float = TRANSITION_HZ,
    renormalize: bool = True,
) -> FrequencyOcclusion:
    """Rescore a night with each band removed (or kept alone) on each modality group.

    Parameters
    ----------
    model : loaded STQS.
    epochs : ``(N, 5, 3750)`` preprocessed epochs of one night in order.
    labels : ``(N,)`` expert stages (-1 unscored), optional: adds accuracy, kappa and recall changes.
    bands : name -> ``(lo, hi)`` Hz.
    modalities : groups of modality names; each group is filtered together (e.g. ``(("eeg", "eog"),)``).
    mode, transition, renormalize : see :func:`occlude_band`.
    """
    night = _night(model, epochs)
    labels = _labels(labels, len(night.x))
    groups = [_modalities(g) for g in ((modalities,) if isinstance(modalities, str) else modalities)]
    keys: dict[str, list] = {"band": [], "modalities": []}
    features = []
    progress = tqdm(total=len(groups) * len(bands), desc="frequency occlusion", disable=None)
    with torch.inference_mode():
        for group in groups:
            rows = _rows(group, None)
            spectrum = before_var = None
            for name, band in bands.items():
                if rows and not _passes_all(band, mode):
                    if spectrum is None:
                        spectrum = _NightSpectrum(night.x[:, _index(rows)])
                        before_var = _variance(night.x[:, _index(rows)]) if renormalize else None
                    x = spectrum.filtered(band_gain(spectrum.freqs, band, mode, transition))
                    x = _rezscore(x, before_var) if renormalize else x.contiguous()
                    features.append(night.with_blocks(x, rows))
                else:
                    features.append(night.features)
                keys["band"].append(name)
                keys["modalities"].append(_modality_name(group))
                progress.update()
        progress.close()
        proba = _softmax(night.classify(torch.stack(features)))
    confusion = {}
    if labels is not None:
        from ..metrics import confusion as confusion_matrix

        confusion["original"] = confusion_matrix(labels, night.stages)
        for v, key in enumerate(zip(keys["band"], keys["modalities"])):
            confusion[key] = confusion_matrix(labels, _decisions(proba[v], night.stages)[0])
    return FrequencyOcclusion(
        _per_epoch(night, proba, keys, labels), _summary(night, proba, keys, labels), confusion, night.proba
    )


# ---------------------------------------------------------------------------------------------- modalities
def modality_importance(model: STQS, epochs, labels=None) -> pd.DataFrame:
    """Rescore a night with EEG, EOG, EMG, each pair, and all three zeroed (the z-score baseline).

    Returns the summary table of :func:`frequency_occlusion` (``share_changed``, ``prob_drop`` always; with
    labels ``true_prob_drop``, recall, accuracy and kappa changes) with ``occluded`` (e.g. ``"eeg+emg"``)
    instead of band and modalities.
    """
    night = _night(model, epochs)
    labels = _labels(labels, len(night.x))
    subsets = [s for k in (1, 2, 3) for s in itertools.combinations(ROLES, k)]
    with torch.inference_mode():
        blank = {role: night.block(role, torch.zeros(1, N_CHANNELS[role], EPOCH_SAMPLES))[0] for role in ROLES}
        features = []
        for subset in subsets:
            f = night.features.clone()
            for role in subset:
                f[:, night.slices[role]] = blank[role]
            features.append(f)
        proba = _softmax(night.classify(torch.stack(features)))
    return _summary(night, proba, {"occluded": [_modality_name(s) for s in subsets]}, labels)


# ---------------------------------------------------------------------------------------------- time
@dataclass
class TimeOcclusion:
    """Result of :func:`time_occlusion` for epoch ``index``.

    ``per_sample``: one row per sample of the epoch: ``sample``, ``time_s``, ``share_changed`` (share of the
    windows covering the sample whose occlusion changes the decision), ``mean_drop`` (mean drop of the
    predicted stage's probability over those windows; negative where occluding helps the decision),
    ``importance`` (the same mean with each window's drop clipped at 0: evidence *for* the decision, the
    measure to compare stretches of the epoch by), ``flip_to`` (most frequent new stage among the
    changing windows, -1 where none changes). ``windows``: one row per window: ``start``/``stop`` (samples,
    clipped to the epoch), ``start_s``, ``stop_s``, ``new_stage``, ``changed``, ``drop``, ``p_W`` .. ``p_REM``.
    """

    index: int
    stage: int
    proba: np.ndarray
    per_sample: pd.DataFrame
    windows: pd.DataFrame


def time_occlusion(
    model: STQS, epochs, index: int, window_s: float = 5.0, stride_s: float = 1.0, modalities=ROLES
) -> TimeOcclusion:
    """Zero a window sliding across epoch ``index`` on the rows of ``modalities`` and rescore that epoch.

    Windows of ``window_s`` start every ``stride_s`` from ``stride_s - window_s`` so that every sample is
    covered by the same number of windows (those at the edges are clipped to the epoch). All windows are
    scored in one batch; only the blocks of ``modalities`` are recomputed, and for sequence models only the
    bi-LSTM window of 8 holding the epoch, from the state the preceding windows leave (the other epochs'
    features are unchanged, later windows do not affect this epoch's decision).
    """
    night = _night(model, epochs)
    n = len(night.x)
    if not -n <= index < n:
        raise IndexError(f"epoch index {index} is outside the night's {n} epochs")
    index = index % n
    width, stride = int(round(window_s * SFREQ)), int(round(stride_s * SFREQ))
    if not 0 < stride <= width:
        raise StqsError(f"need 0 < stride_s <= window_s, got stride_s={stride_s}, window_s={window_s}")
    starts = np.arange(stride - width, EPOCH_SAMPLES, stride)
    lo, hi = np.clip(starts, 0, EPOCH_SAMPLES), np.clip(starts + width, 0, EPOCH_SAMPLES)
    modalities = _modalities(modalities)
    rows = _rows(modalities, None)
    samples = np.arange(EPOCH_SAMPLES)
    cover = (samples >= lo[:, None]) & (samples < hi[:, None])  # (W, T)
    x = night.x[index].repeat(len(starts), 1, 1)
    mask = torch.as_tensor(cover)[:, None, :] & torch.isin(torch.arange(x.shape[1]), torch.as_tensor(rows))[:, None]
    x[mask] = 0.0
    with torch.inference_mode():
        features = night.features[index].repeat(len(starts), 1)
        for role in ROLES:
            if role in modalities:
                features[:, night.slices[role]] = night.block(role, x[:, MODALITY_ROWS[role]])
        logits = _score_one(night, index, features)
    proba = _softmax(logits)
    stage = int(night.stages[index])
    new, changed = _decisions(proba, np.full(len(proba), stage))
    drop = night.proba[index, stage] - proba[:, stage]
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
    return TimeOcclusion(index, stage, night.proba[index], per_sample, windows)


def _score_one(night: _Night, index: int, features: torch.Tensor) -> torch.Tensor:
    """Logits ``(W, 5)`` of epoch ``index`` for ``W`` variants of its features ``(W, 400)``."""
    head = night.model.head
    if head is None:
        return night.model.classifier(features)
    w = index // head.window
    start = w * head.window
    window = night.features[start : start + head.window].repeat(len(features), 1, 1)
    window[:, index - start] = features
    state = night.states[w]
    if state is not None:
        state = tuple(s.expand(-1, len(features), -1).contiguous() for s in state)
    out, _ = head(window, state)
    return night.model.classifier(out[:, index - start])
