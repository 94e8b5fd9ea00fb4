"""Band filters for occlusion: what a stop band removes and keeps, on which rows."""

import numpy as np
import pytest

from stqs_core.constants import EPOCH_SAMPLES, SFREQ
from stqs_core.interpret import DEFAULT_BANDS, MODALITY_ROWS, occlude_band


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
