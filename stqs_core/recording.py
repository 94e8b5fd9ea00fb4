"""Read a PSG recording (EDF/EDF+/BDF, via MNE) into the rows the network reads, in µV (:mod:`stqs_core.edf` writes
EDF files)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .annotations import (
    events_to_epochs,
    fit_to_length,
    is_stage_label,
    read_edf_annotations,
    read_hypnogram,
)
from .channels import check_bands, edf_lowpass, fill_rows, map_channels, row_roles, row_sources
from .constants import EPOCH_SEC, ROLES
from .errors import HypnogramError, RecordingError
from .preprocess import check_sfreq

logger = logging.getLogger(__name__)


@dataclass
class Recording:
    """One night's signals, in the rows the network reads.

    Parameters
    ----------
    data : ndarray, shape (n_rows, n_samples)
        Signals in µV (float32 when read from a file), one row per network row of the modalities present:
        EEG, EEG, EOG, EOG, EMG with all three (see :attr:`roles`).
    sfreq : float
        Sampling rate in Hz.
    channel_names : list of str, length n_rows
        ``channel_names[i]`` is the file's channel feeding row ``i``, or ``"C3 − A2"`` for a row derived by
        subtraction (see :func:`~stqs_core.channels.row_sources`).
    hypnogram : ndarray of int, shape (n_epochs,), or None
        The expert stages per 30-s epoch (0-4 for W, N1, N2, N3, REM; -1 unscored), or None.
    name : str
        The recording's name (a file's stem).
    modalities : tuple of str
        The modalities present, in :data:`~stqs_core.constants.ROLES` order, e.g. ``("eeg",)`` for a file with
        EEG only; all three by default.
    """

    data: np.ndarray
    sfreq: float
    channel_names: list[str]
    hypnogram: np.ndarray | None = None
    name: str = "recording"
    modalities: tuple[str, ...] = ROLES

    @property
    def n_epochs(self) -> int:
        """The number of whole 30-s epochs."""
        return int(self.data.shape[-1] / self.sfreq // EPOCH_SEC)

    @property
    def roles(self) -> list[str]:
        """The role of each row, for :attr:`modalities` only: ``["eeg", "eeg", "eog", "eog", "emg"]`` with all
        three, ``["eeg", "eeg"]`` for ``("eeg",)``."""
        return row_roles(self.modalities)

    def keep(self, modalities) -> Recording:
        """The recording with the rows of ``modalities`` only (itself when it has no others).

        Parameters
        ----------
        modalities : sequence of str
            Modalities to keep, some of :attr:`modalities`.

        Returns
        -------
        Recording
            Its ``data`` a copy of this one's rows.
        """
        kept = tuple(r for r in self.modalities if r in modalities)
        if kept == self.modalities:
            return self
        rows = [i for i, role in enumerate(self.roles) if role in kept]
        names = [self.channel_names[i] for i in rows]
        return Recording(self.data[rows], self.sfreq, names, self.hypnogram, self.name, kept)


READ_CHUNK_S = 3600.0
"""Signals are read this many seconds at a time (s), so reading needs no float64 copy of the whole night."""


def read_recording(
    path: str | Path,
    eeg: list[str] | None = None,
    eog: list[str] | None = None,
    emg: list[str] | None = None,
    preset: str | None = None,
    annotations: str | Path | None = None,
    required: tuple[str, ...] = ROLES,
) -> Recording:
    """Read the EEG, EOG and EMG channels of a PSG file, by name, and its hypnogram.

    Only the modalities found are read when some are optional (``required``); a row derived by subtraction
    (``C3 − A2``, see :func:`~stqs_core.channels.map_channels`) is computed as it is read.

    Parameters
    ----------
    path : str | Path
        An EDF, EDF+ or BDF file (anything ``mne.io.read_raw`` opens).
    eeg, eog, emg : list of str | None
        Channel names per role; roles left out are found with ``preset`` (see :mod:`stqs_core.channels`).
    preset : str | None
        ``"shhs"``, ``"sleep-edf"`` or ``"aasm"``; None tries each.
    annotations : str | Path | None
        A hypnogram file (see :func:`~stqs_core.annotations.read_hypnogram`); None uses sleep-stage
        annotations inside the file when it has any (read with
        :func:`~stqs_core.annotations.read_edf_annotations`, as a separate file would be).
    required : tuple of str
        The modalities that must be found (a ChannelError otherwise); others are read when found, left out
        of ``data`` and :attr:`Recording.modalities` when not.

    Returns
    -------
    Recording
        ``data`` ``(n_rows, n_samples)`` float32 in µV (5 rows with every modality), read an hour at a time.

    Raises
    ------
    RecordingError
        For a missing, truncated or corrupt file, one without signals (a hypnogram-only EDF+), or one shorter
        than one 30-s epoch.
    ChannelError, HypnogramError
        For missing channels or an unusable hypnogram.

    Examples
    --------
    >>> from stqs_core import read_recording
    >>> rec = read_recording("night.edf", preset="shhs")  # doctest: +SKIP
    >>> rec.data.shape, rec.sfreq, rec.n_epochs  # doctest: +SKIP
    ((5, 3600000), 125.0, 960)
    """
    import mne

    path = Path(path)
    if path.is_dir():
        raise RecordingError(f"recording {path} is a folder; give an EDF/BDF file")
    if not path.is_file():
        raise RecordingError(f"recording {path} does not exist")
    _check_complete(path)
    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as err:  # mne raises many types for a corrupt header
        raise RecordingError(f"cannot read {path}: {_describe(err)}. Is it a complete EDF/BDF file?") from err
    if not raw.ch_names:
        raise RecordingError(
            f"{path} holds no signals, only annotations (a hypnogram file?); pass it with --annotations "
            "(Python: annotations=...) beside the recording it scores"
        )
    sfreq = check_sfreq(raw.info["sfreq"])
    if raw.n_times < EPOCH_SEC * sfreq:
        raise RecordingError(
            f"{path} lasts {raw.n_times / sfreq:.1f} s, shorter than one {EPOCH_SEC:.0f}-s epoch; nothing to score"
        )
    mapping = map_channels(raw.ch_names, eeg, eog, emg, preset, required=required)
    modalities = tuple(r for r in ROLES if r in mapping)
    rows = fill_rows(mapping)
    check_bands(rows, sfreq, edf_lowpass(path) if path.suffix.lower() == ".edf" else None, row_roles(modalities))
    sources = [row_sources(r) for r in rows]  # (channel, channel to subtract or None) per row
    unique = list(dict.fromkeys(ch for pair in sources for ch in pair if ch is not None))
    plus = [unique.index(a) for a, _ in sources]  # a modality with fewer channels than its rows repeats one
    minus = [None if ref is None else unique.index(ref) for _, ref in sources]
    data = np.empty((len(rows), raw.n_times), dtype=np.float32)
    step = int(READ_CHUNK_S * sfreq)
    try:
        for start in range(0, raw.n_times, step):
            stop = min(start + step, raw.n_times)
            block = raw.get_data(picks=unique, start=start, stop=stop) * 1e6  # MNE gives volts
            for row, (a, b) in enumerate(zip(plus, minus)):
                data[row, start:stop] = block[a] if b is None else block[a] - block[b]
    except Exception as err:
        raise RecordingError(
            f"cannot read the signals of {path}: {_describe(err)}. The file may be truncated; copy "
            "or download it again."
        ) from err
    recording = Recording(data, float(sfreq), rows, name=path.stem, modalities=modalities)
    if annotations is not None:
        recording.hypnogram = read_hypnogram(annotations, recording.n_epochs)
    else:
        events = _embedded_events(path, raw)
        if any(is_stage_label(d) for _, _, d in events):
            recording.hypnogram = events_to_epochs(events, source=path, n_epochs=recording.n_epochs)
            recording.hypnogram = fit_to_length(recording.hypnogram, recording.n_epochs, path)
    return recording


def _embedded_events(path: Path, raw) -> list[tuple[float, float, str]]:
    """The annotations inside a recording, read as a separate annotation file would be."""
    if path.suffix.lower() not in (".edf", ".bdf"):
        return list(zip(raw.annotations.onset, raw.annotations.duration, raw.annotations.description))
    try:
        return read_edf_annotations(path)
    except HypnogramError as err:  # a header edfio refuses but MNE reads: MNE parsed the annotation channel too
        logger.warning("%s; using MNE's reading of the annotations instead", err)
        return list(zip(raw.annotations.onset, raw.annotations.duration, raw.annotations.description))


def _describe(err: Exception) -> str:
    """An exception as text, never empty (some readers raise with no message)."""
    text = str(err).strip().rstrip(".")
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


_MAX_SIGNALS = 4096
_MAX_SAMPLES_PER_RECORD = 10**7


def _check_complete(path: Path) -> None:
    """Raise if an EDF/BDF header is malformed or the file is shorter than its header says (a truncated copy).

    Every header value that sizes a later read is checked here, before any reader allocates from it.
    """
    suffix = path.suffix.lower()
    if suffix not in (".edf", ".bdf"):
        return
    size = path.stat().st_size
    fix = "Is it an EDF/BDF file? Copy or download it again."
    if size < 256:
        raise RecordingError(f"{path} holds {size} bytes, fewer than an EDF header (256); {fix}")
    with open(path, "rb") as f:
        head = f.read(256)
        if not head.strip(b"\x00 "):
            raise RecordingError(f"{path}: the EDF header is empty (all zeros or blanks); {fix}")
        try:
            header_bytes, n_records, n_signals = (
                int(head[a:b].decode("ascii")) for a, b in ((184, 192), (236, 244), (252, 256))
            )
            duration = float(head[244:252].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise RecordingError(
                f"{path}: the EDF header is corrupt (its byte count, record count, record "
                f"duration or signal count is not a number); {fix}"
            ) from None
        if not 1 <= n_signals <= _MAX_SIGNALS or header_bytes != 256 * (n_signals + 1):
            raise RecordingError(
                f"{path}: the EDF header is corrupt ({n_signals} signals, {header_bytes} header "
                f"bytes; expected 1-{_MAX_SIGNALS} signals and 256 bytes per signal + 256); {fix}"
            )
        if not (np.isfinite(duration) and duration >= 0) or n_records < -1:
            raise RecordingError(f"{path}: the EDF header is corrupt ({n_records} records of {duration} s); {fix}")
        if size < header_bytes:
            raise RecordingError(f"{path} is truncated inside its header ({size} of {header_bytes} bytes); {fix}")
        f.seek(256 + 216 * n_signals)  # the "samples per record" field of each signal
        field = f.read(8 * n_signals)
        try:
            counts = [int(field[8 * i : 8 * i + 8].decode("ascii")) for i in range(n_signals)]
        except (ValueError, UnicodeDecodeError):
            raise RecordingError(
                f"{path}: the EDF header is corrupt (a samples-per-record field is not a number); {fix}"
            ) from None
    if not all(1 <= c <= _MAX_SAMPLES_PER_RECORD for c in counts):
        raise RecordingError(
            f"{path}: the EDF header is corrupt (samples per record {min(counts)}-{max(counts)}; "
            f"expected 1-{_MAX_SAMPLES_PER_RECORD}); {fix}"
        )
    width = 3 if suffix == ".bdf" else 2
    expected = header_bytes + n_records * sum(counts) * width
    if n_records > 0 and size < expected:
        raise RecordingError(
            f"{path} is truncated: its header announces {n_records} records ({expected} bytes) but "
            f"the file holds {size} bytes. Copy or download it again."
        )
