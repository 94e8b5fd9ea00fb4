"""Hypnogram files: readers for NSRR XML, EDF+, CSV/TXT and JSON, and writers.

A hypnogram is an int array ``(n_epochs,)`` of stage codes 0-4 (W, N1, N2, N3, REM) with -1 for unscored,
one per 30-s epoch from the start of the recording (the vocabulary is :mod:`stqs_core.hypnogram`'s). R&K stages 3
and 4 become N3; ``?``, movement time and unknown-stage markers become -1.
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
from .constants import EPOCH_SEC, UNSCORED
from .edf import write_edf
from .errors import HypnogramError
from .hypnogram import is_stage_label, stage_code, stage_names

logger = logging.getLogger(__name__)

MAX_EPOCHS = 30 * 24 * 120
"""Longest hypnogram read without a recording to fit (30 days of 30-s epochs): larger onsets are errors."""


def read_hypnogram(path: str | Path, n_epochs: int | None = None, offset_s: float = 0.0) -> np.ndarray:
    """Read a hypnogram file into stage codes ``(n_epochs,)`` (int8).

    Parameters
    ----------
    path : str | Path
        ``.xml`` (NSRR), ``.edf``/``.bdf`` (EDF+ annotations), ``.json`` (a list of codes, as DOD-H, or the
        ``stage`` column of a ``stqs score`` JSON),
        ``.csv``/``.txt``/``.tsv`` (one label per 30-s epoch; a CSV with a ``stage`` column, or the first column).
    n_epochs : int | None
        Epochs in the recording (see :func:`fit_to_length`): missing trailing epochs are unscored, with a
        warning naming them; scored epochs past the end are an error.
    offset_s : float
        Start of the recording relative to the hypnogram's time zero (s), for timed formats.

    Returns
    -------
    ndarray of int8, shape (n_epochs,)
        Stage codes per 30-s epoch: 0-4 for W, N1, N2, N3, REM; -1 unscored.

    Raises
    ------
    HypnogramError
        For a missing, unreadable or malformed file, a label that names no stage, a value that is not a finite
        number, or stages that do not fit the recording.
    """
    path = Path(path)
    if path.is_dir():
        raise HypnogramError(f"hypnogram {path} is a folder; give the hypnogram file")
    if not path.is_file():
        raise HypnogramError(f"hypnogram file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".xml":
            stages = events_to_epochs(_read_nsrr_xml(path), offset_s, path, n_epochs)
        elif suffix in (".edf", ".bdf"):
            stages = events_to_epochs(read_edf_annotations(path), offset_s, path, n_epochs)
        elif suffix == ".json":
            stages = _codes(_read_json_labels(path), path)
        elif suffix in (".csv", ".txt", ".tsv", ".hyp"):
            stages = _codes(_read_table_labels(path), path)
        else:
            raise HypnogramError(
                f"unsupported hypnogram format {suffix!r} ({path}); use .xml, .edf, .json, .csv or .txt"
            )
    except OSError as err:
        raise HypnogramError(f"cannot read the hypnogram {path} ({err.strerror or err})") from err
    return fit_to_length(stages, n_epochs, path) if n_epochs is not None else stages


def events_to_epochs(
    events: list[tuple[float, float, str]],
    offset_s: float = 0.0,
    source: str | Path = "annotations",
    n_epochs: int | None = None,
) -> np.ndarray:
    """Stage codes per 30-s epoch from ``(onset_s, duration_s, label)`` events; non-stage events are ignored.

    Every onset and duration is checked (finite, on the 30-s grid, not before the recording, within
    ``n_epochs`` when given, else within :data:`MAX_EPOCHS`) before the array is sized.

    Parameters
    ----------
    events : list of (float, float, str)
        Onset and duration in seconds, and the annotation text.
    offset_s : float
        Seconds subtracted from every onset (the recording's start in the events' clock).
    source : str or Path
        Where the events come from, for messages.
    n_epochs : int or None
        The recording's length in epochs, when known.

    Returns
    -------
    ndarray of int8, shape (n,)
        Stage codes (-1 unscored), ``n`` the end of the last stage event in epochs (at most ``n_epochs``).

    Raises
    ------
    HypnogramError
        When there is no stage event, or one that is not finite, negative, off the grid, before the start or
        past the end of the recording; the message names the event and its epochs.
    """
    stage_events = [(on, dur, lab) for on, dur, lab in events if is_stage_label(lab)]
    if not stage_events:
        raise HypnogramError(f"{source}: no sleep-stage annotations found")
    limit = MAX_EPOCHS if n_epochs is None else n_epochs
    spans = []
    for onset, duration, label in stage_events:
        where = f"{source}: stage {label!r} at {onset} s lasting {duration} s"
        if not (_finite(onset) and _finite(duration)):
            raise HypnogramError(f"{where}: onset and duration must be finite numbers; fix or remove the annotation")
        if duration < 0:
            raise HypnogramError(f"{where}: a negative duration; fix or remove the annotation")
        first, count = (onset - offset_s) / EPOCH_SEC, duration / EPOCH_SEC
        if abs(first - round(first)) > 1e-3 or abs(count - round(count)) > 1e-3:
            raise HypnogramError(
                f"{where} is not aligned to the {EPOCH_SEC:.0f}-s epoch grid of the recording; is "
                "it this recording's hypnogram? Stages must start at multiples of 30 s from the "
                "recording's start (from Python, read_hypnogram(..., offset_s=) shifts them)"
            )
        first, count = int(round(first)), int(round(count))
        if first < 0:
            raise HypnogramError(f"{where} starts {-first * EPOCH_SEC:.0f} s before the recording")
        if count == 0:
            logger.warning("%s: a zero-length stage annotation (epoch %d) is ignored", where, first)
            continue
        code = stage_code(label)
        if first + count > limit and code != UNSCORED:
            what = (
                f"the recording holds only {n_epochs} epochs ({n_epochs * EPOCH_SEC / 3600:.2f} h)"
                if n_epochs is not None
                else f"that is more than {MAX_EPOCHS // 2880} days after the start"
            )
            raise HypnogramError(
                f"{where} scores epochs {_span(first, first + count)} but "
                f"{what}; is it the right file, or is the recording truncated?"
            )
        if first < limit:  # unscored epochs past the end are dropped
            spans.append((first, min(first + count, limit), code))
    stages = np.full(max((stop for _, stop, _ in spans), default=0), UNSCORED, dtype=np.int8)
    for first, stop, code in spans:
        stages[first:stop] = code
    return stages


def fit_to_length(stages: np.ndarray, n_epochs: int, source: str | Path = "hypnogram") -> np.ndarray:
    """Pad with unscored or trim unscored epochs so ``stages`` has ``n_epochs``; error if scored epochs are cut.

    A hypnogram shorter than its recording is padded with unscored epochs and a warning names them (the
    trailing wake of a night is often left unscored, so this is not an error); the padded epochs are left
    out of accuracy and training.

    Parameters
    ----------
    stages : ndarray of int, shape (n,)
        Stage codes per 30-s epoch (-1 unscored).
    n_epochs : int
        The recording's length in epochs.
    source : str or Path
        Where the stages come from, for messages.

    Returns
    -------
    ndarray of int, shape (n_epochs,)

    Raises
    ------
    HypnogramError
        When trimming would drop scored epochs.
    """
    if len(stages) > n_epochs:
        extra = np.flatnonzero(stages[n_epochs:] != UNSCORED)
        if len(extra):
            raise HypnogramError(
                f"{source}: the hypnogram scores {len(stages)} epochs but the signal holds only "
                f"{n_epochs} (scored epochs {_span(n_epochs + extra[0], n_epochs + extra[-1] + 1)} "
                "fall past its end); is it the right file, or is the recording truncated?"
            )
        return stages[:n_epochs]
    if len(stages) < n_epochs:
        logger.warning(
            "%s: the hypnogram covers %d of the recording's %d epochs; epochs %s are left unscored",
            source,
            len(stages),
            n_epochs,
            _span(len(stages), n_epochs),
        )
        stages = np.concatenate([stages, np.full(n_epochs - len(stages), UNSCORED, dtype=np.int8)])
    return stages


def _span(first: int, stop: int) -> str:
    """``"60-119 (0:30:00-1:00:00)"``: epochs ``first..stop-1`` and their times."""

    def clock(epoch: int) -> str:
        seconds = int(epoch * EPOCH_SEC)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    return f"{first}-{stop - 1} ({clock(first)}-{clock(stop)})" if stop - first > 1 else f"{first} ({clock(first)})"


def _finite(value) -> bool:
    return isinstance(value, (int, float, np.number)) and bool(np.isfinite(value))


def _codes(labels: list, source: Path) -> np.ndarray:
    """Stage codes of one label per epoch, the message naming the first bad label's epoch."""
    codes = np.empty(len(labels), dtype=np.int8)
    for i, label in enumerate(labels):
        try:
            codes[i] = stage_code(label)
        except HypnogramError as err:
            raise HypnogramError(f"{source}, epoch {i}: {err}") from None
    return codes


