"""Where the dashboard's nights and models come from, which server files a visitor may name, and the caches.

A served dashboard is a door into the server: a visitor names files by typing paths or through URL arguments.
Only files under the data folders the operator names (``stqs dashboard --data-dir DIR`` or the environment
variable :data:`DATA_DIRS_ENV`) are opened, after resolving ``..`` and symbolic links; everything else, existing
or not, gets one and the same refusal (:class:`PathRefused`). Without data folders a visitor has the simulated
demo nights, their own uploads (kept in a private folder per session, :class:`UploadFolder`) and the shipped
models.

Caches are keyed by content identity (resolved path, size and modification time, or the demo's arguments), so a
changed file is read again; nights are kept in a least-recently-used cache bounded in bytes
(:data:`CACHE_ENV`), and everything derived from a night (probabilities, occlusions, reports) lives in that
night's own small cache, freed with it. Concurrent sessions asking for the same thing wait for one computation
(:class:`Memo`). Nothing here computes what the library already does: it asks ``stqs_core`` and remembers.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stqs_core import STQS, EpochStore, Recording, STQSConfig, load_model, read_recording, registry
from stqs_core.channels import row_roles
from stqs_core.checkpoint import DEMO_MODEL, MODELS_DIR
from stqs_core.constants import ROLES
from stqs_core.errors import StqsError
from stqs_core.interpret import BaselinePass
from stqs_core.scoring import choose_model, recording_epochs

logger = logging.getLogger(__name__)

DATA_DIRS_ENV = "STQS_DASHBOARD_DATA_DIRS"
"""Folders (``os.pathsep``-separated) whose files visitors may open; set by ``stqs dashboard --data-dir``."""
CACHE_ENV = "STQS_DASHBOARD_CACHE_MB"
"""Memory for cached nights and what is derived from them (MB, default 1024)."""
UPLOAD_ENV = "STQS_DASHBOARD_MAX_UPLOAD_MB"
"""Largest upload accepted (MB, default 1024)."""

UNTRAINED = "untrained (seed 0)"
MODEL_SUFFIXES = (".pt", ".tar")
RECORDING_SUFFIXES = (".edf", ".bdf")
STORE_SUFFIXES = (".h5", ".hdf5")


class PathRefused(StqsError):
    """A path outside the data folders, or not a file of the expected kind there (one message for both)."""


# ---------------------------------------------------------------- allowed paths


def data_dirs(environ: dict[str, str] = os.environ) -> tuple[Path, ...]:
    """The operator's data folders, resolved (symbolic links followed), existing folders only."""
    roots = [
        Path(os.path.realpath(Path(d).expanduser()))
        for d in environ.get(DATA_DIRS_ENV, "").split(os.pathsep)
        if d.strip()
    ]
    return tuple(dict.fromkeys(r for r in roots if r.is_dir()))


def allowed_path(text: str, what: str, suffixes: tuple[str, ...]) -> Path:
    """The real path of the file ``text`` names inside a data folder; otherwise :class:`PathRefused`.

    ``text`` is absolute or relative to a data folder. It is resolved (``..`` and symbolic links) and must land
    in a resolved data folder, be a file and end in one of ``suffixes``. The refusal is the same whether the path
    is outside, missing, a folder or of another kind, and it never shows a file's content.
    """
    text = text.strip()
    roots = data_dirs()
    if not roots:
        raise PathRefused(
            f"this dashboard serves no data folders, so it opens no {what} from the server: use the "
            "demo night or an upload, or ask the operator to start it with `stqs dashboard --data-dir "
            "DIR`"
        )
    if not text:
        raise PathRefused(f"give the path of {what} (absolute, or relative to a data folder: {folder_list(roots)})")
    if "\x00" not in text:
        given = Path(text)  # no ~ expansion: a visitor has no home on the server
        for candidate in [given] if given.is_absolute() else [root / given for root in roots]:
            real = Path(os.path.realpath(candidate))
            if any(real.is_relative_to(root) for root in roots) and real.suffix.lower() in suffixes and real.is_file():
                return real
    raise PathRefused(
        f"{text[:200]!r} is not {what} in the dashboard's data folders ({folder_list(roots)}); "
        f"give a {'/'.join(suffixes)} file there"
    )


