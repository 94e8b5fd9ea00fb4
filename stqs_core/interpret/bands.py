"""Band filtering for occlusion: remove a frequency band from (or keep only it in) rows of a whole night.

A night's preprocessed epochs ``(N, R, 3750)`` are read as R continuous rows at 125 Hz, the rows of each modality
the model has in the order EEG, EOG, EMG: for the published model EEG (2 rows), EOG (2) and EMG (1)
(:data:`MODALITY_ROWS`); :func:`modality_rows` gives them for any model. :func:`band_gain` is the zero-phase
gain of a band-stop or band-pass with raised-cosine edges; :func:`occlude_band` applies it to the rows of some
modalities and z-scores each filtered channel of each epoch again, as preprocessing would have left a signal
without that band.
"""

from __future__ import annotations

import numpy as np
import torch

from ..channels import row_roles
from ..constants import AASM_BANDS, N_CHANNELS, ROLES, SFREQ
from ..errors import StqsError

DEFAULT_BANDS: dict[str, tuple[float, float]] = dict(AASM_BANDS)
"""delta 0.16-4, theta 4-8, alpha 8-12, sigma 12-16, beta 16-30 Hz."""


def modality_rows(config=None) -> dict[str, list[int]]:
    """Input rows of each modality a model has, in the order EEG, EOG, EMG; absent modalities are not keys.

    Parameters
    ----------
    config : STQSConfig, STQS, dict of str to int, or None
        A model, its config, or its ``n_channels`` (rows per modality present); None: the published layout.

    Returns
    -------
    dict of str to list of int

    Examples
    --------
    >>> modality_rows({"eeg": 2, "emg": 1})
    {'eeg': [0, 1], 'emg': [2]}
    """
    rows: dict[str, list[int]] = {}
    for row, role in enumerate(row_labels(config)):
        rows.setdefault(role, []).append(row)
    return rows


def row_labels(config=None) -> list[str]:
    """The role of each input row of a model (``["eeg", "eeg", "eog", "eog", "emg"]`` for the published one).

    Parameters
    ----------
    config : STQSConfig, STQS, dict of str to int, or None
        As for :func:`modality_rows`.

    Returns
    -------
    list of str
    """
    n_channels = getattr(getattr(config, "config", config), "n_channels", config)
    n_channels = N_CHANNELS if n_channels is None else n_channels
    return row_roles(tuple(n_channels), n_channels)


def absent_modalities(config=None) -> tuple[str, ...]:
    """The modalities a model has no block for, in the order EEG, EOG, EMG (empty for the published one).

    Parameters
    ----------
    config : STQSConfig, STQS, dict of str to int, or None
        As for :func:`modality_rows`.

    Returns
    -------
    tuple of str
    """
    present = modality_rows(config)
    return tuple(r for r in ROLES if r not in present)


MODALITY_ROWS: dict[str, list[int]] = modality_rows()
"""Input rows of each modality in an epoch ``(5, 3750)`` of the published layout: ``eeg`` [0, 1], ``eog``
[2, 3], ``emg`` [4]. A model with fewer modalities has its own (:func:`modality_rows`)."""

TRANSITION_HZ = 0.5
"""Width (Hz) of the raised-cosine edges of the occlusion filters, centred on each band edge (gain 1/2 there)."""

_PAD_S = 20.0
"""Overlap (s) on each side of a filtering block, and the length reflected at the night's ends."""
_BLOCK = 1 << 15
"""Samples per filtering block (262 s at 125 Hz)."""


def band_gain(
    freqs: np.ndarray,
    band: tuple[float, float],
    mode: str = "stop",
    transition: float = TRANSITION_HZ,
    sfreq: float = SFREQ,
) -> np.ndarray:
    """Zero-phase gain at ``freqs`` that removes (``"stop"``) or keeps only (``"pass"``) ``band``.

    Each band edge is a raised-cosine ramp ``transition`` Hz wide centred on the edge: a sinusoid more than
    ``transition / 2`` inside the band is removed exactly, one more than ``transition / 2`` outside is untouched.
    An edge at or below 0 Hz (above Nyquist) leaves that side open; ``hi <= lo`` is the empty band.

    Parameters
    ----------
    freqs : array_like, shape (F,)
        Frequencies (Hz).
    band : tuple of 2 float
        ``(lo, hi)`` edges (Hz).
    mode : {"stop", "pass"}
        Remove the band, or keep only the band.
    transition : float
        Width (Hz) of each edge's ramp; 0 for a brick wall.
    sfreq : float
        Sampling rate (Hz): an edge at or above ``sfreq / 2`` leaves the top open.

    Returns
    -------
    ndarray, shape (F,)
        Gain in [0, 1] (float64).
    """
    if mode not in ("stop", "pass"):
        raise StqsError(f"mode must be 'stop' (remove the band) or 'pass' (keep only the band), got {mode!r}")
    lo, hi = band
    freqs = np.asarray(freqs, dtype=np.float64)
    if hi <= lo:
        inside = np.zeros_like(freqs)
    else:
        inside = np.ones_like(freqs)
        if lo > 0:
            inside *= _ramp(freqs - lo, transition)
        if hi < sfreq / 2:
            inside *= _ramp(hi - freqs, transition)
    return 1.0 - inside if mode == "stop" else inside


