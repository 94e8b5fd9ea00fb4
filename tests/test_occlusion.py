"""Occlusion analyses: each matches rescoring the occluded night from scratch, and finds planted evidence."""

import numpy as np
import pytest

from stqs_core import load_model
from stqs_core.constants import EPOCH_SAMPLES, SFREQ, STAGES
from stqs_core.interpret import (
    BaselinePass,
    frequency_occlusion,
    modality_importance,
    occlude_band,
    tables,
    time_occlusion,
)

from .conftest import CHECKPOINTS, fresh_model, need

OVERSAMPLING_CNN = "model2d_shhs1_4692_5213_allCh_oversampling_cnn"


@pytest.mark.parametrize("variant", ["cnn", "cnnlstm", "cnnlstm-residual"])
def test_frequency_occlusion_matches_rescoring_the_filtered_night(noise_night, variant):
    x, labels = noise_night
    model = fresh_model(variant)
    result = frequency_occlusion(
        model, x, labels, bands={"alpha": (8, 12), "empty": (5, 5)}, modalities=(("eeg",), ("eog", "emg"))
    )
    proba = model.predict_proba(x)
    np.testing.assert_allclose(result.proba, proba, atol=1e-6)
    for mods in (("eeg",), ("eog", "emg")):
        expected = model.predict_proba(occlude_band(x, (8, 12), modalities=mods)) - proba
        got = result.per_epoch.query(f"band == 'alpha' and modalities == '{'+'.join(mods)}'")
        np.testing.assert_allclose(got[[f"d_{s}" for s in STAGES]].to_numpy(), expected, atol=1e-5)
        # An empty band leaves the features as they were, but the night is classified in a batch of variants,
        # not alone: float32 sums in another order (CPU-dependent), ~1e-8 here on AVX-512, 0 on AVX2; CHANGE_ATOL
        # (1e-5) bounds such rounding, and keeps it from counting as a change.
        empty = result.per_epoch.query(f"band == 'empty' and modalities == '{'+'.join(mods)}'")
        np.testing.assert_allclose(empty[[f"d_{s}" for s in STAGES]].to_numpy(), 0, atol=tables.CHANGE_ATOL)
        assert not empty.changed.any() and (empty.new_stage == empty.stage).all()
    summary = result.summary
    assert set(summary.stage) == {"all", *STAGES} and len(summary) == 4 * 6
    assert {"accuracy_change", "kappa_change", "recall_change", "true_prob_drop"} <= set(summary.columns)
    assert result.confusion["original"].sum() == len(x)
    assert result.confusion[("alpha", "eog+emg")].shape == (5, 5)


def test_occluding_everything_gives_the_blank_answer(noise_night):
    x, labels = noise_night
    model = fresh_model("cnnlstm")
    blank = model.predict_proba(np.zeros_like(x))
    result = frequency_occlusion(model, x, bands={"all": (0.0, SFREQ / 2)}, modalities=(("eeg", "eog", "emg"),))
    np.testing.assert_allclose(result.per_epoch[[f"d_{s}" for s in STAGES]].to_numpy(), blank - result.proba, atol=1e-5)
    table = modality_importance(model, x, labels)
    assert len(table) == 7 * 6 and table.occluded.iloc[-1] == "eeg+eog+emg"
    everything = table[(table.occluded == "eeg+eog+emg") & (table.stage == "all")].iloc[0]
    orig = result.proba.argmax(1)
    expected = np.mean(result.proba[np.arange(len(x)), orig] - blank[np.arange(len(x)), orig])
    assert everything.prob_drop == pytest.approx(expected, abs=1e-5)
    assert everything.share_changed == pytest.approx(np.mean(blank.argmax(1) != orig))


@pytest.mark.parametrize("variant", ["cnn", "cnnlstm", "cnnlstm-residual"])
def test_time_occlusion_matches_rescoring_the_occluded_night(noise_night, variant):
    x, _ = noise_night
    model = fresh_model(variant)
    index = 13  # second window of 8, with a state carried from the first
    result = time_occlusion(model, x, index, window_s=12.0, stride_s=9.0, modalities=("eeg", "emg"))
    windows = result.windows
    assert windows.start.min() == 0 and windows.stop.max() == EPOCH_SAMPLES
    for w in windows.itertuples():
        occluded = x.copy()
        occluded[index, [0, 1, 4], w.start : w.stop] = 0
        expected = model.predict_proba(occluded)[index]
        np.testing.assert_allclose([getattr(w, f"p_{s}") for s in STAGES], expected, atol=1e-5)
    per_sample = result.per_sample
    assert len(per_sample) == EPOCH_SAMPLES
    assert (per_sample.importance >= per_sample.mean_drop - 1e-12).all()
    whole = time_occlusion(model, x, index, window_s=30.0, stride_s=30.0)  # one window: the whole epoch
    blanked = x.copy()
    blanked[index] = 0
    np.testing.assert_allclose(
        whole.windows[[f"p_{s}" for s in STAGES]].to_numpy()[0], model.predict_proba(blanked)[index], atol=1e-5
    )


def test_time_occlusion_points_at_spindles_and_k_complexes(simulated_night):
    model = load_model(need(CHECKPOINTS / f"{OVERSAMPLING_CNN}.tar"))
    epochs, stages, events = simulated_night
    baseline = BaselinePass(model, epochs)  # one pass of the night for every epoch explained
    n2 = np.flatnonzero((stages == 2) & (model.predict_proba(epochs).argmax(1) == 2))
    inside, outside = [], []
    for index in n2[::3]:
        ev = events[(events.epoch == index) & events.type.isin(["spindle", "k_complex"])]
        if ev.empty:
            continue
        result = time_occlusion(
            model, epochs, index, window_s=1.0, stride_s=0.5, modalities=("eeg",), baseline=baseline
        )
        mask = np.zeros(EPOCH_SAMPLES, bool)
        for e in ev.itertuples():
            start = int(round((e.onset_s - 30 * index) * SFREQ))
            mask[max(start, 0) : start + int(round(e.duration_s * SFREQ))] = True
        importance = result.per_sample.importance.to_numpy()
        inside.append(importance[mask].mean())
        outside.append(importance[~mask].mean())
    assert len(inside) >= 8
    assert np.mean(inside) >= 2 * np.mean(outside), (np.mean(inside), np.mean(outside))