def folder_list(roots: tuple[Path, ...]) -> str:
    return ", ".join(str(r) for r in roots)


def identity(path: Path) -> tuple[str, int, int]:
    """``(path, size, mtime_ns)``: a changed file gets a new cache key."""
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


# ---------------------------------------------------------------- caches


def nbytes(value) -> int:
    """Approximate memory of a cached value (bytes)."""
    if isinstance(value, (Night, BaselinePass)):
        return value.nbytes
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True).sum())
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    frames = (
        [v for v in vars(value).values() if isinstance(v, (np.ndarray, pd.DataFrame))]
        if hasattr(value, "__dict__")
        else []
    )
    return sum(nbytes(v) for v in frames) + 1024


class Memo:
    """A thread-safe least-recently-used cache bounded in bytes and entries; one computation per key at a time.

    Callers asking for a key being computed wait for that computation instead of starting their own, so five
    sessions opening the same night read it once. Failures are not cached.
    """

    def __init__(self, max_bytes: int, max_items: int = 1_000_000):
        self.max_bytes, self.max_items = max_bytes, max_items
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], object]):
        """The cached value of ``key``, else ``compute()`` (once, whoever else asks meanwhile)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            future, mine = self._pending.get(key), False
            if future is None:
                future, mine = Future(), True
                self._pending[key] = future
        if not mine:
            return future.result()
        try:
            value = compute()
        except BaseException as err:
            with self._lock:
                self._pending.pop(key, None)
            future.set_exception(err)
            raise
        with self._lock:
            self._pending.pop(key, None)
            self._items[key] = (value, nbytes(value))
            self._evict()
        future.set_result(value)
        return value

    def peek(self, key: Hashable):
        """The cached value of ``key``, or None (nothing is computed)."""
        with self._lock:
            return self._items[key][0] if key in self._items else None

    def _evict(self) -> None:
        total = sum(size for _, size in self._items.values())
        while len(self._items) > 1 and (total > self.max_bytes or len(self._items) > self.max_items):
            _, (_, size) = self._items.popitem(last=False)
            total -= size

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _megabytes(name: str, default: float) -> int:
    try:
        return int(float(os.environ.get(name, default)) * 2**20)
    except ValueError:
        logger.warning("%s=%r is not a number of MB; using %g", name, os.environ[name], default)
        return int(default * 2**20)


WORKERS = ThreadPoolExecutor(4, thread_name_prefix="stqs-dashboard")
"""Threads for the heavy work of all sessions (reading, scoring, occluding); one pool per server process (``app.py``
runs once per session, this module once)."""
NIGHTS = Memo(_megabytes(CACHE_ENV, 1024))
"""Nights (with everything derived from them), least recently used dropped first."""
MODELS = Memo(256 * 2**20, max_items=8)
"""Loaded models, keyed by file identity."""


# ---------------------------------------------------------------- models


def model_choices() -> dict[str, str]:
    """Selectable models ``{label: key}``: shipped models by name, the published ones already in the model cache
    (visitors never trigger a download: the operator runs ``stqs models fetch``), model files in the data folders,
    untrained."""
    choices = {p.stem: str(p) for p in sorted(MODELS_DIR.glob("*.pt"))}
    choices.update({m["name"]: m["path"] for m in registry.list_models() if m["kind"] == "published" and m["cached"]})
    for root in data_dirs():
        for path in sorted(
            p for pattern in ("*", "*/*") for p in root.glob(pattern) if p.suffix.lower() in MODEL_SUFFIXES
        ):
            real = Path(os.path.realpath(path))
            if real.is_relative_to(root) and real.is_file():
                choices[f"{root.name}/{path.relative_to(root)}"] = str(real)
    choices[UNTRAINED] = UNTRAINED
    return choices


def resolve_model(text: str) -> str:
    """The model key of a choice's label or key, or of a model file in a data folder (:class:`PathRefused`)."""
    text = text.strip()
    choices = model_choices()
    if text in choices:
        return choices[text]
    if text in choices.values():
        return text
    return str(allowed_path(text, "a model file", MODEL_SUFFIXES))


