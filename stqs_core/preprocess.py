"""From continuous signals to network input: resample to 125 Hz, the published filters, 30-s epochs, z-score.

Filtering is zero-phase Butterworth applied in the frequency domain: the gain of a forward-backward
(``filtfilt``) pass of an order-``n`` digital Butterworth filter is exactly ``1 / (1 + r**(2n))`` with
``r = tan(pi f / fs) / tan(pi fc / fs)`` (high-pass: the inverse ratio). One FFT of the whole night then
replaces two IIR passes per cut-off, and the same code serves band-stop occlusion.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from .constants import BANDPASS, EPOCH_SAMPLES, FILTER_ORDER, N_CHANNELS, ROLES, SFREQ
from .errors import RecordingError

logger = logging.getLogger(__name__)

FLAT_UV = 0.01
"""A channel whose standard deviation within an epoch is below this (µV) is flat."""


@dataclass
class Epochs:
    """Network input of one recording, and per-epoch quality flags.

    Parameters
    ----------
    data : ndarray of float32, shape (n_epochs, 5, 3750)
        30-s epochs at 125 Hz, rows EEG, EEG, EOG, EOG, EMG, filtered and z-scored per epoch and channel.
    flags : dict
        ``{"nan": {channel name: [epoch indices]}, "flat": {...}}``: the epochs where a channel had NaN or
        infinite samples (set to 0) or was flat (left at zero).
    """

    data: np.ndarray
    flags: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def check_sfreq(sfreq: float) -> int:
    """The sampling rate as an int; raises for a rate that is not a positive whole number.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    int
        ``sfreq`` in Hz.

    Raises
    ------
    RecordingError
        For a rate that is not finite, positive and whole.
    """
    if not np.isfinite(sfreq) or sfreq <= 0 or abs(sfreq - round(sfreq)) > 1e-6:
        raise RecordingError(
            f"sampling rate {sfreq!r} Hz is not a positive whole number of Hz; resample the recording "
            "to an integer rate (e.g. with mne's raw.resample) before scoring"
        )
    return int(round(sfreq))


def resample(data: np.ndarray, sfreq: float, target: float = SFREQ) -> np.ndarray:
    """Resample signals from ``sfreq`` to ``target`` Hz (polyphase, anti-aliased).

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_samples)
        Signals, in any unit.
    sfreq : float
        Their sampling rate in Hz.
    target : float
        The new sampling rate in Hz.

    Returns
    -------
    ndarray, shape (n_channels, n_samples * target / sfreq)
    """
    ratio = Fraction(check_sfreq(target), check_sfreq(sfreq))
    if ratio == 1:
        return data
    from scipy.signal import resample_poly  # imported here: scipy.signal costs 0.5 s at start-up

    logger.info("resampling %g Hz -> %g Hz", sfreq, target)
    return resample_poly(data, ratio.numerator, ratio.denominator, axis=-1)


def butterworth_gain(
    freqs: np.ndarray, sfreq: float, low: float | None, high: float | None, order: int = FILTER_ORDER
) -> np.ndarray:
    """Zero-phase (forward-backward) Butterworth band-pass gain at ``freqs``.

    Parameters
    ----------
    freqs : ndarray
        Frequencies in Hz.
    sfreq : float
        Sampling rate in Hz.
    low, high : float or None
        Pass band edges in Hz; None leaves that side open.
    order : int
        Butterworth order of one pass (the squared magnitude response is applied).

    Returns
    -------
    ndarray, shape of ``freqs``
        Gains in [0, 1].
    """
    warp = np.tan(np.pi * np.clip(freqs, 1e-12, sfreq / 2 * (1 - 1e-9)) / sfreq)
    gain = np.ones_like(warp)
    with np.errstate(over="ignore"):  # inf near 0 Hz or Nyquist in float32: a gain of 0, as it should be
        if high is not None:  # math.tan: a Python float keeps float32 arrays float32 (NumPy 2)
            gain /= 1 + (warp / math.tan(math.pi * high / sfreq)) ** (2 * order)
        if low is not None:
            gain /= 1 + (math.tan(math.pi * low / sfreq) / warp) ** (2 * order)
    return gain


def fft_filter(data: np.ndarray | torch.Tensor, gain, sfreq: float, pad: int | None = None) -> torch.Tensor:
    """Filter signals along their last axis, zero-phase, by real gains ``gain(freqs)``.

    The ends are padded by reflection so the circular FFT does not wrap.

    Parameters
    ----------
    data : ndarray or torch.Tensor, shape (..., n_samples)
        Signals.
    gain : callable
        ``freqs (Hz) -> gains``, whose result broadcasts against ``(..., n_freqs)`` (one row per channel is
        allowed).
    sfreq : float
        Sampling rate in Hz.
    pad : int or None
        Samples of reflection padding at each end; None for 10 s.

    Returns
    -------
    torch.Tensor of float32, shape of ``data``
    """
    x = torch.as_tensor(data, dtype=torch.float32)
    n = x.shape[-1]
    pad = min(int(10 * sfreq) if pad is None else pad, n - 1)
    if pad > 0:
        x = torch.cat([x[..., 1 : pad + 1].flip(-1), x, x[..., -pad - 1 : -1].flip(-1)], dim=-1)
    n_fft = 1 << (x.shape[-1] - 1).bit_length()  # a power of two: the fastest FFT length
    spectrum = torch.fft.rfft(x, n=n_fft)
    spectrum *= torch.as_tensor(gain(np.fft.rfftfreq(n_fft, 1 / sfreq).astype(np.float32)), dtype=torch.float32)
    return torch.fft.irfft(spectrum, n=n_fft)[..., pad : pad + n]


def filter_signals(data: np.ndarray | torch.Tensor, roles: list[str], sfreq: float = SFREQ) -> torch.Tensor:
    """The published STQS filters (:data:`~stqs_core.constants.BANDPASS`) applied row by row.

    Parameters
    ----------
    data : ndarray or torch.Tensor, shape (n_rows, n_samples)
        Signals.
    roles : list of str, length n_rows
        The modality of each row (``"eeg"``, ``"eog"``, ``"emg"``).
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    torch.Tensor of float32, shape (n_rows, n_samples)
    """

    def gain(freqs: np.ndarray) -> np.ndarray:
        per_band = {band: butterworth_gain(freqs, sfreq, *band) for band in {BANDPASS[role] for role in roles}}
        return np.stack([per_band[BANDPASS[role]] for role in roles])

    return fft_filter(data, gain, sfreq)


CHUNK_EPOCHS = 1440
"""Recordings longer than this many epochs (12 h) are preprocessed in chunks: memory then grows only with the output."""

CHUNK_OVERLAP_EPOCHS = 10
"""Signal (in epochs, 5 min) read on each side of a chunk so that resampling and filtering at its edges see the
same neighbourhood as in one pass over the night (the filters' impulse responses decay within seconds)."""


def make_epochs(
    data: np.ndarray, sfreq: float, channel_names: list[str] | None = None, roles: list[str] | None = None
) -> Epochs:
    """Preprocess one recording into the network's input, :class:`Epochs`.

    Resample to 125 Hz, filter, cut 30-s epochs (a trailing partial epoch is dropped), z-score each channel
    of each epoch. NaN and infinite samples are set to 0 before filtering and flat channel-epochs are left at
    zero; both are logged as warnings naming the channel and the epochs and returned in ``flags`` (NaN and
    infinite samples under ``"nan"``). Nights longer than
    :data:`CHUNK_EPOCHS` are processed a chunk at a time (with :data:`CHUNK_OVERLAP_EPOCHS` on each side), so
    peak memory is the output plus one chunk's work.

    Parameters
    ----------
    data : ndarray, shape (5, n_samples)
        Signals in µV, rows EEG, EEG, EOG, EOG, EMG.
    sfreq : float
        Sampling rate in Hz.
    channel_names : list of str or None
        Row names, for the warnings and flags; None names them ``row 0``, ``row 1``, ...
    roles : list of str or None
        The modality of each row; None for the network's ``eeg, eeg, eog, eog, emg``.

    Returns
    -------
    Epochs
        ``data`` ``(n_epochs, 5, 3750)`` float32, and the flags.

    Raises
    ------
    RecordingError
        When the recording is shorter than one 30-s epoch, or a channel's samples are too large to filter in
        float32 (the error names the channel and the time).

    Examples
    --------
    >>> import numpy as np
    >>> from stqs_core.preprocess import make_epochs
    >>> signals = np.random.default_rng(0).normal(0, 20, (5, 256 * 90))  # 90 s at 256 Hz, in µV
    >>> make_epochs(signals, 256).data.shape
    (3, 5, 3750)
    """
    roles = roles or [r for r in ROLES for _ in range(N_CHANNELS[r])]
    names = channel_names or [f"row {i}" for i in range(len(roles))]
    data = np.asarray(data)
    ratio = Fraction(check_sfreq(SFREQ), check_sfreq(sfreq))
    n_epochs = -(-data.shape[-1] * ratio.numerator // ratio.denominator) // EPOCH_SAMPLES  # resample_poly's length
    if n_epochs < 1:
        raise RecordingError(
            f"the recording lasts {data.shape[-1] / sfreq:.1f} s, shorter than one "
            f"{EPOCH_SAMPLES / SFREQ:.0f}-s epoch; nothing to score"
        )
    in_epoch = EPOCH_SAMPLES * ratio.denominator // ratio.numerator  # input samples per epoch (a whole number)
    scale = _unit_scale(data, names)
    out = np.empty((n_epochs, len(roles), EPOCH_SAMPLES), dtype=np.float32)
    nan_epochs = np.zeros((len(roles), n_epochs), dtype=bool)
    flat_epochs = np.zeros((len(roles), n_epochs), dtype=bool)
    for first in range(0, n_epochs, CHUNK_EPOCHS):
        stop = min(first + CHUNK_EPOCHS, n_epochs)
        lead = min(first, CHUNK_OVERLAP_EPOCHS) if n_epochs > CHUNK_EPOCHS else 0
        tail = min(n_epochs - stop, CHUNK_OVERLAP_EPOCHS) if n_epochs > CHUNK_EPOCHS else 0
        chunk = data[:, (first - lead) * in_epoch : (stop + tail) * in_epoch if stop + tail < n_epochs else None]
        x = resample(chunk if scale is None else chunk * scale, sfreq)[
            :, : (lead + stop - first + tail) * EPOCH_SAMPLES
        ]
        out[first:stop], nan_epochs[:, first:stop], flat_epochs[:, first:stop] = _preprocess_chunk(
            x, roles, lead, stop - first
        )
        finite = np.isfinite(out[first:stop]).all(-1)  # (n_epochs, n_rows): False where filtering overflowed
        if not finite.all():
            row = int(np.argwhere(~finite)[0][1])
            with np.errstate(invalid="ignore"):
                peak = int(np.argmax(np.nan_to_num(np.abs(x[row]), posinf=0.0)))  # the largest finite sample
            seconds = (first - lead) * EPOCH_SAMPLES / SFREQ + peak / SFREQ
            raise RecordingError(
                f"{names[row]}: its samples reach {float(x[row, peak]):.3g} µV at {seconds:.1f} s (epoch "
                f"{int(seconds * SFREQ) // EPOCH_SAMPLES}), too large to filter in float32 (the filtered signal "
                "overflows). Check the channel's physical range in the file header, or give another channel"
            )
    flags = {"nan": _flagged(nan_epochs, names), "flat": _flagged(flat_epochs & ~nan_epochs, names)}
    for kind, per_channel in flags.items():
        for name, epochs in per_channel.items():
            logger.warning(
                "%s: %d epoch(s) with %s signal, scored anyway: %s", name, len(epochs), kind, _ranges(epochs)
            )
    return Epochs(out, flags)


VOLTS_UV = 1e-3
"""A channel whose typical amplitude (median absolute deviation) lies below this (µV), yet above zero, holds
signals in volts labelled as µV (a physical-dimension mistake in the file): EEG is tens of µV, i.e. 1e-5 here."""


def _unit_scale(data: np.ndarray, names: list[str]) -> np.ndarray | None:
    """Per-row factors ``(n_rows, 1)`` that turn rows recorded in volts but labelled µV into µV, or None.

    The network reads each epoch z-scored, so a gain changes nothing but the flat-signal check, which would
    otherwise blank every epoch of such a channel. Each scaled row is named in a warning.
    """
    step = max(1, data.shape[-1] // 100_000)  # a subsample is enough for an order of magnitude
    sample = np.asarray(data[:, ::step], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        amplitude = np.nanmedian(np.abs(sample - np.nanmedian(sample, axis=1, keepdims=True)), axis=1)
    volts = (amplitude > 0) & (amplitude < VOLTS_UV)
    if not volts.any():
        return None
    for i in np.flatnonzero(volts):
        logger.warning(
            "%s: typical amplitude %.2g µV, a million times too small for PSG: the file records volts "
            "as µV (check its physical dimension); scaled by 1e6",
            names[i],
            amplitude[i],
        )
    return np.where(volts, 1e6, 1.0)[:, None].astype(np.float32)


def _preprocess_chunk(
    data: np.ndarray, roles: list[str], lead: int, n_epochs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Filter 125-Hz rows ``(n_rows, n_samples)`` and return epochs ``lead .. lead + n_epochs`` z-scored
    ``(n_epochs, n_rows, 3750)``, with their NaN and flat masks ``(n_rows, n_epochs)``."""
    n_rows, total = len(roles), data.shape[-1] // EPOCH_SAMPLES
    x = torch.as_tensor(data[:, : total * EPOCH_SAMPLES], dtype=torch.float32)
    nan_epochs = ~torch.isfinite(x.reshape(n_rows, total, EPOCH_SAMPLES).sum(-1))  # one pass over the data
    if nan_epochs.any():
        x = x.nan_to_num(0.0, 0.0, 0.0)
    kept = slice(lead, lead + n_epochs)
    flat_epochs = x.reshape(n_rows, total, EPOCH_SAMPLES)[:, kept].std(-1, correction=0) < FLAT_UV
    x = filter_signals(x, roles).reshape(n_rows, total, EPOCH_SAMPLES)[:, kept].transpose(0, 1)
    x[flat_epochs.T] = 0.0
    std, mean = torch.std_mean(x, dim=-1, keepdim=True, correction=0)
    x = x.sub_(mean).div_(torch.where(std > 0, std, 1.0))  # in place: a chunk is 70 MB here
    return x.numpy(), nan_epochs[:, kept].numpy(), flat_epochs.numpy()


def _flagged(mask: np.ndarray, names: list[str]) -> dict[str, list[int]]:
    return {names[i]: np.flatnonzero(row).tolist() for i, row in enumerate(mask) if row.any()}


def _ranges(indices: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    parts, start = [], None
    for i, idx in enumerate(indices):
        start = idx if start is None else start
        if i + 1 == len(indices) or indices[i + 1] != idx + 1:
            parts.append(f"{start}-{idx}" if idx > start else f"{idx}")
            start = None
    return ", ".join(parts)
