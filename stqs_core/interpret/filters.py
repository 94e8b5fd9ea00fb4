"""The learned filters of an STQS model: spatial mixing weights, temporal kernels and their frequency responses.

Weights are the *effective* ones, each batch norm folded into its convolution (as the network applies them in
eval mode); the folded kernel differs from the raw one by a per-filter scale and the bias only.

Layer 1 (``temporal1``) kernels act on the 125-Hz signal: their responses cover 0-62.5 Hz and their peaks are
named by AASM band. Layer 2 (``temporal2``) kernels act on layer 1's 8 feature maps *after* 16x max-pooling,
i.e. at 125 / 16 = 7.8125 Hz: their responses (0-3.9 Hz) describe how fast the envelopes of the layer-1
outputs may change, one response per input feature map; their peak is that of the power summed over input
maps, and has no AASM band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import AASM_BANDS, SFREQ
from ..fastconv import fold_batch_norm
from ..model import STQS

LAYER_SFREQ = {1: SFREQ, 2: SFREQ / 16}
"""Sampling rate (Hz) of each temporal layer's input (layer 2 follows a max-pool of 16)."""


def _layers(model: STQS) -> dict[tuple[str, int], np.ndarray]:
    """Effective kernels ``(n_filters, n_in, n_taps)`` per (modality, layer)."""
    return {
        (role, layer): _folded(getattr(model.blocks[role], f"temporal{layer}"))[0].astype(np.float64)
        for role in model.config.modalities
        for layer in (1, 2)
    }


def _folded(layers) -> tuple[np.ndarray, np.ndarray]:
    """Effective ``(weight, bias)`` of a ``Sequential(Conv1d, BatchNorm1d, ...)``."""
    return tuple(t.detach().numpy() for t in fold_batch_norm(layers[0], layers[1]))


def kernels(model: STQS) -> pd.DataFrame:
    """Kernel weights over time.

    Parameters
    ----------
    model : STQS
        A loaded model.

    Returns
    -------
    pandas.DataFrame
        One row per (modality, layer, filter, in_channel, tap), with ``weight`` and ``time_ms``.
    """
    frames = []
    for (role, layer), w in _layers(model).items():
        f, c, k = np.indices(w.shape).reshape(3, -1)
        frames.append(
            pd.DataFrame(
                {
                    "modality": role,
                    "layer": layer,
                    "filter": f,
                    "in_channel": c,
                    "tap": k,
                    "time_ms": k * 1000 / LAYER_SFREQ[layer],
                    "weight": w.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def temporal_filters(model: STQS, n_freqs: int = 512) -> pd.DataFrame:
    """Frequency response of every temporal kernel.

    Parameters
    ----------
    model : STQS
        A loaded model.
    n_freqs : int
        Frequencies from 0 to the layer's Nyquist frequency (see :data:`LAYER_SFREQ`).

    Returns
    -------
    pandas.DataFrame
        One row per (modality, layer, filter, in_channel, freq_hz); ``gain_db`` is ``20 log10 |H(f)|`` of the
        effective kernel (:func:`scipy.signal.freqz`).
    """
    from scipy.signal import freqz

    frames = []
    for (role, layer), w in _layers(model).items():
        n_filters, n_in, n_taps = w.shape
        freqs, h = freqz(w.reshape(-1, n_taps).T[..., None], worN=n_freqs, fs=LAYER_SFREQ[layer])  # (F*C, n_freqs)
        gain = 20 * np.log10(np.maximum(np.abs(h), 1e-12))
        f, c = np.divmod(np.arange(n_filters * n_in), n_in)
        frames.append(
            pd.DataFrame(
                {
                    "modality": role,
                    "layer": layer,
                    "filter": np.repeat(f, n_freqs),
                    "in_channel": np.repeat(c, n_freqs),
                    "freq_hz": np.tile(freqs, n_filters * n_in),
                    "gain_db": gain.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def band_of(freq_hz: float) -> str:
    """AASM band name of a frequency.

    Parameters
    ----------
    freq_hz : float
        Frequency in Hz.

    Returns
    -------
    str
        A key of :data:`~stqs_core.constants.AASM_BANDS`, or ``"<0.16 Hz"`` / ``">30 Hz"`` outside them.
    """
    for name, (lo, hi) in AASM_BANDS.items():
        if lo <= freq_hz < hi:
            return name
    return f"<{AASM_BANDS['delta'][0]:g} Hz" if freq_hz < AASM_BANDS["delta"][0] else f">{AASM_BANDS['beta'][1]:g} Hz"


def filter_peaks(model: STQS, n_freqs: int = 512) -> pd.DataFrame:
    """Peak frequency of every temporal kernel.

    Parameters
    ----------
    model : STQS
        A loaded model.
    n_freqs : int
        Frequencies of the response (see :func:`temporal_filters`).

    Returns
    -------
    pandas.DataFrame
        One row per (modality, layer, filter): ``peak_hz``, ``peak_db`` and ``band`` (AASM band of a layer-1 peak;
        empty for layer 2, whose peak is that of the power summed over its 8 input maps at 7.8 Hz).
    """
    responses = temporal_filters(model, n_freqs)
    power = responses.assign(power=10 ** (responses.gain_db / 10))
    summed = power.groupby(["modality", "layer", "filter", "freq_hz"], sort=False)["power"].sum().reset_index()
    peaks = summed.loc[summed.groupby(["modality", "layer", "filter"], sort=False)["power"].idxmax()]
    peaks = peaks.assign(peak_hz=peaks.freq_hz, peak_db=10 * np.log10(peaks.power))
    peaks["band"] = [band_of(f) if layer == 1 else "" for f, layer in zip(peaks.peak_hz, peaks.layer)]
    return peaks[["modality", "layer", "filter", "peak_hz", "peak_db", "band"]].reset_index(drop=True)


def spatial_filters(model: STQS) -> pd.DataFrame:
    """Spatial mixing of two-channel modalities.

    Parameters
    ----------
    model : STQS
        A loaded model.

    Returns
    -------
    pandas.DataFrame
        One row per (modality, virtual_channel, in_channel); ``weight`` and ``bias`` are the effective ones
        (batch norm folded in); ``channel`` names the input row (from ``model.info``).
    """
    names = model.info.get("channels", {})
    rows = []
    for role in model.config.modalities:
        spatial = model.blocks[role].spatial
        if spatial is None:
            continue
        w, b = _folded(spatial)
        w = w[:, :, 0]
        for v in range(w.shape[0]):
            for c in range(w.shape[1]):
                channel = names.get(role, [])[c] if c < len(names.get(role, [])) else f"{role} {c}"
                rows.append(
                    {
                        "modality": role,
                        "virtual_channel": v,
                        "in_channel": c,
                        "channel": channel,
                        "weight": float(w[v, c]),
                        "bias": float(b[v]),
                    }
                )
    return pd.DataFrame(rows)