def default_model() -> tuple[str, str]:
    """``(model key, warning)``: the shipped default, else any shipped model, else untrained.

    The warning is empty when the shipped default is there.
    """
    shipped = MODELS_DIR / f"{DEMO_MODEL}.pt"
    if shipped.is_file():
        return str(shipped), ""
    others = sorted(MODELS_DIR.glob("*.pt"))
    if others:
        return str(others[0]), f"The default model {DEMO_MODEL} is not in trained_models/; using {others[0].stem}."
    return UNTRAINED, (
        "No trained model found (trained_models/ is empty): this is an UNTRAINED network, its "
        "stages mean nothing. Train one with the notebooks or pick a model file."
    )


ADAPTED = "#adapted"
"""Suffix of a model key whose model is adapted to each night without labels (:func:`stqs_core.adapt.adapt_model`)."""


def adapted_key(key: str, adapt: bool) -> str:
    """``key`` with or without :data:`ADAPTED`."""
    base = key.removesuffix(ADAPTED)
    return base + ADAPTED if adapt else base


def model_identity(key: str) -> tuple:
    """The cache key of a model: its file's identity (a replaced checkpoint is loaded again), and whether it is
    adapted to the night."""
    base = key.removesuffix(ADAPTED)
    return ((base,) if base == UNTRAINED else identity(Path(base))) + ((ADAPTED,) if key.endswith(ADAPTED) else ())


def night_model(night: Night, key: str) -> STQS:
    """The model of ``key`` for ``night``: with the blocks of the night's modalities only
    (:func:`stqs_core.scoring.choose_model`), and adapted to it (once per night, a copy) when the key says so."""
    from stqs_core.adapt import adapt_model

    base = key.removesuffix(ADAPTED)
    model = _fitted_model(night, base)
    if not key.endswith(ADAPTED):
        return model
    return night.derived.get(
        ("adapted", model_identity(base)), lambda: adapt_model(model, night_epochs(night, model.config.modalities))
    )


def _fitted_model(night: Night, base: str) -> STQS:
    """The model of ``base`` without the blocks of modalities the night lacks (the model itself when it has none)."""
    model = get_model(base)
    if set(model.config.modalities) <= set(night.modalities):
        return model
    return night.derived.get(("fitted", model_identity(base)), lambda: choose_model(night.modalities, model)[0])


def night_epochs(night: Night, modalities) -> np.ndarray:
    """The night's epochs with the rows of ``modalities`` only (a model's ``config.modalities``)."""
    keep = [i for i, role in enumerate(night.roles) if role in modalities]
    if len(keep) == len(night.roles):
        return night.epochs
    return night.derived.get(("rows", tuple(keep)), lambda: np.ascontiguousarray(night.epochs[:, keep]))


def model_epochs(night: Night, key: str) -> np.ndarray:
    """The night's epochs as the model of ``key`` reads them (the rows of its modalities)."""
    return night_epochs(night, night_model(night, key).config.modalities)


def absent_note(night: Night, key: str | None = None) -> str:
    """What the night and the model lack, in words (empty when neither lacks a modality).

    E.g. ``"No EOG, EMG in this recording: shown as absent, not as flat lines."`` and, for a model without a
    block the night has, ``"The model has no EMG block: the EMG is not scored."``.
    """
    lines = []
    missing = [r.upper() for r in ROLES if r not in night.modalities]
    if missing:
        lines.append(f"No {', '.join(missing)} in this recording: shown as absent, not as flat lines.")
    if key is not None:
        unread = [r.upper() for r in night.modalities if r not in get_model(key).config.modalities]
        if unread:
            lines.append(
                f"The model has no {', '.join(unread)} block{'s' * (len(unread) > 1)}: "
                f"the {', '.join(unread)} {'is' if len(unread) == 1 else 'are'} not scored."
            )
    return " ".join(lines)


