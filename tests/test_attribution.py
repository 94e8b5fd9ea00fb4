"""Attribution methods: each deterministic, each checked on a case whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from stqs_core import STQS, STQSConfig
from stqs_core.interpret.attribution import METHODS, _EpochLogits, attribute, deletion_curve, event_mask

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
    if method in ("saliency", "gradient_shap"):
        return  # the gradient (and GradientSHAP's input noise) is not zero where the input is: no known answer

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
