"""Hypnograms out in the formats the ecosystem reads: BIDS-style events TSV, NSRR XML, ``mne.Annotations``, YASA.

Inputs are stage codes ``(n_epochs,)`` (0-4, -1 unscored) and, where a format can hold them, probabilities
``(n_epochs, 5)`` (the hypnodensity). EDF+ annotations are written by :func:`stqs_core.edf.write_edf`.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from ._atomic import atomic_path
from .constants import EPOCH_SEC, STAGES
from .hypnogram import STYLES, runs, stage_names


def events_frame(stages, proba=None, epoch_sec: float = EPOCH_SEC):
    """A BIDS-style events table, one row per epoch.

    Parameters
    ----------
    stages : array_like of int, shape (n_epochs,)
        Stage codes (0-4, -1 unscored).
    proba : array_like of float, shape (n_epochs, 5), or None
        Stage probabilities, written as ``prob_<stage>`` columns.
    epoch_sec : float
        Epoch length in seconds.

    Returns
    -------
    pandas.DataFrame
        ``onset`` and ``duration`` (s), ``stage`` (W/N1/N2/N3/REM or ``n/a`` for unscored), and the
        ``prob_<stage>`` columns when ``proba`` is given.
    """
    import pandas as pd

    stages = np.asarray(stages)
    frame = pd.DataFrame(
        {
            "onset": np.arange(len(stages)) * epoch_sec,
            "duration": epoch_sec,
            "stage": stage_names(stages, "bids"),
        }
    )
    if proba is not None:
        for i, name in enumerate(STAGES):
            frame[f"prob_{name}"] = np.round(np.asarray(proba)[:, i], 5)
    return frame


def write_events_tsv(path: str | Path, stages, proba=None, epoch_sec: float = EPOCH_SEC) -> Path:
    """Write :func:`events_frame` as a tab-separated file (BIDS ``*_events.tsv`` conventions: ``n/a`` for missing).

    Parameters
    ----------
    path : str or Path
        The file to write.
    stages : array_like of int, shape (n_epochs,)
        Stage codes (0-4, -1 unscored).
    proba : array_like of float, shape (n_epochs, 5), or None
        Stage probabilities.
    epoch_sec : float
        Epoch length in seconds.

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_path(path) as tmp:
        events_frame(stages, proba, epoch_sec).to_csv(tmp, sep="\t", index=False, na_rep="n/a")
    return Path(path)


def write_nsrr_xml(path: str | Path, stages, epoch_sec: float = EPOCH_SEC) -> Path:
    """Write stages as an NSRR (SHHS/MESA-style) XML: one ``Stages|Stages`` ScoredEvent per run of equal stages.

    Parameters
    ----------
    path : str or Path
        The XML file, written atomically.
    stages : array_like of int, shape (n_epochs,)
        Stage codes (0-4, -1 unscored), one per epoch from the start of the recording.
    epoch_sec : float
        Epoch length (s); each event's ``Start`` and ``Duration`` are in seconds.

    Returns
    -------
    Path
        ``path``.
    """
    found = runs(stages)
    events = "".join(
        "<ScoredEvent><EventType>Stages|Stages</EventType>"
        f"<EventConcept>{escape(concept)}</EventConcept>"
        f"<Start>{start * epoch_sec:.1f}</Start><Duration>{length * epoch_sec:.1f}</Duration>"
        "</ScoredEvent>\n"
        for start, length, concept in zip(found.start, found.length, stage_names(found.stage, "nsrr"))
    )
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<PSGAnnotation>\n<SoftwareVersion>STQS</SoftwareVersion>\n'
        f"<EpochLength>{epoch_sec:g}</EpochLength>\n<ScoredEvents>\n{events}</ScoredEvents>\n</PSGAnnotation>\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def to_annotations(stages, epoch_sec: float = EPOCH_SEC, orig_time=None):
    """An ``mne.Annotations`` with one ``Sleep stage W/N1/N2/N3/R/?`` annotation per run of equal stages.

    Parameters
    ----------
    stages : array_like of int, shape (n_epochs,)
        Stage codes (0-4, -1 unscored).
    epoch_sec : float
        Epoch length in seconds.
    orig_time : datetime or None
        The recording's start (``raw.info["meas_date"]``), to attach the annotations to a ``Raw``.

    Returns
    -------
    mne.Annotations
    """
    import mne

    found = runs(stages)
    return mne.Annotations(
        found.start * epoch_sec, found.length * epoch_sec, stage_names(found.stage, "edf"), orig_time=orig_time
    )


def to_yasa(stages, proba=None, epoch_sec: float = EPOCH_SEC, scorer: str | None = None):
    """A ``yasa.Hypnogram`` (5 stages, unscored as ``UNS``) with the probabilities as its ``proba``; needs YASA.

    Parameters
    ----------
    stages : array_like of int, shape (n_epochs,)
        Stage codes (0-4, -1 unscored).
    proba : array_like of float, shape (n_epochs, 5), or None
        Stage probabilities.
    epoch_sec : float
        Epoch length in seconds.
    scorer : str or None
        The hypnogram's scorer name.

    Returns
    -------
    yasa.Hypnogram
    """
    try:
        import yasa
    except ImportError as err:
        raise ImportError("to_yasa needs YASA: pip install yasa") from err
    import pandas as pd

    values = np.array(stage_names(stages, "yasa"))
    frame = None
    if proba is not None:
        frame = pd.DataFrame(np.asarray(proba, dtype=float), columns=list(STYLES["yasa"][:5]))
        frame = frame.div(frame.sum(axis=1), axis=0)  # float32 softmax rows sum to 1 within 1e-7; YASA checks
    return yasa.Hypnogram(values, n_stages=5, freq=f"{epoch_sec:g}s", scorer=scorer, proba=frame)
