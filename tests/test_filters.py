"""Learned filters: kernel, response and peak tables find a kernel planted at a known frequency."""

import numpy as np
import pytest
import torch

from stqs_core.constants import SFREQ
from stqs_core.interpret import filter_peaks, kernels, spatial_filters, temporal_filters

from .conftest import fresh_model


def test_filter_tables_find_a_planted_10_hz_kernel():
    model = fresh_model("cnn")
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
