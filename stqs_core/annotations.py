"""Hypnograms: the stage vocabulary, readers for NSRR XML, EDF+, CSV/TXT and JSON, and writers.

A hypnogram is an int array ``(n_epochs,)`` of stage codes 0-4 (W, N1, N2, N3, REM) with -1 for unscored,
one per 30-s epoch from the start of the recording. R&K stages 3 and 4 become N3; ``?``, movement time and
unknown-stage markers become -1.
"""
from __future__ import annotations

import csv
import json
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .constants import EPOCH_SEC, STAGES, UNSCORED

logger = logging.getLogger(__name__)

_NAMES = {"W": 0, "WAKE": 0, "N1": 1, "S1": 1, "N2": 2, "S2": 2, "N3": 3, "S3": 3, "N4": 3, "S4": 3, "R": 4, "REM": 4,
          "?": UNSCORED, "UNSCORED": UNSCORED, "UNKNOWN": UNSCORED, "MOVEMENT": UNSCORED, "MOVEMENT TIME": UNSCORED,
          "MT": UNSCORED, "M": UNSCORED, "ARTIFACT": UNSCORED}
_RK_NUMBERS = {"W": 0, "1": 1, "2": 2, "3": 3, "4": 3, "R": 4, "?": UNSCORED}  # after "Sleep stage " (EDF+)
_NSRR_CODES = {"0": 0, "1": 1, "2": 2, "3": 3, "4": 3, "5": 4, "6": UNSCORED, "9": UNSCORED}  # after the bar
_PREFIX = re.compile(r"^SLEEP STAGE\s+", re.IGNORECASE)


def stage_code(label: str | int) -> int:
    """Stage code (0-4, or -1 for unscored) of one label.

    Accepted: names (``W``, ``N1``, ``N2``, ``N3``, ``R``/``REM``, ``?``, ``Movement time``), EDF+ labels
    (``Sleep stage 4`` is R&K, so N3), NSRR labels (``Stage 4 sleep|4``) and bare codes 0-4 (4 is REM) or -1.

    Raises
    ------
    ValueError
        For a label that names no stage, listing the accepted forms.
    """
    text = str(label).strip().upper()
    code = None
    if "|" in text:
        code = _NSRR_CODES.get(text.split("|")[1].strip())
    elif _PREFIX.match(text):
        rest = _PREFIX.sub("", text)
        code = _RK_NUMBERS.get(rest, _NAMES.get(rest))
    elif text in _NAMES:
        code = _NAMES[text]
    elif re.fullmatch(r"-?\d+(\.0*)?", text) and -1 <= float(text) <= 4:
        code = int(float(text))
    if code is None:
        raise ValueError(f"unknown sleep stage label {label!r}; use W/N1/N2/N3/R (or REM), codes 0-4 (4 = REM), "
                         "EDF+ 'Sleep stage W/1/2/3/4/R/?', NSRR 'Stage 2 sleep|2', or '?'/'Movement time'")
    return code


def is_stage_label(label: str) -> bool:
    """Whether an annotation describes a sleep stage (other annotations such as 'Lights off' are ignored)."""
    text = label.strip().upper()
    return bool(_PREFIX.match(text)) or ("|" in text and ("SLEEP" in text or "WAKE" in text)) or text in _NAMES