def _read_nsrr_xml(path: Path) -> list[tuple[float, float, str]]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise HypnogramError(f"{path}: not valid XML ({err})") from err
    events = []
    for i, ev in enumerate(root.iter("ScoredEvent")):
        if not (ev.findtext("EventType") or "").startswith("Stages"):
            continue
        concept, values = ev.findtext("EventConcept"), []
        for field in ("Start", "Duration"):
            text = ev.findtext(field)
            try:
                values.append(float(text))
            except (TypeError, ValueError):
                raise HypnogramError(
                    f"{path}: stage event {i} ({concept!r}) has <{field}>{text}</{field}>, not a "
                    "number of seconds; fix the file or export it again"
                ) from None
        if concept is None:
            raise HypnogramError(f"{path}: stage event {i} has no <EventConcept>; fix the file or export it again")
        events.append((values[0], values[1], concept))
    return events


def read_edf_annotations(path: str | Path) -> list[tuple[float, float, str]]:
    """``(onset_s, duration_s, text)`` of every EDF+/BDF+ annotation in ``path`` (with or without signals).

    Read with edfio, which parses only the annotation signal (``mne.read_annotations`` scans the whole file's
    bytes for annotation patterns, so signal samples that happen to look like one break it). edfio maps an EDF
    file lazily but reads a BDF file whole.

    Parameters
    ----------
    path : str or Path
        An EDF+ or BDF+ file.

    Returns
    -------
    list of (float, float, str)
        Onset and duration in seconds (0 for an annotation without a duration), and the text.

    Raises
    ------
    HypnogramError
        When the file is not a readable EDF+/BDF+ file.
    """
    import edfio

    path = Path(path)
    try:
        if path.suffix.lower() == ".bdf":
            edf = edfio.read_bdf(path)  # edfio reads BDF only whole (no lazy_load_data)
        else:
            edf = edfio.read_edf(path, lazy_load_data=True)
        annotations = edf.annotations
    except Exception as err:  # edfio raises several types for a malformed header or annotation
        raise HypnogramError(
            f"{path}: cannot read EDF+ annotations ({type(err).__name__}: {err}); is it a complete EDF+ file?"
        ) from err
    return [(a.onset, 0.0 if a.duration is None else a.duration, a.text) for a in annotations]