def get_model(key: str) -> STQS:
    """The model of ``key`` (a resolved file path; :data:`UNTRAINED` for a seeded random network), as trained."""
    key = key.removesuffix(ADAPTED)

    def load() -> STQS:
        if key == UNTRAINED:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                return STQS(STQSConfig(variant="cnnlstm")).eval()
        return load_model(key)

    return MODELS.get(model_identity(key), load)


def model_label(key: str) -> str:
    base = key.removesuffix(ADAPTED)
    label = UNTRAINED if base == UNTRAINED else Path(base).stem
    return label + (" (adapted to the night)" if key.endswith(ADAPTED) else "")


# ---------------------------------------------------------------- nights


@dataclass(eq=False)
class Night:
    """One night ready for the views.

    ``epochs`` ``(n_epochs, R, 3750)`` float32 preprocessed (z-scored), the rows of the night's ``modalities``
    (R = 5 with all three; EEG only: 2); ``true`` ``(n_epochs,)`` expert stages (-1 unscored) or None;
    ``recording`` the signals in µV, or None for an HDF5 store (which holds only the preprocessed epochs);
    ``events`` the simulator's event table of a demo night (else None). ``derived`` caches what is computed from
    the night, and goes with it.
    """

    name: str
    epochs: np.ndarray = field(repr=False)
    true: np.ndarray | None = field(default=None, repr=False)
    recording: Recording | None = field(default=None, repr=False)
    flags: dict = field(default_factory=dict, repr=False)
    events: pd.DataFrame | None = field(default=None, repr=False)
    derived: Memo = field(default_factory=lambda: Memo(64 * 2**20, max_items=256), repr=False)
    modalities: tuple[str, ...] = ROLES

    @property
    def roles(self) -> list[str]:
        """The modality of each row of :attr:`epochs`."""
        return row_roles(self.modalities)

    @property
    def nbytes(self) -> int:
        signals = 0 if self.recording is None else self.recording.data.nbytes
        events = 0 if self.events is None else nbytes(self.events)
        return self.epochs.nbytes + signals + events + self.derived.nbytes


def demo_night(hours: float = 8.0, seed: int = 0) -> Night:
    """A simulated night of ``hours`` with its true hypnogram and the simulator's events (``stqs_core.simulate``)."""
    from stqs_core.simulate import simulate_night

    def make() -> Night:
        simulated = simulate_night(hours=hours, seed=seed, name=f"demo ({hours:g} h, seed {seed})")
        night = _from_recording(simulated.recording)
        night.events = simulated.events
        return night

    return NIGHTS.get(("demo", float(hours), int(seed)), make)


def edf_night(
    text: str,
    eeg: tuple[str, ...] | None = None,
    eog: tuple[str, ...] | None = None,
    emg: tuple[str, ...] | None = None,
    preset: str | None = None,
) -> Night:
    """An EDF/BDF recording in a data folder, channels by name or preset (see :func:`stqs_core.read_recording`)."""
    path = allowed_path(text, "an EDF/BDF recording", RECORDING_SUFFIXES)
    return NIGHTS.get(
        ("edf", identity(path), eeg, eog, emg, preset), lambda: read_edf(path, eeg=eeg, eog=eog, emg=emg, preset=preset)
    )


def read_edf(
    path: Path,
    eeg: tuple[str, ...] | None = None,
    eog: tuple[str, ...] | None = None,
    emg: tuple[str, ...] | None = None,
    preset: str | None = None,
) -> Night:
    """Read and preprocess an EDF/BDF file (no path check: the caller's)."""
    listed = {role: list(names) if names else None for role, names in (("eeg", eeg), ("eog", eog), ("emg", emg))}
    return _from_recording(read_recording(path, preset=preset, required=("eeg",), **listed))


def store_night(text: str, name: str) -> Night:
    """One recording of an HDF5 epoch store in a data folder (preprocessed epochs and labels; no µV signals)."""
    path = allowed_path(text, "an HDF5 epoch store", STORE_SUFFIXES)

    def read() -> Night:
        with EpochStore(path) as store:
            names = store.recordings
            if name not in names:
                raise StqsError(f"{path.name} has no recording {name!r}; it holds: {', '.join(names[:20])}")
            epochs, labels = store.read(name)
        true = np.asarray(labels, dtype=np.int64)
        return Night(name, np.asarray(epochs, dtype=np.float32), true if (true >= 0).any() else None)

    return NIGHTS.get(("store", identity(path), name), read)


