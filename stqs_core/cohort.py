"""Score a cohort: many nights in one call, in this process or on a Dask cluster, resumable, with one table row
of sleep statistics, confidence and expert agreement per night.

Each night writes its hypnogram ``<name>.<fmt>`` and then its record ``<name>.record.json`` (its results and the
fingerprint of what produced them: input size and mtime, annotations, model file hash, options), each atomically.
A rerun skips the nights whose record matches, so a killed run continues and ends with the same ``cohort.csv`` as an
uninterrupted one. A night that fails gets a row with its error (and is tried again by the next run); it never
stops the cohort.
"""

from __future__ import annotations

import csv
import functools
import glob
import hashlib
import io
import itertools
import json
import logging
import os
import socket
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ._atomic import atomic_path, clean_stale, file_keys, json_safe
from .checkpoint import load_model, resolve_model_path
from .constants import AASM_BANDS, ROLES, STAGES
from .errors import OutputError, StqsError, check_option, check_range
from .sleepstats import sleep_statistics

logger = logging.getLogger(__name__)

FORMATS = ("csv", "json", "edf", "tsv", "xml")
"""Hypnogram formats a cohort can write (see :meth:`~stqs_core.scoring.ScoredNight.write`)."""
RECORDING_SUFFIXES = (".edf", ".bdf")
RECORD_SUFFIX = ".record.json"
FORMULA_STARTS = ("=", "+", "-", "@")
"""Text cells of ``cohort.csv`` starting with one of these (and not a number) get a leading ``'``: a spreadsheet
opening the table shows them as text instead of running them as formulas."""
NIGHTS_PER_CORE = 4
"""With ``workers=None``, fewer nights per core than this are scored in one process: starting the workers (each
imports PyTorch and loads the model) would cost more than it saves."""
LOW_CONFIDENCE = 0.5
"""An epoch whose highest stage probability is below this counts in ``low_confidence_fraction``."""
RELIANCE_COLUMNS = tuple(f"reliance_{s}_{role}_{band}" for s in STAGES for role in ROLES for band in AASM_BANDS)
"""With triage, a night's reliance profile: per predicted stage, the mean drop of its probability when each band is
removed from each modality (:meth:`~stqs_core.interpret.triage.Triage.reliance`; empty for stages with few epochs)."""
RELIANCE_Z = 3.5
"""A night whose profile lies further from the cohort's median profile than this robust z-score is flagged."""
RELIANCE_SPREAD = 0.02
"""Smallest spread (probability) the robust z-scores divide by: nights alike to within this are not told apart."""
_CHANNEL_COLUMNS = ("eeg", "eog", "emg")
_MANIFEST_COLUMNS = ("path", "annotations", "name", "preset", *_CHANNEL_COLUMNS)
_RESULT_COLUMNS = (
    "status",
    "error",
    "model",
    "modalities",
    "n_epochs",
    "mean_confidence",
    "low_confidence_fraction",
    "adaptation",
    "ood_score",
    "n_scored",
    "accuracy",
    "kappa",
    "n_flagged",
    "flagged_share",
    "reliance_distance",
    "reliance_z",
    "reliance_outlier",
    *RELIANCE_COLUMNS,
)


@dataclass(frozen=True)
class Night:
    """One night of a cohort.

    Parameters
    ----------
    path : Path
        The recording.
    name : str
        Its output name (the file stem unless a manifest names it).
    annotations : Path or None
        The expert hypnogram.
    channels : dict
        Channel choices passed to :func:`~stqs_core.scoring.score_file`: ``eeg``/``eog``/``emg`` lists,
        ``preset``.
    extra : dict
        Extra manifest columns, carried to the outputs as text.
    """

    path: Path
    name: str
    annotations: Path | None = None
    channels: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def base_row(self) -> dict:
        """The night's first columns in the cohort table: ``name``, ``path``, ``annotations`` and the extra columns.

        Returns
        -------
        dict
        """
        return {
            "name": self.name,
            "path": str(self.path),
            "annotations": "" if self.annotations is None else str(self.annotations),
            **self.extra,
        }


