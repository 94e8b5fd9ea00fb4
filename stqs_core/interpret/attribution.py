"""Attributions per sample: which seconds of an epoch decided its stage, by occlusion or by gradients (Captum).

One API over several methods: :func:`attribute` returns, for each requested epoch, an attribution
``(5, 3750)`` per input row and a per-sample importance ``(3750,)`` (rows combined as each method says below),
always toward the stage the model predicts for that epoch.

Methods
-------
``"occlusion"``
    Zero a window (``window_s``, default 2 s) on every row, sliding by ``stride_s`` (0.5 s), and take the drop of
    the predicted stage's probability (:func:`~stqs_core.interpret.occlusion.time_occlusion`); the same value
    for every row. It measures what the decision *needs*: evidence repeated elsewhere in the epoch scores low.
``"saliency"``, ``"integrated_gradients"``, ``"gradient_shap"``, ``"input_x_gradient"``
    Captum's gradient methods on the predicted stage's logit; baseline the all-zero epoch (the per-epoch mean of
    z-scored input). Importance is the absolute attribution summed over rows, smoothed over :data:`SMOOTH_S`.
``"band_integrated_gradients"`` (default)
    Integrated gradients split by frequency band: the input is the sum of its :data:`BANDS` components
    ``x = sum_b x_b`` (a partition of unity in frequency), so the attribution ``x * g`` (``g`` the gradient
    averaged along the path from the zero epoch) splits exactly into ``x_b * g``, and each band's sum is that
    band's share of the logit's change from the zero epoch (:attr:`Attribution.band_totals`). ``g`` is averaged
    over :data:`NOISE_SAMPLES` copies of the epoch with Gaussian noise of :data:`NOISE_SD` added (SmoothGrad,
    Captum's ``NoiseTunnel``): the gradient of a ReLU network flickers from sample to sample, its average does
    not. Each band's magnitude curve (smoothed over :data:`BAND_SMOOTH_S`, relative to its own mean over the
    epoch) is weighted by the square root of the band's positive share; the importance is the largest weighted
    curve at each sample. A spindle then stands out in the sigma curve and a K-complex or slow wave in the delta
    curve, instead of drowning in the broadband background that dominates the plain ``|x * g|``.

``modality`` restricts the importance curve to one modality's rows (e.g. ``"eeg"`` for EEG waves); ``rows``
always holds every row.

Sequence models see the epoch in its night: the rest of the night is held fixed (features and bi-LSTM state
from the unoccluded pass) and only the epoch's own input varies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..constants import AASM_BANDS, EPOCH_SAMPLES, SFREQ
from ..errors import check_option
from ..model import STQS
from .bands import band_gain
from .baseline import BaselinePass, _baseline
from .occlusion import time_occlusion

METHODS = (
    "band_integrated_gradients",
    "occlusion",
    "saliency",
    "integrated_gradients",
    "gradient_shap",
    "input_x_gradient",
)
DEFAULT_METHOD = "band_integrated_gradients"
SMOOTH_S = 0.5
"""Width (s) of the moving average that turns per-sample gradient attributions into an importance curve."""
BAND_SMOOTH_S = 1.0
"""Width (s) of the moving average of each band's attribution magnitude (``"band_integrated_gradients"``); about
one event (spindles 0.5-2 s, K-complexes ~1 s, slow waves 0.6-1.6 s). Chosen on simulated nights 300-302, not on
the benchmark's nights."""
NOISE_SD = 0.5
"""Standard deviation of SmoothGrad's noise (``"band_integrated_gradients"``), in the z-scored input's units (each
channel of each epoch has standard deviation 1). Chosen on simulated nights 300-302."""
NOISE_SAMPLES = 4
"""Noisy copies of the epoch whose path gradients are averaged (``"band_integrated_gradients"``)."""
N_STEPS = {"integrated_gradients": 24, "gradient_shap": 24, "band_integrated_gradients": 4}
"""Default integration steps (integrated gradients) or baseline samples (gradient SHAP) per method. On nights
300-302 the band method's event AUROC moved by at most 0.006 between 4 and 8 steps per noisy copy (and by 0.002
between 8 and 24 steps without noise)."""
BANDS: dict[str, tuple[float, float]] = {
    name: (0.0 if i == 0 else lo, SFREQ / 2 if i == len(AASM_BANDS) - 1 else hi)
    for i, (name, (lo, hi)) in enumerate(AASM_BANDS.items())
}
"""The AASM bands with the outer edges opened to 0 Hz and Nyquist, so that their pass gains sum to 1."""
_BAND_PAD = 5 * int(SFREQ)  # reflection (samples) on each side of an epoch before it is split into bands