def store_recordings(text: str) -> list[str]:
    """The recording names in an HDF5 store in a data folder."""
    with EpochStore(allowed_path(text, "an HDF5 epoch store", STORE_SUFFIXES)) as store:
        return store.recordings


def _from_recording(recording: Recording) -> Night:
    epochs, true = recording_epochs(recording)
    return Night(recording.name, epochs.data, true, recording, epochs.flags, modalities=recording.modalities)


# ---------------------------------------------------------------- uploads


def max_upload_bytes() -> int:
    """The largest upload accepted (bytes): :data:`UPLOAD_ENV` MB, default 1024."""
    return _megabytes(UPLOAD_ENV, 1024)


class UploadTooLarge(StqsError):
    """An upload above :func:`max_upload_bytes`."""


class UploadFolder:
    """One session's uploads: a private folder (``tempfile.mkdtemp``: unguessable name, mode 0700), made on the
    first upload and removed with everything in it by :meth:`remove` (at the end of the session).

    Files are created with ``O_EXCL | O_NOFOLLOW``: never over an existing file or through a symbolic link.
    """

    def __init__(self):
        self.path: Path | None = None
        self._count = 0
        self._lock = threading.Lock()

    def new_file(self, filename: str) -> tuple[Path, int]:
        """A new empty file for an upload called ``filename`` (only its suffix is used): ``(path, fd)``."""
        suffix = Path(filename).suffix.lower()
        if suffix not in RECORDING_SUFFIXES:
            raise StqsError(f"{Path(filename).name[:100]} is not an .edf or .bdf file")
        with self._lock:
            if self.path is None:
                self.path = Path(tempfile.mkdtemp(prefix="stqs-upload-"))
                _LIVE_UPLOADS.add(self)
            self._count += 1
            path = self.path / f"upload-{self._count}{suffix}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        return path, os.open(path, flags, 0o600)

    def write(self, filename: str, content: bytes) -> Path:
        """Write a whole upload at once (see :class:`UploadWriter` for one arriving in chunks)."""
        writer = UploadWriter(self, filename)
        writer.add(content)
        return writer.close()

    def remove(self) -> None:
        """Delete the folder and the uploads in it."""
        with self._lock:
            path, self.path = self.path, None
        _LIVE_UPLOADS.discard(self)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
            logger.info("removed the upload folder %s", path)


_LIVE_UPLOADS: set[UploadFolder] = set()


@atexit.register
def remove_all_uploads() -> None:
    """Delete the upload folders of the sessions still open (the server is stopping)."""
    for folder in list(_LIVE_UPLOADS):
        folder.remove()


class UploadWriter:
    """One upload written chunk by chunk into an :class:`UploadFolder`, refused beyond the size limit."""

    def __init__(self, folder: UploadFolder, filename: str, limit: int | None = None):
        self.filename, self.limit = filename, max_upload_bytes() if limit is None else limit
        self.path, self._fd = folder.new_file(filename)
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise UploadTooLarge(
                f"{Path(self.filename).name[:100]} is larger than the upload limit of "
                f"{self.limit / 2**20:.0f} MB; ask the operator to raise it ({UPLOAD_ENV} or "
                f"`stqs dashboard --max-upload-mb`) or put the file in a data folder"
            )
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> Path:
        os.close(self._fd)
        self._fd = -1
        return self.path

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


def upload_night(path: Path, filename: str, **channels) -> Night:
    """An uploaded EDF/BDF in a session's upload folder (not shared between sessions: not in :data:`NIGHTS`)."""
    night = read_edf(path, **channels)
    night.name = Path(filename).stem[:100]
    return night


# ---------------------------------------------------------------- scoring and interpretation


def probabilities(night: Night, model_key: str) -> np.ndarray:
    """Stage probabilities ``(n_epochs, 5)`` of the unaltered night (once per night and model)."""
    return night.derived.get(
        ("proba", model_identity(model_key)),
        lambda: night_model(night, model_key).predict_proba(model_epochs(night, model_key)),
    )