def _read_json_labels(path: Path) -> list:
    try:
        labels = json.loads(path.read_text())
    except (ValueError, RecursionError) as err:
        raise HypnogramError(f"{path}: not valid JSON ({err})") from None
    if isinstance(labels, dict) and isinstance(labels.get("stage"), list):
        labels = labels["stage"]  # the JSON `stqs score` writes: summary and one column per key
    if not isinstance(labels, list):
        raise HypnogramError(
            f"{path}: a JSON hypnogram must be a list of stages, one per 30-s epoch (e.g. "
            f"[0, 0, 1, 2, 4]), got {type(labels).__name__} {str(labels):.40}"
        )
    return labels


def _read_table_labels(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise HypnogramError(
            f"{path}: not a text file ({err}); a CSV/TXT hypnogram has one stage label per line"
        ) from err
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise HypnogramError(f"{path}: no stage labels found")
    delimiter = "\t" if "\t" in lines[0] else ","
    try:
        rows = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as err:
        raise HypnogramError(f"{path}: not a readable CSV ({err})") from None
    header = [h.strip().lower() for h in rows[0]]
    col, rows = (header.index("stage"), rows[1:]) if "stage" in header else (0, rows)
    short = [i for i, r in enumerate(rows) if len(r) <= col]
    if short:
        raise HypnogramError(
            f"{path}: row {short[0] + 1 + (col > 0)} has no column {col + 1} (stage); every row needs one stage label"
        )
    return [r[col] for r in rows]


def write_hypnogram(path: str | Path, stages: np.ndarray) -> Path:
    """Write stage codes as EDF+ annotations (``.edf``), a JSON list (``.json``) or one name per line (else).

    Parameters
    ----------
    path : str or Path
        The file to write; its suffix chooses the format.
    stages : ndarray of int, shape (n_epochs,)
        Stage codes per 30-s epoch (-1 unscored).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if path.suffix.lower() == ".edf":
        return write_edf(path, stages=stages)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps([int(s) for s in stages]))
        else:
            tmp.write_text("".join(f"{name}\n" for name in stage_names(stages)))
    return path


_RECORDING_SUFFIX = re.compile(r"[-_ ]psg$", re.IGNORECASE)
_HYPNOGRAM_SUFFIX = re.compile(
    r"[-_ ](nsrr|profusion|hypnogram|sleepscoring|staging|stages|hypno|base)$", re.IGNORECASE
)
_SLEEP_EDF_PSG = re.compile(r"^(S[CT]\d{4}[A-Z])0-PSG$", re.IGNORECASE)
_SLEEP_EDF_HYPNOGRAM = re.compile(r"^(S[CT]\d{4}[A-Z])[A-Z]-Hypnogram$", re.IGNORECASE)


def is_hypnogram_file(path: str | Path) -> bool:
    """Whether a file's name marks it as a hypnogram rather than a recording.

    Parameters
    ----------
    path : str or Path
        A file name; marks are ``-Hypnogram``, ``-nsrr``, ``-profusion``, `` Base``, ``_sleepscoring`` ...

    Returns
    -------
    bool
    """
    return bool(_HYPNOGRAM_SUFFIX.search(Path(path).stem))


def find_hypnogram(recording: str | Path, candidates: list[Path]) -> Path | None:
    """The hypnogram file among ``candidates`` that belongs to ``recording``, by exact naming conventions.

    Only rules that cannot pair a recording with another night's hypnogram:

    - equal stems once the recording's ``-PSG``/`` PSG`` and the hypnogram's ``-nsrr``, ``-profusion``,
      ``-Hypnogram``, `` Base``, ``_sleepscoring`` ... suffix are removed: SHHS ``shhs1-200001.edf`` with
      ``shhs1-200001-nsrr.xml``, MASS ``01-02-0001 PSG.edf`` with ``01-02-0001 Base.edf``, HMC ``SN001.edf``
      with ``SN001_sleepscoring.edf``, or ``night1.edf`` with ``night1.csv``;
    - Sleep-EDF: ``SC4001E0-PSG.edf`` with ``SC4001EC-Hypnogram.edf`` (subject, night and recording letter
      equal; only the last letter, the scorer, differs).

    Parameters
    ----------
    recording : str or Path
        The recording file.
    candidates : list of Path
        Files that may hold its hypnogram (e.g. the other files of its folder).

    Returns
    -------
    Path or None
        The hypnogram, or None when no candidate fits.

    Raises
    ------
    HypnogramError
        When several candidates fit (NSRR's ``-nsrr.xml`` is preferred over ``-profusion.xml``).
    """
    recording = Path(recording)
    stem = recording.stem
    key = _RECORDING_SUFFIX.sub("", stem).lower()
    sleep_edf = _SLEEP_EDF_PSG.match(stem)
    matches = []
    for candidate in candidates:
        if candidate.resolve() == recording.resolve():
            continue
        other = _SLEEP_EDF_HYPNOGRAM.match(candidate.stem)
        if _HYPNOGRAM_SUFFIX.sub("", candidate.stem).lower() == key or (
            sleep_edf and other and other.group(1).lower() == sleep_edf.group(1).lower()
        ):
            matches.append(candidate)
    if len(matches) > 1:
        matches = [m for m in matches if m.stem.lower().endswith("nsrr")] or matches
    if len(matches) > 1:
        raise HypnogramError(
            f"{recording.name}: several hypnograms match ({', '.join(m.name for m in matches)}); "
            "name the right one with a --pairs CSV (recording,hypnogram)"
        )
    return matches[0] if matches else None


def read_pairs(path: str | Path) -> dict[str, Path]:
    """Read a ``recording,hypnogram`` CSV into ``{recording file name: hypnogram path}``.

    Parameters
    ----------
    path : str or Path
        The CSV; its paths may be absolute or relative to its folder, and a header row ``recording,hypnogram``
        is optional.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    HypnogramError
        For a missing or malformed file, or a recording listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise HypnogramError(f"--pairs {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        rows = [r for r in csv.reader(path.read_text().splitlines()) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise HypnogramError(f"--pairs {path} is not a readable CSV ({err})") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["recording", "hypnogram"]:
        rows = rows[1:]
    pairs: dict[str, Path] = {}
    for i, row in enumerate(rows, 1):
        if len(row) != 2 or not all(c.strip() for c in row):
            raise HypnogramError(f"--pairs {path}, row {i}: expected two columns 'recording,hypnogram', got {row}")
        name, hypnogram = Path(row[0].strip()).name, Path(row[1].strip())
        if name in pairs:
            raise HypnogramError(f"--pairs {path}, row {i}: {name} is listed twice")
        pairs[name] = hypnogram if hypnogram.is_absolute() else path.parent / hypnogram
    return pairs
