"""Read a PSG recording (EDF/EDF+/BDF, via MNE) into the rows the network reads, in µV; write EDF files."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .annotations import events_to_epochs, fit_to_length, is_stage_label, read_hypnogram, stage_name
from .channels import check_bands, edf_lowpass, fill_rows, map_channels
from .constants import EPOCH_SEC, N_CHANNELS, ROLES
from .preprocess import check_sfreq

logger = logging.getLogger(__name__)


@dataclass
class Recording:
    """One night: ``data`` ``(5, n_samples)`` in µV, rows EEG, EEG, EOG, EOG, EMG.

    ``channel_names[i]`` is the file's channel feeding row ``i``; ``hypnogram`` ``(n_epochs,)`` holds the
    expert stages (-1 unscored) or is None.
    """

    data: np.ndarray
    sfreq: float
    channel_names: list[str]
    hypnogram: np.ndarray | None = None
    name: str = "recording"

    @property
    def n_epochs(self) -> int:
        return int(self.data.shape[-1] / self.sfreq // EPOCH_SEC)

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES for _ in range(N_CHANNELS[r])]


def read_recording(path: str | Path, eeg: list[str] | None = None, eog: list[str] | None = None,
                   emg: list[str] | None = None, preset: str | None = None,
                   annotations: str | Path | None = None) -> Recording:
    """Read the EEG, EOG and EMG channels of a PSG file, by name, and its hypnogram.

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
        annotations inside the file when it has any.
    """
    import mne

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording {path} does not exist")
    _check_complete(path)
    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as err:  # mne raises many types for a corrupt header
        raise ValueError(f"cannot read {path}: {err}. Is it a complete EDF/BDF file?") from err
    sfreq = check_sfreq(raw.info["sfreq"])
    rows = fill_rows(map_channels(raw.ch_names, eeg, eog, emg, preset))
    check_bands(rows, sfreq, edf_lowpass(path) if path.suffix.lower() == ".edf" else None)
    unique = list(dict.fromkeys(rows))
    try:
        data = raw.get_data(picks=unique)
    except Exception as err:
        raise ValueError(f"cannot read the signals of {path}: {err}. The file may be truncated.") from err
    data *= 1e6  # MNE gives volts
    if unique != rows:  # a modality with fewer channels than the network's rows repeats one
        data = data[[unique.index(r) for r in rows]]
    recording = Recording(data, float(sfreq), rows, name=path.stem)
    if annotations is not None:
        recording.hypnogram = read_hypnogram(annotations, recording.n_epochs)
    elif any(is_stage_label(d) for d in raw.annotations.description):
        events = list(zip(raw.annotations.onset, raw.annotations.duration, raw.annotations.description))
        recording.hypnogram = fit_to_length(events_to_epochs(events, source=path), recording.n_epochs, path)
    return recording


def _check_complete(path: Path) -> None:
    """Raise if an EDF/BDF file is shorter than its header says (a truncated download or copy)."""
    if path.suffix.lower() not in (".edf", ".bdf"):
        return
    with open(path, "rb") as f:
        head = f.read(256)
        try:
            header_bytes, n_records, n_signals = int(head[184:192]), int(head[236:244]), int(head[252:256])
            f.seek(256 + 216 * n_signals)  # the "samples per record" field of each signal
            field = f.read(8 * n_signals)
            per_record = sum(int(field[8 * i:8 * i + 8]) for i in range(n_signals))
        except ValueError as err:
            raise ValueError(f"{path}: the EDF header is corrupt ({err})") from err
    width = 3 if path.suffix.lower() == ".bdf" else 2
    expected = header_bytes + n_records * per_record * width
    size = path.stat().st_size
    if n_records > 0 and size < expected:
        raise ValueError(f"{path} is truncated: its header announces {n_records} records ({expected} bytes) but "
                         f"the file holds {size} bytes. Copy or download it again.")


def write_edf(path: str | Path, data: np.ndarray | None = None, channel_names: list[str] | None = None,
              sfreq: float | None = None, stages: np.ndarray | None = None,
              events: list[tuple[float, float, str]] | None = None) -> Path:
    """Write signals ``(n_channels, n_samples)`` in µV and/or stages as EDF+ annotations, atomically.

    ``stages`` become ``Sleep stage W/N1/N2/N3/R/?`` annotations, one per run of equal stages; ``events``
    are extra ``(onset_s, duration_s, text)`` annotations.
    """
    from edfio import Edf, EdfAnnotation, EdfSignal

    signals = []
    if data is not None:
        sfreq = check_sfreq(sfreq)
        data = np.asarray(data, dtype=np.float64)
        data = data[:, :data.shape[1] - data.shape[1] % sfreq]  # whole 1-s data records
        for row, name in zip(data, channel_names or [f"ch{i}" for i in range(len(data))]):
            low, high = float(row.min()), float(row.max())
            pad = max(1.0, 0.01 * (high - low))
            signals.append(EdfSignal(row, sfreq, label=name, physical_dimension="uV",
                                     physical_range=(round(low - pad), round(high + pad))))
    annotations = [EdfAnnotation(on, dur, text) for on, dur, text in events or []]
    if stages is not None:
        annotations += [EdfAnnotation(on, dur, f"Sleep stage {_edf_stage(code)}") for on, dur, code in runs(stages)]
    with atomic_path(path) as tmp:
        Edf(signals, annotations=sorted(annotations, key=lambda a: a.onset)).write(tmp)
    return Path(path)


def _edf_stage(code: int) -> str:
    return "R" if code == 4 else stage_name(code)


def runs(stages: np.ndarray) -> list[tuple[float, float, int]]:
    """``(onset_s, duration_s, stage)`` for each run of equal consecutive stages."""
    stages = np.asarray(stages)
    if len(stages) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, stages[1:] != stages[:-1]])
    ends = np.r_[starts[1:], len(stages)]
    return [(s * EPOCH_SEC, (e - s) * EPOCH_SEC, int(stages[s])) for s, e in zip(starts, ends)]

