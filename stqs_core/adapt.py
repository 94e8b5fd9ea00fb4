"""Label-free adaptation of a model to one recording, and how far a recording lies from the model's training data.

A network's batch-norm layers store the mean and variance of their inputs over the training data (the running
statistics). A recording from another lab (other montage, amplifier, sampling rate, noise) moves those inputs,
and every later layer then sees activations it was not trained on. Without any label:

- ``"adabn-balanced"`` (default): AdaBN on the recording's epochs balanced over the stages the model predicts
  (the same number of epochs of each predicted stage, :func:`adapt_model`'s ``per_stage``), in two rounds (the
  second balances by the first round's predictions). One night's stage mix (half N2) is not the training set's
  (the published and shipped models were trained with the stages oversampled to balance), and plain AdaBN took
  that difference for a lab shift.
- ``"adabn"`` (AdaBN, Li et al. 2018) re-estimates every batch norm's statistics on all the recording's epochs.
- ``"adabn-prior"``: AdaBN whose statistics keep half of the training statistics (the mixture of the two
  Gaussians; Schneider et al. 2020 weigh the training data as a prior in the same way).
- ``"tent"`` (Wang et al. 2021) keeps the statistics and tunes the batch norms' scale and shift for a few passes
  to make the model's predictions on the recording confident (minimum entropy); ``"adabn-tent"``: AdaBN, then TENT.

Each returns an adapted copy (:func:`adapt_model`); the model given is never changed. The out-of-domain score
(:func:`ood_score`) compares the statistics AdaBN finds on a recording with the stored training statistics and
adds the model's doubt.

Measured (``benchmarks/adapt_methods.py``: 2 simulated nights of 1.5 h per lab profile of the domain-shift suite;
Cohen's kappa, mean over the 21 profiles, no adaptation / adabn-balanced / adabn / adabn-prior):

- published SHHS ``oversampling_cnn``: 0.874 / **0.911** / 0.801 / 0.848;
- shipped ``stqs-cnn-oversampling-sim``: **0.876** / 0.847 / 0.638 / 0.772.

``"adabn-balanced"`` costs nothing in-domain (0.95 and 0.96 kept; plain AdaBN 0.82 and 0.69 on these short
nights) and recovers the published CNN's cost of a 15-Hz low-pass (90%), clipping at 50 µV (105%) and a Cz
reference (75%); it recovers little or nothing of a frontal/occipital montage, older subjects or a scorer's habits,
which no label-free method here does (see ``docs/domain_shift.md``). On the published SHHS
``oversampling_cnnlstm`` plain ``"adabn"`` measured better (0.841 vs 0.753, none 0.813, on 8 shifted profiles
and in-domain).
Adapt when :func:`ood_score` warns.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import nn

from .errors import RecordingError, check_option, check_range
from .model import STQS

logger = logging.getLogger(__name__)

METHODS = ("adabn-balanced", "adabn", "adabn-prior", "tent", "adabn-tent")
DEFAULT_METHOD = "adabn-balanced"
BALANCED_ROUNDS = 2
"""``"adabn-balanced"``: rounds of predicting the stages and re-estimating the statistics on the balanced epochs
(the first round predicts with the model as given, the second with the first round's copy)."""
MIN_EPOCHS = 10
"""Fewer 30-s epochs than this give batch-norm statistics too noisy to adapt to (or to judge a recording by)."""
OOD_WARN = 0.2
"""Scoring warns above this :func:`ood_score`: just above the highest score of the shipped CNN on its in-domain
calibration nights (0.08-0.19, ``benchmarks/ood.py``); its costly shifted nights score 0.19-0.32."""


def adapt_model(
    model: STQS,
    epochs,
    method: str = DEFAULT_METHOD,
    batch_size: int = 64,
    prior: float = 0.5,
    steps: int = 2,
    lr: float = 1e-3,
    per_stage: int = 60,
) -> STQS:
    """A copy of ``model`` adapted to one recording without labels; ``model`` itself is left unchanged.

    Parameters
    ----------
    model : STQS
        The model to adapt (not modified).
    epochs : array (n_epochs, R, 3750)
        The recording's preprocessed epochs in order (:func:`~stqs_core.preprocess.make_epochs`), at least
        :data:`MIN_EPOCHS`.
    method : {"adabn-balanced", "adabn", "adabn-prior", "tent", "adabn-tent"}
        See the module docstring.
    batch_size : int
        Epochs per CNN call: memory stays flat on an 8-hour night.
    prior : float
        ``"adabn-prior"`` only: the share of the stored (training) statistics kept, in [0, 1].
    steps, lr : int, float
        TENT only: passes over the recording and Adam learning rate for the batch norms' scale and shift.
    per_stage : int
        ``"adabn-balanced"`` only: epochs drawn per predicted stage (spread over the stage's epochs, repeated when
        it has fewer).

    Returns
    -------
    STQS
        The adapted copy, in eval mode. The same inputs give the same weights.

    Examples
    --------
    >>> from stqs_core import load_model, make_epochs
    >>> from stqs_core.adapt import adapt_model
    >>> from stqs_core.simulate import simulate_night
    >>> rec = simulate_night(hours=1, seed=0, profile="montage-cz-ref").recording  # a lab unlike the training's
    >>> epochs = make_epochs(rec.data, rec.sfreq).data
    >>> adapted = adapt_model(load_model("stqs-cnnlstm-sim"), epochs, "adabn")
    >>> adapted.predict_proba(epochs).shape, adapted.info["adaptation"]
    ((120, 5), {'method': 'adabn', 'n_epochs': 120})
    """
    check_option("adaptation method", method, METHODS)
    check_range("prior", prior, 0, 1)
    check_range("steps", steps, 1)
    check_range("lr", lr, 0)
    check_range("per_stage", per_stage, 1)
    x = model._as_input(epochs)
    if len(x) < MIN_EPOCHS:
        raise RecordingError(
            f"adapting needs at least {MIN_EPOCHS} epochs ({MIN_EPOCHS // 2} min), the recording "
            f"has {len(x)}: score it without adaptation"
        )
    adapted = copy.deepcopy(model).eval()
    if method == "adabn-balanced":
        for _ in range(BALANCED_ROUNDS):
            stages = adapted.predict_proba(x, batch_size).argmax(1)
            adapted = copy.deepcopy(model).eval()
            _adabn(adapted, x[torch.from_numpy(_balanced(stages, per_stage))], batch_size)
    if method in ("adabn", "adabn-prior", "adabn-tent"):
        _adabn(adapted, x, batch_size, prior if method == "adabn-prior" else 0.0)
    if method in ("tent", "adabn-tent"):
        _tent(adapted, x, int(steps), lr, batch_size)
    adapted.info["adaptation"] = {"method": method, "n_epochs": len(x)}
    logger.info("adapted %s to %d epochs by %s", adapted.config.variant, len(x), method)
    return adapted.eval()


def _balanced(stages: np.ndarray, per_stage: int) -> np.ndarray:
    """Sorted indices of ``per_stage`` epochs of each stage present in ``stages`` ``(n_epochs,)``, spread over
    that stage's epochs (repeated when it has fewer): every stage weighs alike, as in class-balanced training."""
    picks = []
    for stage in np.unique(stages):
        where = np.flatnonzero(stages == stage)
        picks.append(where[np.linspace(0, len(where) - 1, per_stage).round().astype(int)])
    return np.sort(np.concatenate(picks))


def _batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _spread_chunks(n: int, size: int) -> list[torch.Tensor]:
    """Indices ``0..n-1`` in ``ceil(n / size)`` chunks of (almost) equal size, each spread over the whole night:
    chunk ``j`` takes epochs ``j, j + k, j + 2k, ...``. Each chunk then holds every part of the night, so the
    mean of the chunks' statistics is close to the night's."""
    k = -(-n // size)
    return [torch.arange(j, n, k) for j in range(k)]


@torch.no_grad()
def _adabn(model: STQS, x: torch.Tensor, batch_size: int, prior: float = 0.0) -> None:
    """Replace every batch norm's running statistics by those of ``x`` (in place; dropout stays off).

    ``prior`` > 0 keeps that share of the stored statistics: the mean and variance of the mixture
    ``prior * N(m0, v0) + (1 - prior) * N(m, v)`` of the stored and the recording's Gaussians.
    """
    norms = _batch_norms(model)
    stored = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in norms]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the chunks
        bn.train()
    features = torch.empty(len(x), sum(b.out_features for b in model.blocks.values()))
    for index in _spread_chunks(len(x), batch_size):
        features[index] = model.features(x[index])
    if model.head is not None and model.head.residual is not None:
        model.head.residual(features)  # one batch: the night's features are small (N, 400)
    for bn, momentum, (m0, v0) in zip(norms, momenta, stored):
        bn.momentum = momentum
        bn.eval()
        m, v = bn.running_mean.clone(), bn.running_var.clone()
        bn.running_mean.copy_(prior * m0 + (1 - prior) * m)
        bn.running_var.copy_(prior * v0 + (1 - prior) * v + prior * (1 - prior) * (m - m0) ** 2)


def _tent(model: STQS, x: torch.Tensor, steps: int, lr: float, batch_size: int) -> None:
    """Minimise the mean prediction entropy over ``x`` by the batch norms' scale and shift (in place).

    Statistics stay as they are (eval mode); chunks are consecutive epochs, so the sequence head reads a night.
    """
    norms = _batch_norms(model)
    params = [p for bn in norms for p in (bn.weight, bn.bias)]
    requires = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(params, lr=lr)
    chunk = max(batch_size, model.config.window) // model.config.window * model.config.window
    for _ in range(steps):
        for start in range(0, len(x), chunk):
            logits = model(x[start : start + chunk])
            loss = _entropy(torch.log_softmax(logits, dim=1)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    for p, flag in zip(model.parameters(), requires):
        p.requires_grad_(flag)
        p.grad = None


def _entropy(log_proba: torch.Tensor) -> torch.Tensor:
    return -(log_proba.exp() * log_proba).sum(dim=1)


def confidence(proba: np.ndarray) -> np.ndarray:
    """Per-epoch confidence: the highest stage probability.

    Parameters
    ----------
    proba : ndarray, shape (n_epochs, n_stages)
        Stage probabilities.

    Returns
    -------
    ndarray, shape (n_epochs,)
        In [1/n_stages, 1].
    """
    return np.asarray(proba).max(axis=1)


def normalised_entropy(proba: np.ndarray) -> np.ndarray:
    """Per-epoch entropy of the stage probabilities divided by ``log(n_stages)``.

    Parameters
    ----------
    proba : ndarray, shape (n_epochs, n_stages)
        Stage probabilities.

    Returns
    -------
    ndarray of float64, shape (n_epochs,)
        0 for one certain stage, 1 for all stages equally likely.
    """
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1)
    return np.clip(-(p * np.log(p)).sum(axis=1) / np.log(p.shape[1]), 0, 1)


_INPUT_LAYERS = ("spatial.1", "temporal1.1")
"""Name ends of the batch norms right after the layers that read the signals (spatial mixing, first filter bank)."""
_DEEP_LAYERS = ("temporal2.1",)
"""Name ends of the batch norms after the second filter bank (the CNN's last)."""
OOD_WEIGHTS = {"input": 1.0, "deep": 0.2, "doubt": 2.0}
"""Weights of the three parts of :func:`ood_score` (set on the in-domain calibration nights of ``benchmarks/ood.py``,
seeds 2000-2003, and checked on the suite's other nights)."""


def ood_score(model: STQS, epochs, proba=None, max_epochs: int = 240, batch_size: int = 64) -> float:
    """How far a recording lies from the model's training data, from 0 (alike) towards 1.

    The recording's batch-norm input statistics (AdaBN on at most ``max_epochs`` of its epochs, spread over the
    night: per channel a mean ``m`` and variance ``v``) against those stored in the model (the training data's
    ``m0``, ``v0``), and the model's doubt, added with :data:`OOD_WEIGHTS`:

    - ``input``: the input's spectral shape per channel as the first layers see it (each modality's spatial mixing
      and first filter bank, whose output variance is the power in the filter's band): per channel
      ``(m - m0)**2 / v0 + log(v / v0)**2``, averaged over channels then layers;
    - ``deep``: the mean shift ``(m - m0)**2 / v0`` after the second filter bank, averaged likewise. Weighed low:
      it follows the night's stage mix too, but it catches a model that answers one stage with confidence on a
      recording it cannot read (the doubt then falls);
    - ``doubt``: ``1 -`` the mean over epochs of the highest stage probability of the unadapted model.

    With ``r`` the weighted sum, the score is ``r / (1 + r)``. Measured in ``benchmarks/ood.py``; compare scores
    of one model, and see :data:`OOD_WARN`.

    Parameters
    ----------
    model : STQS
        The model whose training data the recording is compared with (not modified).
    epochs : array (n_epochs, R, 3750)
        The recording's preprocessed epochs in order (:func:`~stqs_core.preprocess.make_epochs`), at least
        :data:`MIN_EPOCHS`.
    proba : array (n_epochs, 5), optional
        ``model``'s stage probabilities on ``epochs`` (:meth:`~stqs_core.model.STQS.predict_proba`), when already
        computed; computed here when None.
    max_epochs : int
        At most this many epochs, evenly spaced over the night, are used for the statistics (all when fewer).
    batch_size : int
        Epochs per CNN call.

    Returns
    -------
    float
        The score, in [0, 1) (scoring warns above :data:`OOD_WARN`).

    Raises
    ------
    RecordingError
        For fewer than :data:`MIN_EPOCHS` epochs.
    """
    if proba is None:
        proba = model.predict_proba(epochs, batch_size)
    n = len(epochs)
    if n > max_epochs:
        epochs = np.asarray(epochs)[np.linspace(0, n - 1, max_epochs).round().astype(int)]
    adapted = dict(adapt_model(model, epochs, "adabn", batch_size).named_modules())
    parts = {"input": [], "deep": []}
    for name, ref in model.named_modules():
        if not isinstance(ref, nn.modules.batchnorm._BatchNorm) or not name.endswith(_INPUT_LAYERS + _DEEP_LAYERS):
            continue
        rec = adapted[name]
        v0, v = ref.running_var.double() + ref.eps, rec.running_var.double() + rec.eps
        shift = (rec.running_mean.double() - ref.running_mean.double()) ** 2 / v0
        if name.endswith(_INPUT_LAYERS):
            parts["input"].append(float((shift + torch.log(v / v0) ** 2).mean()))
        else:
            parts["deep"].append(float(shift.mean()))
    terms = {k: float(np.mean(v)) for k, v in parts.items()} | {"doubt": 1 - float(confidence(proba).mean())}
    r = sum(OOD_WEIGHTS[k] * terms[k] for k in OOD_WEIGHTS)
    return r / (1 + r)
