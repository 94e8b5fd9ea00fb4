"""The unoccluded pass: one per night and model, shared by the analyses, refused where it no longer fits."""

import numpy as np
import pytest
import torch

from stqs_core.errors import StqsError
from stqs_core.interpret import (
    DEFAULT_BANDS,
    BaselinePass,
    frequency_occlusion,
    modality_importance,
    time_occlusion,
)

from .conftest import fresh_model


def test_results_are_deterministic(noise_night):
    x, labels = noise_night
    model = fresh_model("cnnlstm")
    bands = {"sigma": DEFAULT_BANDS["sigma"]}
    first = frequency_occlusion(model, x, labels, bands=bands).per_epoch
    again = frequency_occlusion(model, x.copy(), labels, bands=bands).per_epoch  # a pass of its own
    assert first.equals(again)
    a = time_occlusion(model, x, 3, window_s=6.0, stride_s=3.0).per_sample
    assert a.equals(time_occlusion(model, x, 3, window_s=6.0, stride_s=3.0).per_sample)


def test_one_pass_serves_every_analysis_of_the_night(noise_night):
    x, labels = noise_night
    model = fresh_model("cnnlstm")
    baseline = BaselinePass(model, x)
    np.testing.assert_allclose(baseline.proba, model.predict_proba(x), atol=1e-6)
    assert baseline.stages.tolist() == baseline.proba.argmax(1).tolist()
    assert baseline.features.shape == (len(x), 400) and len(baseline.states) == -(-len(x) // model.head.window)
    bands = {"alpha": DEFAULT_BANDS["alpha"]}
    shared = frequency_occlusion(model, x, labels, bands=bands, baseline=baseline).per_epoch
    assert shared.equals(frequency_occlusion(model, x, labels, bands=bands).per_epoch)  # same computation
    assert modality_importance(model, x, labels, baseline=baseline).equals(modality_importance(model, x, labels))
    shared = time_occlusion(model, x, 9, window_s=10.0, stride_s=5.0, baseline=baseline).windows
    assert shared.equals(time_occlusion(model, x, 9, window_s=10.0, stride_s=5.0).windows)


def test_cache_follows_weights_and_data(noise_night):
    x, _ = noise_night
    model = fresh_model("cnn")
    baseline = BaselinePass(model, x)
    before = frequency_occlusion(model, x, bands={"alpha": (8, 12)}, baseline=baseline).proba
    with torch.no_grad():
        model.classifier.bias[0] += 1.0
    np.testing.assert_allclose(
        frequency_occlusion(model, x, bands={"alpha": (8, 12)}).proba, model.predict_proba(x), atol=1e-6
    )
    assert not np.allclose(before, model.predict_proba(x))
    # a pass made before the weights changed, of other epochs, or of another model is refused, not reused
    with pytest.raises(StqsError, match="BaselinePass\\(model, epochs\\)"):
        frequency_occlusion(model, x, bands={"alpha": (8, 12)}, baseline=baseline)
    with pytest.raises(StqsError, match="other epochs"):
        time_occlusion(model, x[::-1].copy(), 0, baseline=BaselinePass(model, x))
    with pytest.raises(StqsError, match="another model"):
        modality_importance(fresh_model("cnn"), x, baseline=BaselinePass(model, x))
    edited = x.copy()
    baseline = BaselinePass(model, edited)  # reads the float32 epochs in place
    edited[0, 0, :10] += 1.0
    with pytest.raises(StqsError, match="other epochs"):
        time_occlusion(model, edited, 0, baseline=baseline)
    with pytest.raises(ValueError, match="BaselinePass"):
        time_occlusion(model, x, 0, baseline="the last one")