def baseline(night: Night, model_key: str):
    """The unoccluded pass of the night by the model (:class:`stqs_core.interpret.BaselinePass`), made once per
    night and model and shared by the occlusions and attributions below."""
    return night.derived.get(
        ("baseline", model_identity(model_key)),
        lambda: BaselinePass(night_model(night, model_key), model_epochs(night, model_key)),
    )


def occluded_stages(
    night: Night, model_key: str, band: tuple[float, float], modalities: tuple[str, ...], mode: str
) -> np.ndarray:
    """Stages ``(n_epochs,)`` after removing (``"stop"``) or keeping only (``"pass"``) ``band`` Hz in ``modalities``.

    :func:`stqs_core.interpret.frequency_occlusion` recomputes only the occluded modalities' CNN blocks.
    """
    from stqs_core.interpret import frequency_occlusion

    def compute() -> np.ndarray:
        result = frequency_occlusion(
            night_model(night, model_key),
            model_epochs(night, model_key),
            bands={"band": band},
            modalities=(modalities,),
            mode=mode,
            baseline=baseline(night, model_key),
        )
        return result.per_epoch["new_stage"].to_numpy()

    return night.derived.get(("occluded", model_identity(model_key), band, modalities, mode), compute)


def time_occlusion(night: Night, model_key: str, index: int):
    """:func:`stqs_core.interpret.time_occlusion` of epoch ``index`` (5-s windows every second)."""
    from stqs_core.interpret import time_occlusion as occlude

    return night.derived.get(
        ("time", model_identity(model_key), index),
        lambda: occlude(
            night_model(night, model_key), model_epochs(night, model_key), index, baseline=baseline(night, model_key)
        ),
    )


def attribution(night: Night, model_key: str, index: int, method: str):
    """:func:`stqs_core.interpret.attribute` of epoch ``index`` by ``method`` (one of its ``METHODS``)."""
    from stqs_core.interpret import attribute

    return night.derived.get(
        attribution_key(model_key, index, method),
        lambda: attribute(
            night_model(night, model_key),
            model_epochs(night, model_key),
            [index],
            method,
            baseline=baseline(night, model_key),
        ),
    )


def attribution_key(model_key: str, index: int, method: str) -> tuple:
    """Key of :func:`attribution` in ``night.derived`` (for :meth:`Memo.peek`)."""
    return ("attribution", model_identity(model_key), int(index), method)


def scoring_page(night: Night, index: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stqs_core.teaching.scoring_page` of epoch ``index``: ``(t, signals)`` in s and µV (display filters)."""
    from stqs_core.teaching import scoring_page as page

    return night.derived.get(("page", int(index)), lambda: page(night.recording, index))


def modality_importance(night: Night, model_key: str):
    """:func:`stqs_core.interpret.modality_importance` of the night (against the expert stages when known)."""
    from stqs_core.interpret import modality_importance as importance

    return night.derived.get(
        ("importance", model_identity(model_key)),
        lambda: importance(
            night_model(night, model_key),
            model_epochs(night, model_key),
            night.true,
            baseline=baseline(night, model_key),
        ),
    )


def aasm_report(night: Night, model_key: str):
    """:func:`stqs_core.interpret.aasm_report` of the night (5 band occlusions per modality the model reads)."""
    from stqs_core.interpret import aasm_report as report

    return night.derived.get(
        ("aasm", model_identity(model_key)),
        lambda: report(night_model(night, model_key), model_epochs(night, model_key), night.true),
    )


FILTERS = Memo(64 * 2**20, max_items=8)


def filters(model_key: str):
    """``(frequency responses, kernels, peaks)`` tables of :mod:`stqs_core.interpret` for the model's filters."""
    from stqs_core.interpret import filter_peaks, kernels, temporal_filters

    def compute():
        model = get_model(model_key)
        return temporal_filters(model), kernels(model), filter_peaks(model)

    return FILTERS.get(model_identity(model_key.removesuffix(ADAPTED)), compute)