@dataclass
class Attribution:
    """Attributions of some epochs of one night (:func:`attribute`).

    Parameters
    ----------
    method : str
        The method (one of :data:`METHODS`).
    modality : str or None
        The modality whose rows the importance and band totals were built from (None: all rows).
    epochs : ndarray of int, shape (E,)
        The explained epochs (indices into the night, from 0).
    stages : ndarray of int, shape (E,)
        Their predicted stages (0-4 for W, N1, N2, N3, REM): the attribution's target.
    proba : ndarray, shape (E, 5)
        Their stage probabilities.
    rows : ndarray of float32, shape (E, 5, 3750)
        Attribution per input row and sample. ``"occlusion"``: the mean drop (clipped at 0) of the stage's
        probability over the windows covering the sample, the same on every row; ``"saliency"``: the gradient of
        the stage's logit (per unit of z-scored input); the other methods: Captum's attribution of that logit
        (logit units; for the integrated-gradients methods, the sample's share of the logit's change from the
        zero epoch).
    importance : ndarray of float32, shape (E, 3750)
        Per-sample importance, larger: more evidence for the stage (how each method builds it: module docstring).
        Compare it within a method; its units differ between methods.
    band_totals : ndarray, shape (E, len(BANDS)), or None
        ``"band_integrated_gradients"``: each band's attribution summed over the samples of the importance's rows
        (logit units); None for the other methods.
    """

    method: str
    modality: str | None
    epochs: np.ndarray
    stages: np.ndarray
    proba: np.ndarray
    rows: np.ndarray
    importance: np.ndarray
    band_totals: np.ndarray | None = None

    def per_second(self) -> np.ndarray:
        """Mean importance of each second of each epoch.

        Returns
        -------
        ndarray of float32, shape (E, 30)
            The importance averaged over each second's samples.
        """
        return self.importance.reshape(len(self.epochs), -1, int(SFREQ)).mean(-1)

    def to_frame(self):
        """The importance as a tidy table.

        Returns
        -------
        pandas.DataFrame
            One row per epoch and sample (``E * 3750``): ``epoch``, its predicted ``stage`` (0-4), ``time_s`` (s
            from the epoch's start) and ``importance``.
        """
        import pandas as pd

        n = self.importance.shape[1]
        return pd.DataFrame(
            {
                "epoch": np.repeat(self.epochs, n),
                "stage": np.repeat(self.stages, n),
                "time_s": np.tile(np.arange(n) / SFREQ, len(self.epochs)),
                "importance": self.importance.reshape(-1),
            }
        )