@dataclass
class CohortResult:
    """What :func:`score_cohort` did.

    Parameters
    ----------
    rows : list of dict
        One dict per night, the rows of ``cohort.csv``, in input order.
    csv, json : Path
        The table files.
    n_scored, n_skipped : int
        How many nights were scored now, and skipped as already done.
    """

    rows: list[dict]
    csv: Path
    json: Path
    n_scored: int
    n_skipped: int

    @property
    def failed(self) -> list[dict]:
        """The rows of the nights that failed (``status`` not ``ok``)."""
        return [row for row in self.rows if row["status"] != "ok"]

    @property
    def table(self):
        """``cohort.csv`` as a pandas DataFrame."""
        import pandas as pd

        return pd.read_csv(self.csv, keep_default_na=False, na_values=[""])


def collect_nights(inputs, exclude: str | Path | None = None) -> list[Night]:
    """The nights of some inputs, in the given order (folders and globs sorted).

    Parameters
    ----------
    inputs : str, Path or list of them
        Recordings (.edf/.bdf), folders (their .edf/.bdf files, hypnogram EDFs left out), glob patterns, or
        manifest CSVs (see :func:`read_manifest`).
    exclude : str, Path or None
        An output folder: a glob finds no file inside it, unless it is the glob's own folder (the part of the
        pattern before its first wildcard), so that a rerun does not take the outputs for recordings.

    Returns
    -------
    list of Night
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    nights: list[Night] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() in RECORDING_SUFFIXES and "hypnogram" not in p.name.lower()
            )
            if not found:
                raise StqsError(f"no .edf or .bdf recordings in the folder {path}")
            nights += [Night(p, p.stem) for p in found]
        elif path.suffix.lower() == ".csv":
            nights += read_manifest(path)
        elif not path.exists() and glob.has_magic(str(item)):
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            base = Path(*itertools.takewhile(lambda part: not glob.has_magic(part), path.parts[:-1]))
            if exclude is not None and base.resolve() != Path(exclude).resolve():
                found = [p for p in found if not p.resolve().is_relative_to(Path(exclude).resolve())]
            if not found:
                raise StqsError(f"no file matches {item}")
            nights += [Night(p, p.stem) for p in found]
        else:  # a recording; a missing one becomes its night's error row
            nights.append(Night(path, path.stem))
    if not nights:
        raise StqsError("no recordings given: pass files, a folder, a glob or a manifest CSV")
    return nights


def read_manifest(path: str | Path) -> list[Night]:
    """Read a manifest CSV, one row per night.

    Columns: ``path`` (required; relative paths are relative to the manifest's folder), ``annotations`` (expert
    hypnogram), ``name`` (output name, default the file stem), ``preset``, ``eeg``/``eog``/``emg`` (channel names,
    comma-separated); any other column (``subject``, ``site``, ...) is carried to the outputs as text. Empty cells
    are unset. The file is UTF-8 text.

    A ``name`` is a plain file name, the stem of the night's outputs in the output folder: no ``/`` or ``\\``
    (so no absolute path and no ``..``), no NUL, not starting with ``.`` or ``-``. A manifest with another name
    is refused before anything is scored, naming its line.

    Parameters
    ----------
    path : str or Path
        The manifest.

    Returns
    -------
    list of Night
    """
    path = Path(path)
    if not path.is_file():
        raise StqsError(f"manifest {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise StqsError(
            f"manifest {path} is not UTF-8 text (byte {err.start}: {err.reason}): save it as a UTF-8 CSV"
        ) from None
    if "\0" in text:
        raise StqsError(f"manifest {path} holds NUL characters, so it is not a text CSV: save it as a UTF-8 CSV")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in reader.fieldnames or []]
        records = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as err:
        raise StqsError(f"manifest {path} is not a readable CSV ({err}): save it as a UTF-8 CSV") from None
    if "path" not in columns:
        raise StqsError(
            f"manifest {path} has no 'path' column (its columns: {columns}); give one row per night "
            "with at least a 'path' column"
        )
    reserved = set(_RESULT_COLUMNS) | set(_statistic_names()) | {f"expert_{s}" for s in _statistic_names()}
    clash = sorted(set(columns) & reserved)
    if clash:
        raise StqsError(f"manifest {path}: columns {clash} clash with output columns; rename them")
    base = path.parent
    nights = []
    for number, row in enumerate(records, start=2):
        if not row.get("path"):
            raise StqsError(f"manifest {path}, line {number}: empty 'path'")
        if row.get("name"):
            _check_name(row["name"], f"manifest {path}, line {number}")
        recording = base / row["path"]
        channels = {
            role: [t.strip() for t in row[role].split(",") if t.strip()] for role in _CHANNEL_COLUMNS if row.get(role)
        }
        if row.get("preset"):
            channels["preset"] = row["preset"]
        nights.append(
            Night(
                recording,
                row.get("name") or recording.stem,
                base / row["annotations"] if row.get("annotations") else None,
                channels,
                {k: v for k, v in row.items() if k not in _MANIFEST_COLUMNS},
            )
        )
    if not nights:
        raise StqsError(f"manifest {path} lists no nights")
    return nights


def _check_name(name: str, where: str) -> None:
    """Raise :class:`~stqs_core.errors.StqsError` unless ``name`` is a plain file name (see :func:`read_manifest`)."""
    for bad, why in (
        ("/" in name or "\\" in name, "holds a path separator"),
        ("\0" in name, "holds a NUL character"),
        (name.startswith("."), "starts with a dot"),
        (name.startswith("-"), "starts with a dash"),
    ):
        if bad:
            raise StqsError(
                f"{where}: the name {name!r} {why}; give a plain file name for the night's outputs "
                "(no '/', '\\' or NUL, not starting with '.' or '-')"
            )


def score_cohort(
    inputs,
    out_dir: str | Path,
    model=None,
    workers: int | None = None,
    scheduler: str | None = None,
    fmt: str = "csv",
    progress: bool = True,
    **options,
) -> CohortResult:
    """Score every night of ``inputs`` into ``out_dir``: one hypnogram each, and ``cohort.csv``/``cohort.json``.

    Parameters
    ----------
    inputs : str | Path | list
        Recordings, folders, glob patterns and manifest CSVs (see :func:`collect_nights`).
    out_dir : str | Path
        Output folder (created). It may be an input folder as long as no output would replace an input.
    model : str | Path | STQS | None
        Model file or shipped model name (loaded once per process), or a loaded model; None chooses one per night
        for the modalities it has (:func:`~stqs_core.scoring.choose_model`).
    workers : int | None
        Parallel worker processes on this machine (a Dask ``LocalCluster``, one thread each, torch threads =
        cores // workers). 1 scores in this process without Dask; None uses one per core when there are at least
        :data:`NIGHTS_PER_CORE` nights per core to score, else this process.
    scheduler : str | None
        Address of a running Dask scheduler (``tcp://host:port``) to score on instead. Its workers must see the
        input and output paths (a shared file system): the paths are made absolute here, and a worker that does
        not see them, or would write an output over an input, fails the night saying so
        (:func:`check_worker_paths`). A night whose worker dies is rescheduled by Dask (up to
        ``distributed.scheduler.allowed-failures`` times), then reported as failed.
    fmt : str
        Hypnogram format, one of :data:`FORMATS`.
    progress : bool
        Show a progress bar over the nights (rate and time left).
    **options
        Passed to :func:`~stqs_core.scoring.score_file` for every night (e.g. ``preset="shhs"``); a manifest's
        channel columns override them per night.

    Returns
    -------
    CohortResult
        Per-night rows: ``status`` (``ok``/``error``), ``error``, ``model``, ``modalities`` (those scored, e.g.
        ``eeg+eog``), ``n_epochs``, ``mean_confidence``
        (mean highest stage probability), ``low_confidence_fraction`` (epochs below :data:`LOW_CONFIDENCE`),
        ``adaptation`` and ``ood_score`` when scoring reports them, ``n_scored``/``accuracy``/``kappa`` against
        the expert, :func:`~stqs_core.sleepstats.sleep_statistics` of the predicted stages and, with expert
        stages, ``expert_``-prefixed ones of the expert's; the manifest's extra columns follow ``annotations``.
        With ``triage=True`` also ``n_flagged``/``flagged_share`` (epochs whose evidence contradicts the AASM
        rule), the reliance profile (:data:`RELIANCE_COLUMNS`) and how far it departs from the cohort's
        (:func:`reliance_outliers`).
    """
    check_option("format", fmt, FORMATS, OutputError)
    if workers is not None:
        workers = int(check_range("workers", workers, 1))
    if scheduler is not None:
        check_scheduler(scheduler)
    out_dir = Path(out_dir).absolute()
    nights = [
        replace(n, path=n.path.absolute(), annotations=n.annotations and n.annotations.absolute())
        for n in collect_nights(inputs, exclude=out_dir)
    ]
    manifests = [
        Path(i) for i in ([inputs] if isinstance(inputs, (str, Path)) else inputs) if Path(i).suffix.lower() == ".csv"
    ]
    check_outputs(nights, out_dir, fmt, manifests)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(out_dir, nights, fmt)
    model, identity = _model_key(model)
    rows: dict[str, dict] = {}
    todo = []
    for night in nights:
        kwargs = {**options, **night.channels}
        fingerprint = _fingerprint(night, identity, fmt, kwargs)
        done = _read_record(out_dir, night.name)
        if done and done["fingerprint"] == fingerprint and (out_dir / f"{night.name}.{fmt}").is_file():
            rows[night.name] = {**night.base_row(), **done["result"]}
        else:
            todo.append((night, kwargs, fingerprint))
    if rows:
        logger.info("%d of %d nights already scored in %s: skipped", len(rows), len(nights), out_dir)
    if workers is None:
        workers = _cores() if len(todo) >= NIGHTS_PER_CORE * _cores() else 1
    n_workers = min(workers, max(len(todo), 1))
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with (
        tqdm(total=len(todo), unit="night", desc="scoring", disable=not progress or not todo) as bar,
        logging_redirect_tqdm(),
        _once_per_cohort(),
    ):
        if not todo:
            results = ()
        elif scheduler is None and n_workers == 1:
            results = (_score_night(night, out_dir, model, fmt, kwargs, fp) for night, kwargs, fp in todo)
        else:
            results = _on_dask(todo, out_dir, model, fmt, n_workers, scheduler)
        for night, result in results:
            rows[night.name] = {**night.base_row(), **result}
            bar.update()
    ordered = reliance_outliers([rows[night.name] for night in nights])
    paths = write_tables(ordered, out_dir)
    return CohortResult(ordered, paths[0], paths[1], len(todo), len(nights) - len(todo))


def check_outputs(nights: list[Night], out_dir: Path, fmt: str, manifests: list[Path] = ()) -> None:
    """Raise :class:`~stqs_core.errors.OutputError` if an output would replace an input (a recording, hypnogram or
    manifest; by path, symbolic or hard link) or two nights would write the same file.

    Parameters
    ----------
    nights : list of Night
        The nights to score; each writes ``<name>.<fmt>`` and ``<name>.record.json`` into ``out_dir``.
    out_dir : Path
        The output folder (also holding ``cohort.csv`` and ``cohort.json``).
    fmt : str
        The hypnograms' format, the suffix of their files (see :data:`FORMATS`).
    manifests : list of Path
        The manifest files the nights were read from.

    Raises
    ------
    OutputError
        Naming the output and the input or the other night it clashes with, or an output that would not lie
        inside ``out_dir`` (a name that is no plain file name, or a symbolic link out of the folder).
    """
    root = Path(out_dir).resolve()
    inputs: dict = {}
    for p in [*manifests, *(q for night in nights for q in (night.path, night.annotations) if q is not None)]:
        for key in file_keys(Path(p)):
            inputs[key] = f"input {p}"
    writers: dict[Path, str] = {(out_dir / f"cohort.{s}").resolve(): "the cohort table" for s in ("csv", "json")}
    for night in nights:
        for path in (out_dir / f"{night.name}.{fmt}", out_dir / f"{night.name}{RECORD_SUFFIX}"):
            if "\0" in str(path) or not path.resolve().is_relative_to(root):
                raise OutputError(
                    f"night {night.name!r} would write {path}, which is not inside the output folder {root}: "
                    "give the night a plain file name (a manifest's 'name' column)"
                )
            path = path.resolve()
            if path in writers:
                raise OutputError(
                    f"night {night.name!r} and {writers[path]} would both write {path}: give the "
                    "nights distinct names (a manifest's 'name' column)"
                )
            writers[path] = f"night {night.name!r}"
    for path, owner in writers.items():
        clash = next((inputs[k] for k in file_keys(path) if k in inputs), None)
        if clash is None:
            continue
        if owner == "the cohort table":
            raise OutputError(f"the cohort table would overwrite the {clash}: choose another output folder")
        raise OutputError(
            f"{owner} would overwrite the {clash} with {path}: choose another output folder or another --format"
        )


def write_tables(rows: list[dict], out_dir: Path) -> tuple[Path, Path]:
    """Write ``cohort.csv`` (one row per night; text starting a formula prefixed with ``'``, see
    :data:`FORMULA_STARTS`) and ``cohort.json`` (``{"nights": rows}`` as they are, NaN as null).

    Parameters
    ----------
    rows : list of dict
        The rows.
    out_dir : Path
        The output folder.

    Returns
    -------
    csv, json : Path
    """
    import pandas as pd

    columns = list(dict.fromkeys(key for row in rows for key in row))
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "cohort.csv") as tmp:
        safe = [{k: _spreadsheet_text(v) for k, v in row.items()} for row in rows]
        pd.DataFrame(safe, columns=columns).to_csv(tmp, index=False)
    clean = [{k: json_safe(v) for k, v in row.items()} for row in rows]
    summary = {"n_nights": len(rows), "n_ok": sum(r["status"] == "ok" for r in rows), "nights": clean}
    with atomic_path(out_dir / "cohort.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1, allow_nan=False))
    return out_dir / "cohort.csv", out_dir / "cohort.json"


def _spreadsheet_text(value):
    """``value``, with a ``'`` before a text that a spreadsheet would run as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return f"'{value}"
    return value  # a number, e.g. -1.5


def night_results(night) -> dict:
    """The cohort-table results of a scored night (see :func:`score_cohort`).

    Parameters
    ----------
    night : ScoredNight
        The night.

    Returns
    -------
    dict
    """
    summary = night.summary()
    out = {
        "status": "ok",
        "error": "",
        "model": summary["model"],
        "modalities": "+".join(summary.get("modalities", [])),
        "n_epochs": summary["n_epochs"],
        "mean_confidence": summary["mean_confidence"],
        "low_confidence_fraction": round(float(np.mean(night.confidence < LOW_CONFIDENCE)), 4),
    }
    if summary.get("adaptation"):
        out["adaptation"] = summary["adaptation"]
    if summary.get("ood_score") is not None:
        out["ood_score"] = round(float(summary["ood_score"]), 4)
    if night.true is not None:
        out.update({k: summary[k] for k in ("n_scored", "accuracy", "kappa")})
    out.update(sleep_statistics(night.stages))
    if night.triage is not None:
        flagged = night.triage.summary()
        out.update(n_flagged=flagged["n_flagged"], flagged_share=flagged["flagged_share"])
        profile = night.triage.reliance()
        out.update(
            {f"reliance_{s}_{o.replace(' ', '_')}": round(float(profile.at[s, o]), 5) for s in STAGES for o in profile}
        )
    if night.true is not None and (night.true >= 0).any():
        out.update({f"expert_{k}": v for k, v in sleep_statistics(night.true).items()})
    return out


def reliance_outliers(rows: list[dict], threshold: float = RELIANCE_Z) -> list[dict]:
    """The rows with ``reliance_distance``, ``reliance_z`` and ``reliance_outlier`` where they hold a reliance
    profile (:data:`RELIANCE_COLUMNS`).

    ``reliance_distance``: for each stage, the Euclidean distance (probability units) of the night's profile from the
    median profile of the cohort's nights for that stage, averaged over the stages the night has; ``reliance_z``
    its robust z-score among the nights' distances (median and normal-scaled median absolute deviation, at least
    :data:`RELIANCE_SPREAD`);
    ``reliance_outlier`` is ``reliance_z > threshold``: a night relying on other bands or modalities than the rest
    for the same stages (a montage or device problem shows up here). Needs 3 nights with a profile.

    Parameters
    ----------
    rows : list of dict
        The cohort table's rows, one per night (with the ``reliance_*`` columns of :data:`RELIANCE_COLUMNS`).
    threshold : float
        Robust z-score above which a night is an outlier.

    Returns
    -------
    list of dict
        Copies of ``rows``, those with a profile gaining the three columns (unchanged with fewer than 3 profiles).
    """
    from scipy.stats import median_abs_deviation

    rows = [dict(row) for row in rows]
    have = [row for row in rows if any(_number(row.get(c)) for c in RELIANCE_COLUMNS)]
    if len(have) < 3:
        return rows
    profiles = np.array([[row.get(c) if _number(row.get(c)) else np.nan for c in RELIANCE_COLUMNS] for row in have])
    profiles = profiles.reshape(len(have), len(STAGES), -1)  # (nights, stages, occlusions)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a stage no night has: all-NaN medians
        per_stage = np.linalg.norm(profiles - np.nanmedian(profiles, axis=0), axis=2)  # NaN where a stage is missing
        distance = np.nanmean(np.where(np.isnan(profiles).any(2), np.nan, per_stage), axis=1)
    spread = max(float(median_abs_deviation(distance, scale="normal", nan_policy="omit")), RELIANCE_SPREAD)
    z = (distance - np.nanmedian(distance)) / spread
    for row, d, score in zip(have, distance, z):
        row.update(
            reliance_distance=round(float(d), 4),
            reliance_z=round(float(score), 2) if score == score else float("nan"),
            reliance_outlier=bool(score > threshold),
        )
    return rows


def _number(value) -> bool:
    return isinstance(value, (int, float)) and value == value


def check_worker_paths(night: Night, out_dir: Path, fmt: str) -> None:
    """Check, in the process that will write them (a Dask worker), that it sees the night's files and the output
    folder at the client's absolute paths, and that no output would replace an input there.

    Parameters
    ----------
    night : Night
        The night, its paths absolute.
    out_dir : Path
        The output folder (absolute; the client created it).
    fmt : str
        The hypnogram format.

    Raises
    ------
    StqsError
        When this machine lacks the output folder or an input (it does not share the client's file system), or
        an output would replace an input (:func:`check_outputs`).
    """
    shared = "the Dask workers must see the client's files at the same paths (a shared file system)"
    if not out_dir.is_dir():
        raise OutputError(f"the output folder {out_dir} does not exist on the worker {socket.gethostname()}: {shared}")
    for path in (night.path, night.annotations):
        if path is not None and not path.exists():
            raise StqsError(
                f"{path} does not exist on the worker {socket.gethostname()}: if the client has it, {shared}"
            )
    check_outputs([night], out_dir, fmt)


def _score_night(
    night: Night,
    out_dir: Path,
    model,
    fmt: str,
    kwargs: dict,
    fingerprint: str,
    threads: int | None = None,
    worker: bool = False,
) -> tuple[Night, dict]:
    """Score one night, write its hypnogram then its record, each replacing the earlier one only when written; a
    failure becomes an error result (the earlier outputs stay, their record does not match). ``model`` is a loaded
    model or the ``(path, identity)`` of one, loaded once per process; ``worker``: check the paths first
    (:func:`check_worker_paths`)."""
    from .scoring import score_file

    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        if worker:
            check_worker_paths(night, out_dir, fmt)
        if isinstance(model, tuple):
            model = _cached_model(*model)
        scored = score_file(night.path, model, annotations=night.annotations, **kwargs)
        scored.write(out_dir / f"{night.name}.{fmt}")
        result = night_results(scored)
        with atomic_path(out_dir / f"{night.name}{RECORD_SUFFIX}") as tmp:
            tmp.write_text(json.dumps({"fingerprint": fingerprint, "result": result}))
    except Exception as err:  # one bad night never stops the cohort: its row reports it
        logger.debug("night %s failed", night.name, exc_info=True)
        logger.warning("night %s failed: %s", night.name, err)
        return night, {"status": "error", "error": f"{type(err).__name__}: {err}"}
    return night, result


def check_scheduler(address: str) -> str:
    """Return ``address`` if it is a Dask scheduler address (``tcp://host:port``), else raise.

    Parameters
    ----------
    address : str
        The address.

    Returns
    -------
    str

    Raises
    ------
    StqsError
        Saying what is wrong with the address.
    """
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        protocol, location = parse_address(address)
        get_backend(protocol)
        if protocol in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError as err:
        raise StqsError(
            f"{address!r} is no Dask scheduler address ({err}); give one as tcp://host:port (the address "
            "`dask scheduler` prints)"
        ) from None
    return address


def _on_dask(todo: list, out_dir: Path, model, fmt: str, workers: int, scheduler: str | None):
    """Yield ``(night, result)`` as the nights finish on a Dask cluster (a new LocalCluster, or ``scheduler``)."""
    from contextlib import ExitStack

    from dask.distributed import Client, LocalCluster, as_completed

    with ExitStack() as stack:
        quiet = logging.getLogger("distributed")  # its INFO lines (scheduler, nannies) would bury the progress bar
        stack.callback(quiet.setLevel, quiet.level)
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            quiet.setLevel(logging.WARNING)
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            )
            threads = max(1, _cores() // workers)
            logger.info("local Dask cluster: %d worker processes, %d torch thread(s) each", workers, threads)
        else:
            cluster, threads = scheduler, None  # dask workers start with OMP_NUM_THREADS=1: one torch thread a task
        try:
            client = stack.enter_context(Client(cluster))
        except OSError as err:
            raise StqsError(
                f"cannot reach the Dask scheduler {scheduler} ({err}): start it, or check the address and the network"
            ) from err
        if not isinstance(model, tuple):  # a loaded model: sent to every worker once
            model = client.scatter(model, broadcast=True)
        futures = {
            client.submit(
                _score_night,
                night,
                out_dir,
                model,
                fmt,
                kwargs,
                fp,
                threads,
                True,
                pure=False,
                retries=1,
                key=f"stqs-night-{night.name}-{fp[:12]}",
            ): night
            for night, kwargs, fp in todo
        }
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker: the night took down its workers
                night = futures[future]
                logger.warning("night %s failed on the cluster: %s", night.name, err)
                yield night, {"status": "error", "error": f"{type(err).__name__}: {err}"}


@functools.lru_cache(maxsize=4)
def _cached_model(path: str, identity: str):
    """Load a model file once per process (``identity`` keys the cache to the file's contents)."""
    return load_model(path)


def _model_key(model) -> tuple:
    """``(model, identity)``: a loaded model stays one, a file or name becomes ``(path, identity)``; identity is
    the SHA-256 of the file or of the weights."""
    from .model import STQS

    if model is None:  # chosen per night by its modalities: the choice table is the identity
        from .scoring import MODEL_FOR

        return None, hashlib.sha256(json.dumps(sorted(MODEL_FOR.items())).encode()).hexdigest()
    if isinstance(model, STQS):
        digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return model, digest.hexdigest()
    path = resolve_model_path(model)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return (str(path), digest.hexdigest()), digest.hexdigest()


def _fingerprint(night: Night, model_identity: str, fmt: str, kwargs: dict) -> str:
    """SHA-256 of what a night's outputs depend on: input and annotations size and mtime, model, format, options."""

    def stat(path):
        try:
            s = Path(path).stat()
        except (OSError, TypeError):
            return None
        return [s.st_size, s.st_mtime_ns]

    what = {
        "input": stat(night.path),
        "annotations": stat(night.annotations),
        "model": model_identity,
        "format": fmt,
        "options": kwargs,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _remove_temporaries(out_dir: Path, nights: list[Night], fmt: str) -> None:
    """Delete the temporary files a killed run left beside this cohort's outputs
    (:func:`~stqs_core._atomic.clean_stale`: only ours, older than this process, held by no live writer)."""
    for name in ["cohort.csv", "cohort.json"] + [f"{n.name}{s}" for n in nights for s in (f".{fmt}", RECORD_SUFFIX)]:
        clean_stale(out_dir / name)


def _read_record(out_dir: Path, name: str) -> dict | None:
    try:
        record = json.loads((out_dir / f"{name}{RECORD_SUFFIX}").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and {"fingerprint", "result"} <= set(record) else None


@contextmanager
def _once_per_cohort():
    """Let each warning text through once (e.g. "trained on simulated nights only" would repeat for every night)."""
    seen: set[str] = set()

    def first(record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or record.name == __name__:
            return True
        text = record.getMessage()
        new = text not in seen
        seen.add(text)
        return new

    for handler in logging.getLogger().handlers:
        handler.addFilter(first)
    try:
        yield
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(first)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def _statistic_names() -> tuple[str, ...]:
    return tuple(sleep_statistics(np.array([0, 2, 4, 0])))
