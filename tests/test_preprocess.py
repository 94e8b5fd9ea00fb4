import logging

import numpy as np
import pytest

from stqs_core.errors import RecordingError
from stqs_core.preprocess import butterworth_gain, fft_filter, make_epochs, resample


def test_filter_matches_scipy_filtfilt_away_from_the_edges():
    from scipy.signal import butter, sosfiltfilt

    x = np.random.default_rng(0).standard_normal(125 * 600)
    ours = fft_filter(x, lambda f: butterworth_gain(f, 125, 0.16, 30), 125).numpy()
    sos_lp, sos_hp = butter(4, 30, fs=125, output="sos"), butter(4, 0.16, "high", fs=125, output="sos")
    ref = sosfiltfilt(sos_hp, sosfiltfilt(sos_lp, x))
    inner = slice(125 * 60, -125 * 60)
    assert np.abs(ours[inner] - ref[inner]).max() < 1e-3 * ref.std()


def test_gain_is_minus_6db_at_the_cutoffs():
    gains = butterworth_gain(np.array([0.16, 10.0, 30.0]), 125, 0.16, 30)
    np.testing.assert_allclose(gains, [0.5, 1.0, 0.5], atol=1e-3)  # |H|^2 of a Butterworth is 1/2 at its cut-off


def test_resampling_keeps_in_band_tones_and_rejects_aliases():
    t = np.arange(256 * 60) / 256
    x = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 100 * t)])  # 100 Hz would alias to 25 Hz
    y = resample(x, 256)
    assert y.shape == (2, 125 * 60)
    assert 0.95 < y[0, 500:-500].std() * np.sqrt(2) < 1.05
    assert y[1, 500:-500].std() < 0.01


@pytest.mark.parametrize("sfreq", [100.5, 0, -125, float("nan")])
def test_non_integer_sampling_rate_is_refused(sfreq):
    with pytest.raises(ValueError, match="whole number"):
        make_epochs(np.zeros((5, 10000)), sfreq)


def test_shorter_than_one_epoch_is_refused():
    with pytest.raises(ValueError, match="shorter than one 30-s epoch"):
        make_epochs(np.zeros((5, 3749)), 125)


def test_epochs_are_zscored_per_channel(random_night):
    epochs = make_epochs(random_night(2.1), 125)
    assert epochs.data.shape == (4, 5, 3750) and epochs.data.dtype == np.float32  # partial epoch dropped
    np.testing.assert_allclose(epochs.data.mean(-1), 0, atol=1e-4)
    np.testing.assert_allclose(epochs.data.std(-1), 1, atol=1e-3)


def test_nan_and_flat_channels_are_flagged_and_scored(random_night, caplog):
    data = random_night(3)
    data[1, 3750 * 2 + 10 : 3750 * 2 + 500] = np.nan
    data[4, 3750 * 4 : 3750 * 6] = 0.0
    with caplog.at_level(logging.WARNING):
        epochs = make_epochs(data, 125, ["a", "b", "c", "d", "chin"])
    assert np.isfinite(epochs.data).all()
    assert epochs.flags == {"nan": {"b": [2]}, "flat": {"chin": [4, 5]}}
    assert np.all(epochs.data[4:6, 4] == 0)  # flat stays flat: mean-centred only
    assert "b: 1 epoch(s) with nan signal" in caplog.text and "chin: 2 epoch(s) with flat signal" in caplog.text


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_samples_are_flagged_like_nan(random_night, caplog, bad):
    data = random_night(3)
    data[3, 3750 * 3 + 7] = bad
    with caplog.at_level(logging.WARNING):
        epochs = make_epochs(data, 125, ["a", "b", "c", "d", "chin"])
    assert np.isfinite(epochs.data).all() and epochs.flags == {"nan": {"d": [3]}, "flat": {}}
    assert "d: 1 epoch(s) with nan signal" in caplog.text


def test_samples_too_large_to_filter_are_a_recording_error_naming_channel_and_time(random_night):
    data = random_night(3).astype(np.float32)
    data[2, 3750 * 4 + 100 : 3750 * 4 + 200] = 3e38  # finite, but filtering overflows float32
    with pytest.raises(RecordingError, match=r"^c: its samples reach 3e\+38 µV at 120.8 s \(epoch 4\), too large"):
        make_epochs(data, 125, ["a", "b", "c", "d", "chin"])


@pytest.mark.parametrize("sfreq", [125, 200, 256])
def test_long_recordings_in_chunks_match_one_pass(random_night, monkeypatch, sfreq):
    """Chunks with 5 min of overlap give the one-pass result: the filters' and resampler's edges stay in the
    overlap. Tolerance: float32 FFTs of different lengths round differently (~1e-6 of z-scored values)."""
    from stqs_core import preprocess

    data = random_night(62, sfreq=sfreq) + 200 * np.sin(np.arange(int(62 * 60 * sfreq)) / sfreq * 2 * np.pi * 0.05)
    data[1, int(1000 * sfreq) : int(1900 * sfreq)] = np.nan  # NaN across the first chunk boundary (epoch 40)
    whole = make_epochs(data, sfreq)
    monkeypatch.setattr(preprocess, "CHUNK_EPOCHS", 40)  # 4 chunks, the last one short
    chunked = make_epochs(data, sfreq)
    assert chunked.data.shape == whole.data.shape == (124, 5, 3750)
    np.testing.assert_allclose(chunked.data, whole.data, atol=5e-5)  # measured 5e-6
    assert chunked.flags == whole.flags and chunked.flags["nan"]["row 1"] == list(range(33, 64))


def test_signals_in_volts_labelled_uv_are_rescaled_not_blanked(random_night, caplog):
    data = random_night(minutes=3.0)
    volts = data.copy()
    volts[:2] *= 1e-6  # both EEG rows recorded in volts
    expected = make_epochs(data, 125.0)
    got = make_epochs(volts, 125.0, channel_names=["C3", "C4", "E1", "E2", "chin"])
    assert not got.flags["flat"]
    np.testing.assert_allclose(got.data, expected.data, atol=1e-4)  # z-scored: the gain cancels
    assert "C3: typical amplitude" in caplog.text and "E1" not in caplog.text
    silent = data.copy()
    silent[4] = 0.0  # a dead channel stays flat, not rescaled
    assert make_epochs(silent, 125.0).flags["flat"]