def read_hypnogram(path: str | Path, n_epochs: int | None = None, offset_s: float = 0.0) -> np.ndarray:
    """Read a hypnogram file into stage codes ``(n_epochs,)`` (int8).

    Parameters
    ----------
    path : str | Path
        ``.xml`` (NSRR), ``.edf``/``.bdf`` (EDF+ annotations), ``.json`` (a list of codes, as DOD-H),
        ``.csv``/``.txt``/``.tsv`` (one label per 30-s epoch; a CSV with a ``stage`` column, or the first column).
    n_epochs : int | None
        Epochs in the recording. Missing trailing epochs are unscored; scored epochs past the end are an error.
    offset_s : float
        Start of the recording relative to the hypnogram's time zero (s), for timed formats.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"hypnogram file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".xml":
        stages = events_to_epochs(_read_nsrr_xml(path), offset_s, path)
    elif suffix in (".edf", ".bdf"):
        stages = events_to_epochs(_read_edf_annotations(path), offset_s, path)
    elif suffix == ".json":
        stages = np.array([stage_code(v) for v in json.loads(path.read_text())], dtype=np.int8)
    elif suffix in (".csv", ".txt", ".tsv", ".hyp"):
        stages = np.array([stage_code(v) for v in _read_table_labels(path)], dtype=np.int8)
    else:
        raise ValueError(f"unsupported hypnogram format {suffix!r} ({path}); use .xml, .edf, .json, .csv or .txt")
    return fit_to_length(stages, n_epochs, path) if n_epochs is not None else stages


def events_to_epochs(events: list[tuple[float, float, str]], offset_s: float = 0.0,
                     source: str | Path = "annotations") -> np.ndarray:
    """Stage codes per 30-s epoch from ``(onset_s, duration_s, label)`` events; non-stage events are ignored.

    Raises ``ValueError`` when a stage event does not start and end on the 30-s grid.
    """
    stage_events = [(on - offset_s, dur, lab) for on, dur, lab in events if is_stage_label(lab)]
    if not stage_events:
        raise ValueError(f"{source}: no sleep-stage annotations found")
    end = max(on + dur for on, dur, _ in stage_events)
    stages = np.full(int(round(end / EPOCH_SEC)), UNSCORED, dtype=np.int8)
    for onset, duration, label in stage_events:
        first, count = onset / EPOCH_SEC, duration / EPOCH_SEC
        if abs(first - round(first)) > 1e-3 or abs(count - round(count)) > 1e-3:
            raise ValueError(f"{source}: stage {label!r} at {onset:.2f} s lasting {duration:.2f} s is not aligned "
                             f"to the {EPOCH_SEC:.0f}-s epoch grid; pass offset_s= if the recording starts later")
        first, count = int(round(first)), int(round(count))
        if first < 0:
            raise ValueError(f"{source}: stage {label!r} starts {-onset:.0f} s before the recording")
        stages[first:first + count] = stage_code(label)
    return stages


def fit_to_length(stages: np.ndarray, n_epochs: int, source: str | Path = "hypnogram") -> np.ndarray:
    """Pad with unscored or trim unscored epochs so ``stages`` has ``n_epochs``; error if scored epochs are cut."""
    if len(stages) > n_epochs:
        extra = stages[n_epochs:]
        if np.any(extra != UNSCORED):
            raise ValueError(f"{source}: the hypnogram scores {len(stages)} epochs but the signal holds only "
                             f"{n_epochs}; is it the right file, or is the recording truncated?")
        return stages[:n_epochs]
    if len(stages) < n_epochs:
        logger.info("%s: %d epochs past the hypnogram's end are unscored", source, n_epochs - len(stages))
        stages = np.concatenate([stages, np.full(n_epochs - len(stages), UNSCORED, dtype=np.int8)])
    return stages


def _read_nsrr_xml(path: Path) -> list[tuple[float, float, str]]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: not valid XML ({err})") from err
    events = []
    for ev in root.iter("ScoredEvent"):
        if (ev.findtext("EventType") or "").startswith("Stages"):
            events.append((float(ev.findtext("Start")), float(ev.findtext("Duration")), ev.findtext("EventConcept")))
    return events


def _read_edf_annotations(path: Path) -> list[tuple[float, float, str]]:
    import mne

    try:
        ann = mne.read_annotations(path)
    except Exception as err:  # mne raises several types for a broken EDF
        raise ValueError(f"{path}: cannot read EDF+ annotations ({err})") from err
    return list(zip(ann.onset, ann.duration, ann.description))


def _read_table_labels(path: Path) -> list[str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no stage labels found")
    delimiter = "\t" if "\t" in lines[0] else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip().lower() for h in rows[0]]
    if "stage" in header:
        col = header.index("stage")
        return [r[col] for r in rows[1:]]
    return [r[0] for r in rows]


def write_hypnogram(path: str | Path, stages: np.ndarray) -> Path:
    """Write stage codes as EDF+ annotations (``.edf``), a JSON list (``.json``) or one name per line (else)."""
    path = Path(path)
    if path.suffix.lower() == ".edf":
        from .recording import write_edf

        return write_edf(path, stages=stages)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps([int(s) for s in stages]))
        else:
            tmp.write_text("".join(f"{stage_name(s)}\n" for s in stages))
    return path


def stage_name(code: int) -> str:
    """``"W"``..``"REM"``, or ``"?"`` for unscored."""
    return STAGES[code] if code >= 0 else "?"


_SUFFIXES = re.compile(r"([-_ ](psg|nsrr|hypnogram|sleepscoring|profusion|staging|stages|hypno))+$", re.IGNORECASE)


def find_hypnogram(recording: str | Path, candidates: list[Path]) -> Path | None:
    """The hypnogram file among ``candidates`` that belongs to ``recording``, matched by name.

    ``shhs1-200001.edf`` pairs with ``shhs1-200001-nsrr.xml``; Sleep-EDF's ``SC4001E0-PSG.edf`` with
    ``SC4001EC-Hypnogram.edf`` (names equal but for their last character). Returns None when no single
    candidate fits.
    """
    key = _SUFFIXES.sub("", Path(recording).stem).lower()
    keys = {c: _SUFFIXES.sub("", c.stem).lower() for c in candidates if c != Path(recording)}
    exact = [c for c, k in keys.items() if k == key]
    if len(exact) == 1:
        return exact[0]
    near = [c for c, k in keys.items() if len(k) == len(key) and k[:-1] == key[:-1]]
    return near[0] if len(near) == 1 else None
