"""Attribution methods: each deterministic, each checked on a case whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from stqs_core import STQS, STQSConfig
from stqs_core.constants import SFREQ
from stqs_core.interpret.attribution import (
    BANDS,
    METHODS,
    SMOOTH_S,
    _EpochLogits,
    _smooth,
    attribute,
    band_split,
    deletion_curve,
    event_mask,
)

pytest.importorskip("captum")


def fresh(variant: str) -> STQS:
    torch.manual_seed(1)
    return STQS(STQSConfig(variant=variant)).eval()


@pytest.fixture(scope="module")
def night():
    """12 epochs of noise; epoch 5 is silent except seconds 10-14 on every row."""
    x = np.random.default_rng(0).standard_normal((12, 5, 3750)).astype(np.float32)
    x[5] = 0.0
    x[5, :, 1250:1875] = np.random.default_rng(1).standard_normal((5, 625))
    return x


@pytest.mark.parametrize("variant", ["cnn", "cnnlstm"])
def test_epoch_forward_is_the_models_night(night, variant):
    model = fresh(variant)
    logits = model.predict_logits(night)
    for index in (0, 5, 11):
        got = _EpochLogits(model, night, index)(torch.from_numpy(night[index : index + 1])).detach().numpy()
        np.testing.assert_allclose(got[0], logits[index], rtol=1e-4, atol=1e-4)  # float32, other batch sizes


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_and_silent_samples_carry_nothing(night, method):
    model = fresh("cnnlstm")
    first = attribute(model, night, [5, 7], method)
    again = attribute(model, night, [5, 7], method)
    np.testing.assert_array_equal(first.importance, again.importance)
    assert first.rows.shape == (2, 5, 3750) and first.importance.shape == (2, 3750)
    assert not model.training
    if method in ("saliency", "gradient_shap", "band_integrated_gradients"):
        return  # the gradient (GradientSHAP's noise, a band filter's ringing) is not zero where the input is

    # input-times-gradient methods and occlusion with zero baseline: nothing where the input is already zero,
    # beyond the reach of smoothing (0.5 s) or of a window that also covers the signal (2 s)
    silent = np.r_[0 : 1250 - 250, 1875 + 250 : 3750]
    assert np.abs(first.importance[0, silent]).max() <= 1e-6 * np.abs(first.importance[0]).max() + 1e-12
    assert np.abs(first.importance[0, 1250:1875]).max() > 0


def test_saliency_is_the_gradient_of_the_stage_logit(night):
    model = fresh("cnn")
    result = attribute(model, night, [3], "saliency")
    x = torch.from_numpy(night[3:4]).clone().requires_grad_(True)
    model(x)[0, result.stages[0]].backward()
    np.testing.assert_allclose(result.rows[0], x.grad[0].numpy(), rtol=1e-4, atol=1e-6)


def test_deletion_of_a_known_evidence_window(night):
    """Epoch 5 holds signal in seconds 10-14 only: deleting by attribution silences it within ~7 s, random does not."""
    model = fresh("cnn")
    attribution = attribute(model, night, [5], "occlusion")
    curve = deletion_curve(model, night, attribution, steps=30)
    random = deletion_curve(model, night, attribution, steps=30, order="random", seed=3)
    assert curve.shape == random.shape == (1, 31)
    assert curve[0, 0] == pytest.approx(attribution.proba[0, attribution.stages[0]], abs=1e-5)
    silent = curve[0, -1]  # every second removed

    def first_silent(c):
        return int(np.flatnonzero(np.abs(c - silent) > 1e-6).max()) + 1

    assert first_silent(curve[0]) <= 7  # the 5 evidence seconds, give or take a neighbour the 2-s window reached
    assert first_silent(random[0]) > 7


def test_event_mask():
    events = pd.DataFrame(
        {
            "type": ["spindle", "k_complex", "spindle"],
            "epoch": [0, 0, 1],
            "onset_s": [2.0, 29.5, 31.0],
            "duration_s": [1.0, 1.0, 0.5],
        }
    )
    mask = event_mask(events, [0, 1], ["spindle", "k_complex"])
    assert mask[0, 250:375].all() and mask[0, 3687:].all() and mask[0].sum() == 125 + 63  # partial samples count
    assert mask[1, :63].all() and mask[1, 125:188].all() and mask[1].sum() == 63 + 63  # the K-complex spills over
    with pytest.raises(ValueError, match="method"):
        attribute(fresh("cnn"), np.zeros((2, 5, 3750), np.float32), [0], "lrp")


class _Linear(nn.Module):
    """A modality block whose one feature is ``sum(x * weight)``: a linear model has a known attribution."""

    def __init__(self, weight: np.ndarray):
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float32), requires_grad=False)
        self.n_channels, self.out_features = weight.shape[0], 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight).sum((1, 2))[:, None]


def linear_model(eeg_weight: np.ndarray) -> STQS:
    """A CNN-shaped STQS whose W logit is ``sum(x[:2] * eeg_weight) + 10`` and whose other logits are 0."""
    model = fresh("cnn")
    model.blocks["eeg"] = _Linear(eeg_weight)
    model.blocks["eog"] = _Linear(np.zeros((2, 3750)))
    model.blocks["emg"] = _Linear(np.zeros((1, 3750)))
    model.classifier = nn.Linear(3, 5)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.weight[0, 0] = 1.0
        model.classifier.bias.zero_()
        model.classifier.bias[0] = 10.0
    return model.eval()


def test_band_split_is_a_partition_and_finds_the_band():
    x = np.random.default_rng(2).standard_normal((2, 3750))
    parts = band_split(x)
    assert parts.shape == (len(BANDS), 2, 3750)
    np.testing.assert_allclose(parts.sum(0), x, atol=1e-9)  # gains sum to 1: float64 FFT round-off only
    t = np.arange(3750) / SFREQ
    tone = np.sin(2 * np.pi * 13.5 * t)
    parts = band_split(tone)
    middle = slice(5 * 125, 25 * 125)  # away from the reflected ends
    sigma = list(BANDS).index("sigma")
    np.testing.assert_allclose(parts[sigma, middle], tone[middle], atol=1e-3)
    assert np.abs(np.delete(parts, sigma, 0)[:, middle]).max() < 1e-3


def test_band_integrated_gradients_on_a_linear_model():
    """The W logit is the correlation of EEG C3 with a 13.5-Hz tone; the epoch holds that tone in seconds 10-12
    and a large 1-Hz wave on C4 (weight 0) in seconds 20-22. Known answer: attribution ``x * w``, all of it in
    the sigma band, the importance highest in seconds 10-12 and nothing drawn by the slow wave."""
    t = np.arange(3750) / SFREQ
    weight = np.zeros((2, 3750))
    weight[0] = np.sin(2 * np.pi * 13.5 * t)
    x = np.zeros((3, 5, 3750), np.float32)
    burst = (t >= 10) & (t < 12)
    x[1, 0, burst] = (np.sin(np.pi * (t[burst] - 10) / 2) ** 2 * weight[0, burst]).astype(np.float32)
    wave = (t >= 20) & (t < 22)
    x[1, 1, wave] = 5 * np.sin(2 * np.pi * t[wave]).astype(np.float32)
    model = linear_model(weight)
    result = attribute(model, x, [1])
    assert result.method == "band_integrated_gradients" and result.stages[0] == 0
    np.testing.assert_allclose(result.rows[0, :2], x[1, :2] * weight, atol=1e-5)  # the gradient is w, noise or not
    total = float((x[1, :2] * weight).sum())
    totals = result.band_totals[0]
    np.testing.assert_allclose(totals.sum(), total, rtol=1e-4)  # float32 gradient times float64 bands
    assert totals[list(BANDS).index("sigma")] == pytest.approx(total, rel=1e-3)
    importance = result.importance[0]
    assert burst[importance.argmax()]
    assert importance[wave].max() < 0.05 * importance.max()
    again = attribute(model, x, [1], seed=5)  # the noise cannot move a linear model's gradient
    np.testing.assert_allclose(again.importance, result.importance, rtol=1e-4, atol=1e-6)


def test_modality_builds_the_importance_from_its_rows(night):
    model = fresh("cnn")
    everything = attribute(model, night, [3], "input_x_gradient")
    emg = attribute(model, night, [3], "input_x_gradient", modality="emg")
    np.testing.assert_array_equal(emg.rows, everything.rows)
    assert emg.modality == "emg" and everything.modality is None
    np.testing.assert_allclose(emg.importance, _smooth(np.abs(emg.rows[:, 4]), SMOOTH_S), rtol=1e-6)
    np.testing.assert_allclose(everything.importance, _smooth(np.abs(emg.rows).sum(1), SMOOTH_S), rtol=1e-5)
    with pytest.raises(ValueError, match="modality"):
        attribute(model, night, [3], "saliency", modality="ecg")
