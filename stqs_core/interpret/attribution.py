"""Attributions per sample: which seconds of an epoch decided its stage, by occlusion or by gradients (Captum).

One API over several methods: :func:`attribute` returns, for each requested epoch, an attribution
``(5, 3750)`` per input row and a per-sample importance ``(3750,)`` (rows summed, smoothed over
:data:`SMOOTH_S`), always toward the stage the model predicts for that epoch.

Methods
-------
``"occlusion"``
    Zero a window (``window_s``, default 2 s) on every row, sliding by ``stride_s`` (0.5 s), and take the drop of
    the predicted stage's probability (:func:`~stqs_core.interpret.occlusion.time_occlusion`); the same value
    for every row. It measures what the decision *needs*: evidence repeated elsewhere in the epoch scores low.
``"saliency"``, ``"integrated_gradients"``, ``"gradient_shap"``, ``"input_x_gradient"``
    Captum's gradient methods on the predicted stage's logit; baseline the all-zero epoch (the per-epoch mean of
    z-scored input). Importance is the absolute attribution summed over rows.

Sequence models see the epoch in its night: the rest of the night is held fixed (features and bi-LSTM state
from the unoccluded pass) and only the epoch's own input varies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..constants import EPOCH_SAMPLES, SFREQ
from ..errors import check_option
from ..model import STQS
from .baseline import BaselinePass, _baseline
from .occlusion import time_occlusion

METHODS = ("occlusion", "saliency", "integrated_gradients", "gradient_shap", "input_x_gradient")
DEFAULT_METHOD = "integrated_gradients"
SMOOTH_S = 0.5
"""Width (s) of the moving average that turns per-sample gradient attributions into an importance curve."""


@dataclass
class Attribution:
    """Attributions of some epochs of one night.

    ``epochs`` ``(E,)`` indices, ``stages`` ``(E,)`` predicted stages (the attribution target), ``proba``
    ``(E, 5)``, ``rows`` ``(E, 5, 3750)`` attribution per input row, ``importance`` ``(E, 3750)`` per-sample
    importance (larger: more evidence for the stage), ``method`` its name.
    """

    method: str
    epochs: np.ndarray
    stages: np.ndarray
    proba: np.ndarray
    rows: np.ndarray
    importance: np.ndarray

    def per_second(self) -> np.ndarray:
        """Mean importance of each second ``(E, 30)``."""
        return self.importance.reshape(len(self.epochs), -1, int(SFREQ)).mean(-1)

    def to_frame(self):
        """Tidy table: one row per epoch and sample (``epoch``, ``stage``, ``time_s``, ``importance``)."""
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
    n_steps: int = 24,
    window_s: float = 2.0,
    stride_s: float = 0.5,
    seed: int = 0,
    baseline: BaselinePass | None = None,
) -> Attribution:
    """Attribute the predicted stage of epochs ``indices`` of a night to the samples of their input.

    Parameters
    ----------
    model : STQS
        A loaded model (left in the mode it was in).
    epochs : array, shape (n_epochs, 5, 3750)
        The night's preprocessed epochs in order.
    indices : sequence of int
        Epochs to explain.
    method : str
        One of :data:`METHODS`.
    n_steps : int
        Integration steps (integrated gradients) or baseline samples (gradient SHAP).
    window_s, stride_s : float
        Occlusion window and its step (s).
    seed : int
        Seed of gradient SHAP's baselines and noise: the same seed gives the same attribution.
    baseline : BaselinePass, optional
        The unoccluded pass of ``model`` over ``epochs`` (:mod:`.baseline`; made here when not given).
    """
    check_option("method", method, METHODS)
    night = _baseline(model, epochs, baseline)
    indices = np.atleast_1d(np.asarray(indices, dtype=int))
    n = len(night.x)
    if len(indices) == 0 or indices.min() < -n or indices.max() >= n:
        raise IndexError(f"epoch indices must lie in [0, {n}); got {indices.tolist()[:5]}")
    indices = indices % n
    stages = night.stages[indices]
    rows = np.empty((len(indices), night.x.shape[1], EPOCH_SAMPLES), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        for i, index in enumerate(indices):
            if method == "occlusion":
                result = time_occlusion(model, epochs, int(index), window_s, stride_s, baseline=night)
                rows[i] = result.per_sample.importance.to_numpy()
            else:
                rows[i] = _gradient_rows(model, night, int(index), int(stages[i]), method, n_steps, seed)
    finally:
        model.train(was_training)
    if method == "occlusion":
        importance = rows[:, 0].copy()
    else:
        width = max(1, int(round(SMOOTH_S * SFREQ)))
        summed = torch.from_numpy(np.abs(rows).sum(1))[:, None]
        importance = torch.nn.functional.avg_pool1d(
            summed, width, stride=1, padding=width // 2, count_include_pad=False
        )[:, 0, :EPOCH_SAMPLES].numpy()
    return Attribution(method, indices, stages, night.proba[indices], rows, importance)


def _gradient_rows(
    model: STQS, night: BaselinePass, index: int, stage: int, method: str, n_steps: int, seed: int
) -> np.ndarray:
    from captum import attr

    forward = _EpochLogits(model, night.x, index, baseline=night)
    x = night.x[index : index + 1].clone().requires_grad_(True)
    baseline = torch.zeros_like(x)
    if method == "saliency":
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
    epochs : ndarray, shape (n_epochs, 5, 3750)
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
