import numpy as np
import pytest
import torch

from stqs_core import STQS, STQSConfig, load_model, make_epochs
from stqs_core.constants import EPOCH_SAMPLES, SFREQ, STAGES
from stqs_core.interpret import (
    DEFAULT_BANDS,
    MODALITY_ROWS,
    aasm_report,
    filter_peaks,
    frequency_occlusion,
    kernels,
    modality_importance,
    occlude_band,
    occlusion,
    render_markdown,
    rule_table,
    spatial_filters,
    temporal_filters,
    time_occlusion,
)

from .conftest import CHECKPOINTS, need

OVERSAMPLING_CNN = "model2d_shhs1_4692_5213_allCh_oversampling_cnn"


def fresh(variant: str, seed: int = 0) -> STQS:
    torch.manual_seed(seed)
    model = STQS(STQSConfig(variant=variant)).eval()
    for bn in [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]:
        bn.running_var.uniform_(0.5, 2.0)  # not the identity, so folding is exercised
    return model


@pytest.fixture(scope="module")
def noise_night():
    """20 epochs of z-scored noise with stage-like labels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 5, EPOCH_SAMPLES)).astype(np.float32)
    return x, rng.integers(0, 5, 20)


@pytest.fixture(scope="module")
def simulated():
    """A simulated 75-minute night through every stage, preprocessed: (epochs, stages, events)."""
    from stqs_core.simulate import simulate_night

    hypnogram = np.repeat([0, 1, 2, 3, 2, 4, 1, 2], [20, 10, 30, 25, 15, 25, 5, 20])
    night = simulate_night(hypnogram, seed=1)
    epochs = make_epochs(night.recording.data, night.recording.sfreq).data
    return epochs, night.stages[: len(epochs)], night.events


def amplitude(signal: np.ndarray, freq: float) -> float:
    t = np.arange(signal.shape[-1]) / SFREQ
    return 2 * abs(np.mean(signal * np.exp(-2j * np.pi * freq * t)))


@pytest.mark.parametrize("band", ["theta", "alpha", "sigma", "beta"])
def test_band_filter_removes_inside_and_keeps_outside(band):
    lo, hi = DEFAULT_BANDS[band]
    freqs = {"in_lo": lo + 1, "in_hi": hi - 1, "out_lo": lo - 1, "out_hi": hi + 1}
    t = np.arange(20 * EPOCH_SAMPLES) / SFREQ
    for name, f in freqs.items():
        signal = np.sin(2 * np.pi * f * t + 0.3)
        epochs = np.tile(signal.reshape(20, 1, EPOCH_SAMPLES), (1, 5, 1)).astype(np.float32)
        stopped = occlude_band(epochs, (lo, hi), renormalize=False)
        passed = occlude_band(epochs, (lo, hi), mode="pass", renormalize=False)
        ratio = amplitude(stopped[:, 0].ravel(), f) / amplitude(signal, f)
        if name.startswith("in"):
            assert 20 * np.log10(max(ratio, 1e-12)) < -40, (name, f, ratio)
        else:
            assert abs(20 * np.log10(ratio)) < 1, (name, f, ratio)
        np.testing.assert_allclose(stopped + passed, epochs, atol=1e-4)  # the two gains sum to one


def test_occlude_band_rows_and_modalities(noise_night):
    x, _ = noise_night
    out = occlude_band(x, DEFAULT_BANDS["alpha"], modalities=("eog",))
    np.testing.assert_array_equal(out[:, [0, 1, 4]], x[:, [0, 1, 4]])
    assert not np.allclose(out[:, 2:4], x[:, 2:4])
    np.testing.assert_allclose(out[:, 2:4].std(-1), 1, atol=1e-4)  # z-scored again
    np.testing.assert_array_equal(occlude_band(x, (8, 12), rows=MODALITY_ROWS["eog"]), out)
    np.testing.assert_array_equal(occlude_band(x, (8, 12), modalities=()), x)
    np.testing.assert_array_equal(occlude_band(x, (5, 5)), x)
    with pytest.raises(ValueError, match="unknown modalities"):
        occlude_band(x, (8, 12), modalities=("ecg",))


@pytest.mark.parametrize("variant", ["cnn", "cnnlstm", "cnnlstm-residual"])
def test_frequency_occlusion_matches_rescoring_the_filtered_night(noise_night, variant):
    x, labels = noise_night
    model = fresh(variant)
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
        np.testing.assert_allclose(empty[[f"d_{s}" for s in STAGES]].to_numpy(), 0, atol=occlusion.CHANGE_ATOL)
        assert not empty.changed.any() and (empty.new_stage == empty.stage).all()
    summary = result.summary
    assert set(summary.stage) == {"all", *STAGES} and len(summary) == 4 * 6
    assert {"accuracy_change", "kappa_change", "recall_change", "true_prob_drop"} <= set(summary.columns)
    assert result.confusion["original"].sum() == len(x)
    assert result.confusion[("alpha", "eog+emg")].shape == (5, 5)


def test_a_change_within_rounding_is_no_change():
    stages = np.array([0, 0, 2])
    tol = occlusion.CHANGE_ATOL
    proba = np.array(
        [
            [
                [0.5, 0.5 + tol / 2, 0, 0, 0],  # the argmax moves by less than rounding: no change
                [0.4, 0.6, 0, 0, 0],  # a real change to N1
                [0.1, 0.1, 0.8, 0, 0],
            ]
        ]
    )  # same stage
    new, changed = occlusion._decisions(proba, stages)
    assert new.tolist() == [[0, 1, 2]] and changed.tolist() == [[False, True, False]]


def test_occluding_everything_gives_the_blank_answer(noise_night):
    x, labels = noise_night
    model = fresh("cnnlstm")
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
    model = fresh(variant)
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


def test_results_are_deterministic(noise_night):
    x, labels = noise_night
    model = fresh("cnnlstm")
    bands = {"sigma": DEFAULT_BANDS["sigma"]}
    first = frequency_occlusion(model, x, labels, bands=bands).per_epoch
    occlusion._CACHE.clear()
    again = frequency_occlusion(model, x.copy(), labels, bands=bands).per_epoch
    assert first.equals(again)
    a = time_occlusion(model, x, 3, window_s=6.0, stride_s=3.0).per_sample
    occlusion._CACHE.clear()
    assert a.equals(time_occlusion(model, x, 3, window_s=6.0, stride_s=3.0).per_sample)


def test_cache_follows_weights_and_data(noise_night):
    x, _ = noise_night
    model = fresh("cnn")
    before = frequency_occlusion(model, x, bands={"alpha": (8, 12)}).proba
    with torch.no_grad():
        model.classifier.bias[0] += 1.0
    np.testing.assert_allclose(
        frequency_occlusion(model, x, bands={"alpha": (8, 12)}).proba, model.predict_proba(x), atol=1e-6
    )
    assert not np.allclose(before, model.predict_proba(x))


def test_filter_tables_find_a_planted_10_hz_kernel():
    model = fresh("cnn")
    taps = np.arange(64)
    kernel = np.hanning(64) * np.cos(2 * np.pi * 10 * taps / SFREQ)
    with torch.no_grad():
        model.blocks["eeg"].temporal1[0].weight[3, 0] = torch.as_tensor(kernel, dtype=torch.float32)
    peaks = filter_peaks(model)
    assert len(peaks) == 3 * 2 * 8
    planted = peaks[(peaks.modality == "eeg") & (peaks.layer == 1) & (peaks["filter"] == 3)].iloc[0]
    assert planted.peak_hz == pytest.approx(10, abs=0.5) and planted.band == "alpha"
    assert (peaks[peaks.layer == 2].peak_hz <= SFREQ / 32).all()  # layer 2 runs at 125/16 Hz
    responses = temporal_filters(model, n_freqs=128)
    assert len(responses) == 3 * (8 * 128 + 8 * 8 * 128)
    w = kernels(model)
    assert len(w) == 3 * (8 * 64 + 8 * 8 * 64)
    assert w[w.layer == 1].time_ms.max() == pytest.approx(63 * 8) and w[w.layer == 2].time_ms.max() == 63 * 128
    assert set(spatial_filters(model).modality) == {"eeg", "eog"}


def test_aasm_report_recovers_the_rules_on_simulated_nights(simulated):
    model = load_model(need(CHECKPOINTS / f"{OVERSAMPLING_CNN}.tar"))
    report = aasm_report(model, simulated[0], simulated[1])
    assert list(report.stage) == list(STAGES)
    assert report.agrees.sum() >= 4, report[["stage", "evidence_occlusion", "evidence_rank", "top_occlusion"]]
    assert report.explanation.str.len().min() > 50
    text = render_markdown(report)
    assert text.count("\n| ") == 1 + len(STAGES)


def test_aasm_report_without_labels_uses_the_model_stages(noise_night):
    x, _ = noise_night
    model = fresh("cnn")
    report = aasm_report(model, [x[:10], x[10:]])
    predicted = set(STAGES[s] for s in model.predict_proba(x).argmax(1))
    assert list(report.stage) == list(STAGES)
    assert set(report.stage[report.n_epochs > 0]) == predicted
    assert not report.agrees[report.n_epochs == 0].any()
    assert "model-scored" in " ".join(report.explanation[report.n_epochs > 0])
    assert "no epochs" in render_markdown(report) or len(predicted) == 5
    only_eeg = frequency_occlusion(model, x, modalities=(("eeg",),)).per_epoch
    with pytest.raises(ValueError, match="lack"):
        rule_table(only_eeg)


def test_time_occlusion_points_at_spindles_and_k_complexes(simulated):
    model = load_model(need(CHECKPOINTS / f"{OVERSAMPLING_CNN}.tar"))
    epochs, stages, events = simulated
    n2 = np.flatnonzero((stages == 2) & (model.predict_proba(epochs).argmax(1) == 2))
    inside, outside = [], []
    for index in n2[::3]:
        ev = events[(events.epoch == index) & events.type.isin(["spindle", "k_complex"])]
        if ev.empty:
            continue
        result = time_occlusion(model, epochs, index, window_s=1.0, stride_s=0.5, modalities=("eeg",))
        mask = np.zeros(EPOCH_SAMPLES, bool)
        for e in ev.itertuples():
            start = int(round((e.onset_s - 30 * index) * SFREQ))
            mask[max(start, 0) : start + int(round(e.duration_s * SFREQ))] = True
        importance = result.per_sample.importance.to_numpy()
        inside.append(importance[mask].mean())
        outside.append(importance[~mask].mean())
    assert len(inside) >= 8
    assert np.mean(inside) >= 2 * np.mean(outside), (np.mean(inside), np.mean(outside))


def test_cli_interpret_writes_tables_and_report(edf_file, model_file, tmp_path):
    from stqs_core.cli import main

    out = tmp_path / "explained"
    assert main(["interpret", str(edf_file), "--model", str(model_file), "--epoch", "2", "--out", str(out)]) == 0
    for name in (
        "frequency_occlusion.csv",
        "modality_importance.csv",
        "filter_peaks.csv",
        "spatial_filters.csv",
        "filters.png",
        "aasm_report.csv",
        "aasm_report.md",
        "time_occlusion_2.csv",
    ):
        assert (out / name).stat().st_size > 0, name
    assert "AASM rules agree" in (out / "aasm_report.md").read_text()