class _EpochLogits(nn.Module):
    """Logits ``(B, 5)`` of epoch ``index`` for ``B`` variants of its input ``(B, 5, T)``, the night held fixed.

    ``baseline``: the unoccluded pass of ``model`` over ``epochs`` (:class:`~.baseline.BaselinePass`, made when None).
    """

    def __init__(self, model: STQS, epochs, index: int, baseline: BaselinePass | None = None):
        super().__init__()
        night = _baseline(model, epochs, baseline)
        self.model, self.index = model, index
        head = model.head
        if head is not None:
            start = index // head.window * head.window
            self.window = night.features[start : start + head.window].clone()  # plain tensors: autograd may use them
            state = night.states[index // head.window]
            self.state = None if state is None else tuple(s.clone() for s in state)
            self.at = index - start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.model.features(x)
        if self.model.head is None:
            return self.model.classifier(features)
        window = torch.cat(
            [
                self.window[None].expand(len(x), -1, -1)[:, : self.at],
                features[:, None],
                self.window[None].expand(len(x), -1, -1)[:, self.at + 1 :],
            ],
            dim=1,
        )
        state = None if self.state is None else tuple(s.expand(-1, len(x), -1).contiguous() for s in self.state)
        out, _ = self.model.head(window, state)
        return self.model.classifier(out[:, self.at])


def attribute(
    model: STQS,
    epochs,
    indices,
    method: str = DEFAULT_METHOD,
    *,
    n_steps: int | None = None,
    window_s: float = 2.0,
    stride_s: float = 0.5,
    seed: int = 0,
    modality: str | None = None,
    baseline: BaselinePass | None = None,
) -> Attribution:
    """Attribute the predicted stage of epochs ``indices`` of a night to the samples of their input.

    Parameters
    ----------
    model : STQS
        A loaded model (left in the mode it was in).
    epochs : array, shape (n_epochs, R, 3750)
        The night's preprocessed epochs in order.
    indices : sequence of int
        Epochs to explain.
    method : str
        One of :data:`METHODS`.
    n_steps : int, optional
        Integration steps (integrated gradients) or baseline samples (gradient SHAP); default :data:`N_STEPS`.
    window_s, stride_s : float
        Occlusion window and its step (s).
    seed : int
        Seed of the random baselines and noise (gradient SHAP, the band method's SmoothGrad): the same seed
        gives the same attribution.
    modality : {"eeg", "eog", "emg"} or None
        Build the importance curve from this modality's rows only (None: all rows); one the model has.
        Occlusion blanks every row at once, so its curve is the same whatever the modality.
    baseline : BaselinePass, optional
        The unoccluded pass of ``model`` over ``epochs`` (:mod:`.baseline`; made here when not given).

    Returns
    -------
    Attribution
        The epochs in the order of ``indices`` (negative ones counted from the night's end), each attributed to
        the stage the model predicts for it.

    Raises
    ------
    IndexError
        For no index, or one outside the night.

    Examples
    --------
    >>> from stqs_core import load_model, make_epochs
    >>> from stqs_core.interpret import attribute
    >>> from stqs_core.simulate import simulate_night
    >>> night = simulate_night(hours=0.5, seed=3)
    >>> epochs = make_epochs(night.recording.data, night.recording.sfreq).data  # (60, 5, 3750)
    >>> explained = attribute(load_model("stqs-cnnlstm-sim"), epochs, [10, 20])  # why epochs 10 and 20 got their stage
    >>> explained.importance.shape, explained.per_second().shape  # one value per sample, per second of each epoch
    ((2, 3750), (2, 30))
    """
    check_option("method", method, METHODS)
    n_steps = N_STEPS.get(method, 0) if n_steps is None else n_steps
    night = _baseline(model, epochs, baseline)
    if modality is not None:
        check_option("modality", modality, tuple(night.rows))
    chosen = slice(None) if modality is None else night.rows[modality]
    indices = np.atleast_1d(np.asarray(indices, dtype=int))
    n = len(night.x)
    if len(indices) == 0 or indices.min() < -n or indices.max() >= n:
        raise IndexError(f"epoch indices must lie in [0, {n}); got {indices.tolist()[:5]}")
    indices = indices % n
    stages = night.stages[indices]
    rows = np.empty((len(indices), night.x.shape[1], EPOCH_SAMPLES), dtype=np.float32)
    importance = np.empty((len(indices), EPOCH_SAMPLES), dtype=np.float32)
    band_totals = np.empty((len(indices), len(BANDS))) if method == "band_integrated_gradients" else None
    was_training = model.training
    model.eval()
    try:
        for i, index in enumerate(indices):
            if method == "occlusion":
                result = time_occlusion(model, epochs, int(index), window_s, stride_s, baseline=night)
                rows[i] = result.per_sample.importance.to_numpy()
                importance[i] = rows[i, 0]
            elif method == "band_integrated_gradients":
                x = night.x[index].numpy()
                gradient = _gradient_rows(model, night, int(index), int(stages[i]), "path_gradient", n_steps, seed)
                rows[i] = x * gradient
                importance[i], band_totals[i] = _band_importance(x[chosen], gradient[chosen])
            else:
                rows[i] = _gradient_rows(model, night, int(index), int(stages[i]), method, n_steps, seed)
                importance[i] = _smooth(np.abs(rows[i, chosen]).sum(0), SMOOTH_S)
    finally:
        model.train(was_training)
    return Attribution(method, modality, indices, stages, night.proba[indices], rows, importance, band_totals)


def _smooth(a: np.ndarray, seconds: float) -> np.ndarray:
    """Moving average over ``seconds`` along the last axis of ``a`` ``(..., T)`` (shorter near the ends)."""
    width = max(1, int(round(seconds * SFREQ)))
    flat = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).reshape(-1, 1, a.shape[-1])
    out = torch.nn.functional.avg_pool1d(flat, width, stride=1, padding=width // 2, count_include_pad=False)
    return out[..., : a.shape[-1]].reshape(a.shape).numpy()


def band_split(x: np.ndarray) -> np.ndarray:
    """Split signals into their components in each of :data:`BANDS`.

    Zero-phase filtering in the frequency domain (pass gains of :func:`~stqs_core.interpret.bands.band_gain`,
    which sum to 1 at every frequency), after reflecting 5 s at each end (less for a shorter signal).

    Parameters
    ----------
    x : array, shape (..., T)
        Signals sampled at :data:`~stqs_core.constants.SFREQ`, along the last axis.

    Returns
    -------
    ndarray of float64, shape (len(BANDS), ..., T)
        One component per band, in the order of :data:`BANDS`; they sum to ``x``.
    """
    pad = min(_BAND_PAD, x.shape[-1] - 1)
    widths = [(0, 0)] * (x.ndim - 1) + [(pad, pad)]
    padded = np.pad(np.asarray(x, dtype=np.float64), widths, mode="reflect")
    n = padded.shape[-1]
    freqs = np.fft.rfftfreq(n, 1 / SFREQ)
    gains = np.stack([band_gain(freqs, band, "pass") for band in BANDS.values()])
    spectrum = np.fft.rfft(padded, axis=-1)
    parts = np.fft.irfft(spectrum[None] * gains.reshape(len(BANDS), *([1] * (x.ndim - 1)), -1), n=n, axis=-1)
    return parts[..., pad : pad + x.shape[-1]]


def _band_importance(x: np.ndarray, gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Importance ``(T,)`` and band totals ``(len(BANDS),)`` from input rows ``x`` and path gradients ``(R, T)``.

    Each band's attribution ``x_b * g`` is summed over rows (absolute values), smoothed and divided by its mean
    over the epoch; the curves are weighted by the square root of each band's positive share of the total and
    the importance is their maximum at each sample.
    """
    parts = band_split(x) * gradient[None]
    totals = parts.sum((1, 2))
    curves = _smooth(np.abs(parts).sum(1), BAND_SMOOTH_S)
    curves = curves / np.maximum(curves.mean(-1, keepdims=True), 1e-30)
    weights = np.sqrt(np.clip(totals, 0, None) if (totals > 0).any() else np.abs(totals))
    weights = weights / max(weights.sum(), 1e-30)
    return (weights[:, None] * curves).max(0), totals


def _gradient_rows(
    model: STQS, night: BaselinePass, index: int, stage: int, method: str, n_steps: int, seed: int
) -> np.ndarray:
    """Captum attribution ``(R, T)`` of the stage's logit; ``"path_gradient"``: integrated gradients before the
    multiplication by the input (the gradient averaged along the path from the zero epoch), averaged over
    :data:`NOISE_SAMPLES` noisy copies of the epoch."""
    from captum import attr

    forward = _EpochLogits(model, night.x, index, baseline=night)
    x = night.x[index : index + 1].clone().requires_grad_(True)
    baseline = torch.zeros_like(x)
    if method == "path_gradient":
        with torch.random.fork_rng():  # NoiseTunnel draws its noise from torch's global generator
            torch.manual_seed(seed)
            result = attr.NoiseTunnel(attr.IntegratedGradients(forward, multiply_by_inputs=False)).attribute(
                x,
                nt_type="smoothgrad",
                nt_samples=NOISE_SAMPLES,
                stdevs=NOISE_SD,
                baselines=baseline,
                target=stage,
                n_steps=n_steps,
                internal_batch_size=n_steps * NOISE_SAMPLES,
            )
    elif method == "saliency":
        result = attr.Saliency(forward).attribute(x, target=stage, abs=False)
    elif method == "input_x_gradient":
        result = attr.InputXGradient(forward).attribute(x, target=stage)
    elif method == "integrated_gradients":
        result = attr.IntegratedGradients(forward).attribute(
            x, baseline, target=stage, n_steps=n_steps, internal_batch_size=n_steps
        )
    else:  # Captum draws baselines with NumPy's and noise with torch's global generators: seed both, then restore
        numpy_state = np.random.get_state()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            np.random.seed(seed)
            baselines = torch.cat([baseline, x.detach() * 0.1 * torch.randn(n_steps - 1, 1, 1)])
            result = attr.GradientShap(forward).attribute(x, baselines, target=stage, n_samples=n_steps, stdevs=0.1)
        np.random.set_state(numpy_state)
    return result.detach()[0].numpy()


def event_mask(events, indices, kinds) -> np.ndarray:
    """Where events of some kinds cover the samples of some epochs.

    Parameters
    ----------
    events : pandas.DataFrame
        A simulated night's event table (columns ``type``, ``epoch``, ``onset_s``, ``duration_s``; see
        :class:`~stqs_core.simulate.night.SimulatedNight`).
    indices : array_like of int, shape (E,)
        Epochs.
    kinds : iterable of str
        Simulator event types (e.g. ``("spindle", "k_complex")``).

    Returns
    -------
    ndarray of bool, shape (E, 3750)
        True where such an event covers a sample.
    """
    from ..constants import EPOCH_SEC

    mask = np.zeros((len(indices), EPOCH_SAMPLES), dtype=bool)
    chosen = events[events.type.isin(list(kinds))]
    for i, index in enumerate(indices):
        start = index * EPOCH_SEC
        near = chosen[(chosen.onset_s < start + EPOCH_SEC) & (chosen.onset_s + chosen.duration_s > start)]
        for onset, duration in zip(near.onset_s, near.duration_s):
            lo = int(np.clip(np.floor((onset - start) * SFREQ), 0, EPOCH_SAMPLES))
            hi = int(np.clip(np.ceil((onset + duration - start) * SFREQ), 0, EPOCH_SAMPLES))
            mask[i, lo:hi] = True
    return mask


def deletion_curve(
    model: STQS,
    epochs,
    attribution: Attribution,
    steps: int = 10,
    order: str = "attribution",
    seed: int = 0,
    *,
    baseline: BaselinePass | None = None,
) -> np.ndarray:
    """Probability of each epoch's predicted stage as its most important seconds are zeroed on every row.

    A faithful attribution makes the probability fall faster than the random order does.

    Parameters
    ----------
    model : STQS
        The model the attribution explains.
    epochs : ndarray, shape (n_epochs, R, 3750)
        The night's preprocessed epochs, in order.
    attribution : Attribution
        As :func:`attribute` returns.
    steps : int
        Points of the curve after the first (nothing removed).
    order : str
        ``"attribution"``: seconds in decreasing order of :meth:`Attribution.per_second`; ``"random"``: a seeded
        random order.
    seed : int
        Seed of the random order.
    baseline : BaselinePass, optional
        The unoccluded pass of ``model`` over ``epochs`` (:mod:`.baseline`; made here when not given).

    Returns
    -------
    ndarray, shape (E, steps + 1)
        Column ``k`` has ``round(30 k / steps)`` seconds removed.
    """
    check_option("order", order, ("attribution", "random"))
    per_second = attribution.per_second()
    n_sec = per_second.shape[1]
    rng = np.random.default_rng(seed)
    counts = np.round(np.linspace(0, n_sec, steps + 1)).astype(int)
    curves = np.empty((len(attribution.epochs), steps + 1))
    night = _baseline(model, epochs, baseline)
    was_training = model.training
    model.eval()
    try:
        for i, (index, stage) in enumerate(zip(attribution.epochs, attribution.stages)):
            ranked = np.argsort(-per_second[i], kind="stable") if order == "attribution" else rng.permutation(n_sec)
            x = night.x[index].repeat(len(counts), 1, 1).clone()
            for j, k in enumerate(counts):
                for second in ranked[:k]:
                    x[j, :, second * int(SFREQ) : (second + 1) * int(SFREQ)] = 0.0
            with torch.inference_mode():
                logits = _EpochLogits(model, epochs, int(index), baseline=night)(x)
            curves[i] = torch.softmax(logits, -1)[:, stage].numpy()
    finally:
        model.train(was_training)
    return curves
