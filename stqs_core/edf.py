"""Write EDF+ files: signals in µV and/or stages as annotations (the one EDF writer of the package).

It sits below :mod:`stqs_core.annotations` (which reads hypnograms and writes them with :func:`write_edf`) and
:mod:`stqs_core.recording` (which reads recordings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .constants import EPOCH_SEC
from .hypnogram import runs, stage_names


def write_edf(
    path: str | Path,
    data: np.ndarray | None = None,
    channel_names: list[str] | None = None,
    sfreq: float | None = None,
    stages: np.ndarray | None = None,
    events: list[tuple[float, float, str]] | None = None,
) -> Path:
    """Write signals in µV and/or stages as EDF+ annotations, atomically.

    Parameters
    ----------
    path : str or Path
        The EDF file to write.
    data : ndarray, shape (n_channels, n_samples), or None
        Signals in µV; cut to whole seconds (1-s data records). None for an annotations-only file.
    channel_names : list of str or None
        One label per row of ``data``; None names them ``ch0``, ``ch1``, ...
    sfreq : float or None
        Sampling rate of ``data`` in Hz (a whole number); needed with ``data``.
    stages : ndarray, shape (n_epochs,), or None
        Stage codes per 30-s epoch (0-4, -1 unscored), written as ``Sleep stage W/N1/N2/N3/R/?`` annotations,
        one per run of equal stages.
    events : list of (float, float, str) or None
        Extra annotations ``(onset_s, duration_s, text)``, in seconds.

    Returns
    -------
    Path
        ``path``.
    """
    from edfio import Edf, EdfAnnotation, EdfSignal

    from .preprocess import check_sfreq  # here: preprocess imports torch, the writer of a hypnogram needs none

    signals = []
    if data is not None:
        sfreq = check_sfreq(sfreq)
        data = np.asarray(data, dtype=np.float64)
        data = data[:, : data.shape[1] - data.shape[1] % sfreq]  # whole 1-s data records
        for row, name in zip(data, channel_names or [f"ch{i}" for i in range(len(data))]):
            low, high = float(row.min()), float(row.max())
            pad = max(1.0, 0.01 * (high - low))
            signals.append(
                EdfSignal(
                    row,
                    sfreq,
                    label=name,
                    physical_dimension="uV",
                    physical_range=(round(low - pad), round(high + pad)),
                )
            )
    annotations = [EdfAnnotation(on, dur, text) for on, dur, text in events or []]
    if stages is not None:
        found = runs(stages)
        annotations += [
            EdfAnnotation(float(start * EPOCH_SEC), float(length * EPOCH_SEC), label)
            for start, length, label in zip(found.start, found.length, stage_names(found.stage, "edf"))
        ]
    with atomic_path(path) as tmp:
        Edf(signals, annotations=sorted(annotations, key=lambda a: a.onset)).write(tmp)
    return Path(path)