def _ramp(distance: np.ndarray, width: float) -> np.ndarray:
    """0 below ``-width/2``, 1 above ``+width/2``, a half cosine in between (``distance`` and ``width`` in Hz)."""
    if width <= 0:
        return (distance >= 0).astype(np.float64)
    return 0.5 * (1 + np.sin(np.pi * np.clip(distance / width, -0.5, 0.5)))


class _NightSpectrum:
    """Spectra of rows of a night ``(N, R, T)`` read as R continuous signals, for filtering by many gains.

    Overlap-save: each row, extended by reflection at the night's ends, is cut into blocks of
    :data:`_BLOCK` samples overlapping by twice :data:`_PAD_S`, each block transformed on its own; only the
    central part of each filtered block is kept. Short FFTs are faster than one FFT of the whole night, and
    the filters' impulse responses (a few seconds) are far shorter than the overlap.

    Parameters
    ----------
    x : Tensor, shape (N, R, T)
        Rows of a night's epochs in order (float32).
    sfreq : float
        Sampling rate (Hz).

    Attributes
    ----------
    spectrum : Tensor, shape (R, n_blocks, block // 2 + 1)
        Complex spectrum of each block of each row.
    freqs : ndarray, shape (block // 2 + 1,)
        Frequency (Hz) of each spectral bin.
    """

    def __init__(self, x: torch.Tensor, sfreq: float = SFREQ):
        self.shape = x.shape
        n, r, t = x.shape
        length = n * t
        signal = x.permute(1, 0, 2).reshape(r, length)
        self.pad = pad = min(int(_PAD_S * sfreq), length - 1)
        self.block = min(_BLOCK, 1 << (length + 2 * pad - 1).bit_length())
        self.step = self.block - 2 * pad
        n_blocks = -(-length // self.step)
        tail = n_blocks * self.step + pad - length  # samples after the end: reflection, then zeros
        parts = [signal[:, 1 : pad + 1].flip(-1), signal, signal[:, -pad - 1 : -1].flip(-1)]
        if tail > pad:
            parts.append(signal.new_zeros(r, tail - pad))
        signal = torch.cat(parts, dim=-1)[:, : n_blocks * self.step + 2 * pad]
        self.spectrum = torch.fft.rfft(signal.unfold(-1, self.block, self.step))  # (R, n_blocks, block // 2 + 1)
        self.freqs = np.fft.rfftfreq(self.block, 1 / sfreq)

    def filtered(self, gain: np.ndarray) -> torch.Tensor:
        """The rows filtered by ``gain``, back in epochs.

        Parameters
        ----------
        gain : ndarray, shape (block // 2 + 1,)
            One gain per frequency of :attr:`freqs`.

        Returns
        -------
        Tensor, shape (N, R, T)
            A strided view of a ``(R, N, T)`` array: assign it into place rather than copying it.
        """
        n, r, t = self.shape
        out = torch.fft.irfft(self.spectrum * torch.as_tensor(gain, dtype=torch.float32), n=self.block)
        out = out[..., self.pad : self.pad + self.step].reshape(r, -1)[:, : n * t]
        return out.reshape(r, n, t).permute(1, 0, 2)


def _rezscore(x: torch.Tensor, before_var: torch.Tensor) -> torch.Tensor:
    """Z-score each channel of each epoch of ``x`` ``(N, R, T)`` again; channels the filter emptied become 0.

    ``before_var`` ``(N, R, 1)`` is each channel-epoch's variance before filtering: one left with less than
    1e-6 of it (-60 dB) is set to zero rather than blown up back to unit variance.
    """
    var, mean = torch.var_mean(x, -1, keepdim=True, correction=0)
    scale = torch.where(var > 1e-6 * before_var, var.clamp_min(1e-24).rsqrt(), 0)
    return (x - mean).mul_(scale)


def _variance(x: torch.Tensor) -> torch.Tensor:
    """Variance ``(N, R, 1)`` of each channel of each epoch of ``x`` ``(N, R, T)``."""
    return torch.var(x, -1, keepdim=True, correction=0)


def _modalities(modalities, layout: dict[str, list[int]] | None = None) -> tuple[str, ...]:
    """A modality name or names (``"eeg"``, ``"eog"``, ``"emg"``) as a tuple, checked against those of ``layout``
    (:func:`modality_rows`; None: the published layout). None: every modality of ``layout``."""
    layout = MODALITY_ROWS if layout is None else layout
    if modalities is None:
        return tuple(layout)
    modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
    unknown = set(modalities) - set(ROLES)
    if unknown:
        raise StqsError(f"unknown modalities {sorted(unknown)}; choose from {ROLES}")
    absent = [r for r in ROLES if r in modalities and r not in layout]
    if absent:
        raise StqsError(
            f"the model has no {', '.join(a.upper() for a in absent)} block (it reads {'+'.join(layout)}); "
            f"choose modalities among {tuple(layout)}"
        )
    return modalities


def _rows(modalities, rows, layout: dict[str, list[int]] | None = None) -> list[int]:
    """Sorted input rows: ``rows`` when given, else those of ``modalities`` (in role order) in ``layout``."""
    if rows is not None:
        return sorted(set(int(r) for r in rows))
    layout = MODALITY_ROWS if layout is None else layout
    modalities = _modalities(modalities, layout)
    return [r for role in ROLES if role in modalities for r in layout[role]]


def _passes_all(band: tuple[float, float], mode: str) -> bool:
    """True when the filter is the identity (an empty band stopped, or everything passed): skip the FFTs."""
    lo, hi = band
    return hi <= lo if mode == "stop" else (lo <= 0 and hi >= SFREQ / 2)


def _index(rows: list[int]) -> slice | list[int]:
    """Rows as a slice where they are contiguous (basic indexing: views, no copies)."""
    return slice(rows[0], rows[-1] + 1) if rows == list(range(rows[0], rows[-1] + 1)) else rows


def occlude_band(
    epochs,
    band: tuple[float, float],
    modalities=None,
    mode: str = "stop",
    *,
    rows=None,
    n_channels: dict[str, int] | None = None,
    transition: float = TRANSITION_HZ,
    renormalize: bool = True,
) -> np.ndarray:
    """Remove (``"stop"``) or keep only (``"pass"``) ``band`` on the rows of ``modalities``.

    Each row of the night is filtered as one continuous signal (its epochs concatenated, 20 s of reflection
    at the night's ends; FFTs of overlapping 262-s blocks) with the gain of :func:`band_gain`. With
    ``renormalize`` each filtered channel of each epoch is z-scored again, as preprocessing would have left a
    signal without that band; a channel-epoch the filter emptied (below -60 dB) becomes zeros.

    Parameters
    ----------
    epochs : array_like, shape (N, R, 3750)
        Preprocessed epochs of one night in order.
    band : tuple of 2 float
        ``(lo, hi)`` in Hz.
    modalities : str or sequence of str, optional
        Modality names (``"eeg"``, ``"eog"``, ``"emg"``) whose rows are filtered; None: every modality present.
    mode : {"stop", "pass"}
        Remove the band, or keep only the band.
    rows : sequence of int, optional
        Row indices (0 to R - 1), instead of ``modalities``.
    n_channels : dict of str to int, optional
        Rows per modality present, as ``STQSConfig.n_channels`` (e.g. ``{"eeg": 2}`` for EEG-only epochs);
        None: the published layout (EEG 2, EOG 2, EMG 1).
    transition : float
        Width (Hz) of the filter edges.
    renormalize : bool
        Z-score each filtered channel of each epoch again.

    Returns
    -------
    ndarray, shape (N, R, 3750)
        float32; rows not filtered are returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> epochs = np.random.default_rng(0).standard_normal((4, 5, 3750)).astype(np.float32)
    >>> no_alpha = occlude_band(epochs, DEFAULT_BANDS["alpha"], modalities=("eeg",))
    >>> no_alpha.shape, bool((no_alpha[:, 2:] == epochs[:, 2:]).all())
    ((4, 5, 3750), True)
    """
    x = torch.as_tensor(np.asarray(epochs), dtype=torch.float32)
    if x.ndim != 3:
        raise StqsError(f"epochs must have shape (N, rows, 3750); got {tuple(x.shape)}")
    out = x.clone()
    rows = _rows(modalities, rows, modality_rows(n_channels))
    if rows and not _passes_all(band, mode):
        index = _index(rows)
        spectrum = _NightSpectrum(x[:, index])
        filtered = spectrum.filtered(band_gain(spectrum.freqs, band, mode, transition))
        out[:, index] = _rezscore(filtered, _variance(x[:, index])) if renormalize else filtered
    return out.numpy()
