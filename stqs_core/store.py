"""HDF5 epoch store: many recordings' preprocessed epochs in one file, appended one recording at a time, read lazily.

Layout (format ``stqs-epochs/1``)::

    /epochs               float32 (N, 5, 3750)   chunked one epoch per chunk, lzf-compressed
    /labels               int8    (N,)           stage codes, -1 unscored
    /recordings/id        str     (R,)           recording names, unique
    /recordings/offset    int64   (R,)           first row of each recording in /epochs
    /recordings/length    int64   (R,)           its number of epochs
    /recordings/channels  str     (R, 5)         the file channel feeding each row
    /recordings/crc32     int64   (R,)           CRC-32 of its epochs' and labels' bytes (stores written since 2026-12)
    attrs: format, sfreq, epoch_sec, rows (EEG, EEG, EOG, EOG, EMG), stages, preprocessing (JSON),
           closed (False while a writer has the file open)

The index is written after the data, so a crash during an append leaves the index as it was before it; the
checksum lets a reader validate each recording, and ``closed`` tells whether the last writer was killed.

Nothing non-finite or out of range passes silently: :meth:`EpochStore.append` refuses NaN or infinite epochs and
labels outside -1..4; opening a store checks its index (dtypes, offsets and lengths within the arrays, declared
sizes backed by stored data, unique names) and its labels without reading the epochs; epochs are checked for
NaN and inf as they are read. Each failure is one :class:`~stqs_core.errors.StoreError` naming the field.
The original STQS layout (``data`` (N, 1, 5, 3750), ``label`` (N, 1)) reads as one recording named ``"all"``.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from pathlib import Path

import h5py
import numpy as np

from .constants import EPOCH_SAMPLES, EPOCH_SEC, N_CHANNELS, ROLES, SFREQ, STAGES, preprocessing_info
from .errors import StoreError, StqsError

logger = logging.getLogger(__name__)

FORMAT = "stqs-epochs/1"
_STR = h5py.string_dtype()
LABELS = (-1, len(STAGES) - 1)
"""The range of stage codes a store may hold: -1 (unscored) to 4 (REM)."""
_REBUILD = "rebuild it with `stqs prepare`"
ROLES_BY_ROW = [r for r in ROLES for _ in range(N_CHANNELS[r])]


class RecordingNotInStore(StoreError, KeyError):
    """A recording name the store does not hold (a ``KeyError`` too, as for a mapping)."""

    __str__ = StoreError.__str__


class EpochStore:
    """An HDF5 epoch store; use as a context manager.

    Parameters
    ----------
    path : str | Path
        The ``.h5`` file.
    mode : str
        ``"r"`` read, ``"a"`` append (creates the file when absent), ``"w"`` start afresh.
    """

    def __init__(self, path: str | Path, mode: str = "r"):
        self.path = Path(path)
        if mode == "r" and not self.path.is_file():
            what = "is a folder" if self.path.is_dir() else "does not exist"
            raise StoreError(f"epoch store {self.path} {what}; build one with `stqs prepare`")
        try:
            self.file = h5py.File(self.path, mode)
        except OSError as err:
            raise StoreError(
                f"cannot open the epoch store {self.path} ({err}); is it a complete HDF5 file from `stqs prepare`?"
            ) from err
        self.original = "data" in self.file and "epochs" not in self.file
        created = False
        if not self.original and "epochs" not in self.file:
            if mode == "r":
                self.file.close()
                raise StoreError(f"{self.path} is not an STQS epoch store (no /epochs or /data)")
            self._create()
            created = True
        if not created:
            try:
                self._validate()
            except StoreError:
                self.file.close()
                raise
            except (OSError, RuntimeError, KeyError, TypeError, ValueError) as err:  # h5py's, for damaged metadata
                self.file.close()
                raise StoreError(f"cannot read the index of the epoch store {self.path} ({err}); {_REBUILD}") from err
        if mode != "r" and not self.original:
            self.file.attrs["closed"] = False
            self.file.flush()
        self.epochs = self.file["data"] if self.original else self.file["epochs"]
        """Lazy ``(N, 5, 3750)`` dataset (``(N, 1, 5, 3750)`` for the original layout); slice it to read."""

    def _create(self) -> None:
        n_rows = sum(N_CHANNELS.values())
        f = self.file
        f.create_dataset(
            "epochs",
            (0, n_rows, EPOCH_SAMPLES),
            np.float32,
            maxshape=(None, n_rows, EPOCH_SAMPLES),
            chunks=(1, n_rows, EPOCH_SAMPLES),
            compression="lzf",
        )
        f.create_dataset("labels", (0,), np.int8, maxshape=(None,), chunks=(4096,))
        g = f.create_group("recordings")
        g.create_dataset("id", (0,), _STR, maxshape=(None,))
        g.create_dataset("offset", (0,), np.int64, maxshape=(None,))
        g.create_dataset("length", (0,), np.int64, maxshape=(None,))
        g.create_dataset("channels", (0, n_rows), _STR, maxshape=(None, n_rows))
        g.create_dataset("crc32", (0,), np.int64, maxshape=(None,))
        f.attrs.update(
            format=FORMAT,
            sfreq=SFREQ,
            epoch_sec=EPOCH_SEC,
            stages=list(STAGES),
            rows=[r for r in ROLES for _ in range(N_CHANNELS[r])],
            preprocessing=json.dumps(preprocessing_info()),
        )

    def _validate(self) -> None:
        """Check the index and the labels (never the epochs, which may not fit in memory); raise a
        :class:`StoreError` naming the first field that does not describe a consistent store."""
        f, where = self.file, f"epoch store {self.path}"
        if self.original:
            data, label = f["data"], f.get("label")
            _check_dataset(where, "data", data, (sum(N_CHANNELS.values()), EPOCH_SAMPLES), "f", ndims=(3, 4))
            if label is None:
                raise StoreError(f"{where} has /data but no /label; {_REBUILD}")
            _check_dataset(where, "label", label, (), "iuf", ndims=(1, 2))
            if label.size != len(data) or len(label) != len(data):
                raise StoreError(f"{where}: /label holds {label.shape} labels but /data {len(data)} epochs; {_REBUILD}")
            _check_stored(where, "data", data, len(data))
            _check_stored(where, "label", label, len(label))
            self._check_labels(np.asarray(label[:]).reshape(-1), np.zeros(1, np.int64), ["all"])
            return
        g = f.get("recordings")
        if not isinstance(g, h5py.Group):
            raise StoreError(f"{where} has no /recordings index (the names, offsets and lengths); {_REBUILD}")
        n_rows = sum(N_CHANNELS.values())
        _check_dataset(where, "epochs", f["epochs"], (n_rows, EPOCH_SAMPLES), "f")
        if not isinstance(f.get("labels"), h5py.Dataset):
            raise StoreError(f"{where} has no /labels dataset; {_REBUILD}")
        _check_dataset(where, "labels", f["labels"], (), "iuf")
        for key in ("id", "offset", "length"):
            if not isinstance(g.get(key), h5py.Dataset):
                raise StoreError(f"{where}: the index lacks /recordings/{key}; {_REBUILD}")
        _check_dataset(where, "recordings/id", g["id"], (), "OSU")
        _check_dataset(where, "recordings/offset", g["offset"], (), "iu")
        _check_dataset(where, "recordings/length", g["length"], (), "iu")
        n = len(g["length"])  # written last: the recordings indexed
        for key, trailing, kinds in (("channels", (n_rows,), "OSU"), ("crc32", (), "iu")):
            if key in g:
                _check_dataset(where, f"recordings/{key}", g[key], trailing, kinds)
        for key in ("id", "offset", "channels", "crc32"):
            if key in g and len(g[key]) < n:
                raise StoreError(
                    f"{where}: /recordings/{key} holds {len(g[key])} entries but /recordings/length {n}; {_REBUILD}"
                )
        for key in ("id", "offset", "length"):
            _check_stored(where, f"recordings/{key}", g[key], n)
        lengths = g["length"][:n].astype(np.int64)
        offsets = g["offset"][:n].astype(np.int64)
        names = self.recordings
        epochs, labels = f["epochs"], f["labels"]
        size = min(len(epochs), len(labels))
        bad = np.flatnonzero((lengths < 0) | (lengths > size))
        if len(bad):
            i = bad[0]
            raise StoreError(
                f"{where}: /recordings/length[{i}] ({names[i]!r}) = {lengths[i]} is outside 0-{size}, the epochs "
                f"stored; {_REBUILD}"
            )
        expected = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        bad = np.flatnonzero(offsets != expected)
        if len(bad):
            i = bad[0]
            raise StoreError(
                f"{where}: /recordings/offset[{i}] ({names[i]!r}) = {offsets[i]}, but the recordings before it end "
                f"at row {expected[i]} (each recording follows the previous one); {_REBUILD}"
            )
        total = int(lengths.sum())
        for key, dset in (("epochs", epochs), ("labels", labels)):
            if total > len(dset):
                raise StoreError(
                    f"{where}: /recordings/length declares {total} epochs in all but /{key} holds {len(dset)}; "
                    f"{_REBUILD}"
                )
            _check_stored(where, key, dset, total)
        if len(set(names)) < len(names):
            seen: set[str] = set()
            twice = next(name for name in names if name in seen or seen.add(name))
            raise StoreError(
                f"{where}: /recordings/id holds {twice!r} {names.count(twice)} times; names must be unique; {_REBUILD}"
            )
        self._check_labels(labels[:total], offsets, names)

    def _check_labels(self, labels: np.ndarray, offsets: np.ndarray, names: list[str]) -> None:
        """Raise a :class:`StoreError` at the first label that is not a whole stage code in -1..4."""
        bad = _not_codes(labels)
        if bad.any():
            row = int(np.argmax(bad))
            i = int(np.searchsorted(offsets, row, side="right")) - 1
            raise StoreError(
                f"epoch store {self.path}: /labels[{row}] (recording {names[i]!r}, epoch {row - offsets[i]}) is "
                f"{np.asarray(labels[row]).tolist()!r}, not a stage code ({LABELS[0]} unscored, 0-{LABELS[1]} for "
                f"{', '.join(STAGES)}); {_REBUILD}"
            )

    def __enter__(self) -> EpochStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Mark the store complete (when written) and close the file."""
        if self.file and self.file.mode == "r+" and not self.original:
            self.file.attrs["closed"] = True
        self.file.close()

    def __len__(self) -> int:
        """Number of epochs committed to the index."""
        if self.original:
            return len(self.epochs)
        n = self._n_recordings()
        return int(self.file["recordings/offset"][n - 1] + self.file["recordings/length"][n - 1]) if n else 0

    def _n_recordings(self) -> int:
        return len(self.file["recordings/length"])  # written last: what is indexed is complete

    @property
    def recordings(self) -> list[str]:
        """The names of the recordings, in the order they were appended."""
        if self.original:
            return ["all"]
        ids = self.file["recordings/id"][: self._n_recordings()]
        return [s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s) for s in ids]

    def span(self, name: str) -> slice:
        """Rows of one recording in :attr:`epochs` and the labels.

        Parameters
        ----------
        name : str
            The recording's name.

        Returns
        -------
        slice
        """
        if self.original:
            return slice(0, len(self.epochs))
        names = self.recordings
        if name not in names:
            raise RecordingNotInStore(
                f"{name!r} is not in {self.path}; it holds {len(names)} recordings, e.g. {names[:5]}"
            )
        i = names.index(name)
        offset, length = int(self.file["recordings/offset"][i]), int(self.file["recordings/length"][i])
        return slice(offset, offset + length)

    def labels(self, name: str | None = None) -> np.ndarray:
        """Stage codes of one recording, or of all epochs.

        Parameters
        ----------
        name : str or None
            The recording's name; None for every epoch of the store.

        Returns
        -------
        ndarray of int8, shape (n_epochs,)
            0-4 for W, N1, N2, N3, REM; -1 unscored.
        """
        labels = self.file["label"] if self.original else self.file["labels"]
        rows = self.span(name) if name is not None else slice(0, len(self))
        return np.asarray(labels[rows]).reshape(-1).astype(np.int8)

    def read(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Epochs and labels of one recording.

        Parameters
        ----------
        name : str
            The recording's name.

        Returns
        -------
        epochs : ndarray of float32, shape (n_epochs, 5, 3750)
            Preprocessed 30-s epochs (:func:`~stqs_core.preprocess.make_epochs`).
        labels : ndarray of int8, shape (n_epochs,)
            Stage codes (-1 unscored).
        """
        rows = self.span(name)
        epochs = self.epochs[rows]
        check_finite(epochs, self.path, name)
        return epochs.reshape(len(epochs), int(np.prod(epochs.shape[1:-1])), epochs.shape[-1]), self.labels(name)

    def locate(self, row: int) -> tuple[str, int]:
        """The recording holding a row of :attr:`epochs`, and the row's epoch in it.

        Parameters
        ----------
        row : int
            A row of the store.

        Returns
        -------
        name : str
            The recording's name.
        epoch : int
            The row's epoch in that recording.
        """
        if self.original:
            return "all", int(row)
        n = self._n_recordings()
        offsets = self.file["recordings/offset"][:n]
        i = max(int(np.searchsorted(offsets, row, side="right")) - 1, 0)
        return self.recordings[i], int(row - offsets[i])

    def append(
        self, name: str, epochs: np.ndarray, labels: np.ndarray | None = None, channels: list[str] | None = None
    ) -> None:
        """Add one recording.

        Parameters
        ----------
        name : str
            The recording's name (unique in the store).
        epochs : ndarray of float32, shape (n_epochs, 5, 3750)
            Preprocessed 30-s epochs.
        labels : ndarray of int, shape (n_epochs,), or None
            Stage codes (-1 unscored); None for an unscored recording.
        channels : list of str or None
            The file channel feeding each row.
        """
        if self.original:
            raise StoreError(f"{self.path} has the original STQS layout, which is read-only here")
        if name in self.recordings:
            raise StoreError(f"{self.path} already holds a recording named {name!r}")
        epochs = np.asarray(epochs, dtype=np.float32)
        if epochs.ndim != 3 or epochs.shape[1:] != self.epochs.shape[1:]:
            raise StoreError(f"epochs must be (n, {self.epochs.shape[1]}, {self.epochs.shape[2]}), got {epochs.shape}")
        check_finite(epochs, self.path, name, writing=True)
        labels = np.full(len(epochs), -1, np.int8) if labels is None else np.asarray(labels)
        if labels.shape != (len(epochs),):
            raise StoreError(f"labels must be ({len(epochs)},), got {labels.shape}")
        bad = _not_codes(labels)
        if bad.any():
            first = int(np.argmax(bad))
            raise StoreError(
                f"labels of {name!r} must be stage codes {LABELS[0]} (unscored) to {LABELS[1]} "
                f"({', '.join(STAGES)}); epoch {first} is {labels[first].tolist()!r:.40}; check its hypnogram"
            )
        labels = labels.astype(np.int8)
        start, stop = len(self), len(self) + len(epochs)
        for dset, values in ((self.epochs, epochs), (self.file["labels"], labels)):  # data first ...
            dset.resize(stop, axis=0)
            dset[start:stop] = values
        g, n = self.file["recordings"], self._n_recordings()
        row = list(channels or [""] * self.epochs.shape[1])
        index = [("id", name), ("offset", start), ("channels", row), ("length", len(epochs))]
        if "crc32" in g:
            index.insert(0, ("crc32", _checksum(epochs, labels)))
        for key, value in index:
            g[key].resize(n + 1, axis=0)  # ... then the index, its length last, which makes it visible
            g[key][n] = value
        self.file.flush()

    def read_verified(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`read`, or None when a recording does not read back whole.

        Stores written before checksums existed are trusted.

        Parameters
        ----------
        name : str
            The recording's name.

        Returns
        -------
        tuple of (ndarray, ndarray), or None
            As :meth:`read`; None when its checksum differs or its chunks are damaged.
        """
        try:
            epochs, labels = self.read(name)
        except (OSError, ValueError, RuntimeError):  # h5py's errors for damaged chunks
            return None
        g, i = self.file.get("recordings"), self.recordings.index(name)
        if g is not None and "crc32" in g and len(g["crc32"]) > i and _checksum(epochs, labels) != g["crc32"][i]:
            return None
        return epochs, labels


def check_finite(epochs: np.ndarray, path: str | Path, name: str, first: int = 0, writing: bool = False) -> None:
    """Raise a :class:`StoreError` naming the first epoch and row of ``epochs`` holding NaN or inf.

    One vectorised pass (:func:`numpy.isfinite`); call it on the epochs as they are read or written.

    Parameters
    ----------
    epochs : ndarray, shape (n_epochs, ..., n_samples)
        Epochs of one recording.
    path : str or Path
        The store, for the message.
    name : str
        The recording, for the message.
    first : int
        The recording's epoch of ``epochs[0]``.
    writing : bool
        Whether the epochs are being written (the message then says to fix the source).
    """
    finite = np.isfinite(epochs)
    if finite.all():
        return
    bad = ~finite.reshape(len(epochs), -1, epochs.shape[-1]).all(-1)
    epoch, row = np.argwhere(bad)[0]
    n_bad = int(bad.any(-1).sum())
    fix = (
        "preprocess the recording with stqs_core.make_epochs, which sets NaN samples to 0 and flags them"
        if writing
        else f"{_REBUILD}, or leave the recording out"
    )
    raise StoreError(
        f"epoch store {path}: recording {name!r} epoch {first + epoch} row {row} "
        f"({ROLES_BY_ROW[row] if row < len(ROLES_BY_ROW) else '?'}) holds NaN or inf values "
        f"({n_bad} epoch(s) of {len(epochs)} {'given' if writing else 'read'} do); {fix}"
    )


def _not_codes(labels: np.ndarray) -> np.ndarray:
    """Mask of the labels that are not whole stage codes in -1..4 (NaN, fractions, out of range, non-numbers)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iuf":
        return np.ones(labels.shape, bool)
    with np.errstate(invalid="ignore"):
        return ~np.isin(labels, np.arange(LABELS[0], LABELS[1] + 1))


def _check_dataset(where: str, key: str, dset, trailing: tuple, kinds: str, ndims: tuple | None = None) -> None:
    """Raise a :class:`StoreError` unless ``dset`` is a dataset of a dtype kind in ``kinds`` whose shape ends in
    ``trailing`` (``ndims``: the accepted numbers of dimensions, default ``1 + len(trailing)``)."""
    if not isinstance(dset, h5py.Dataset):
        raise StoreError(f"{where}: /{key} is not a dataset; {_REBUILD}")
    ndims = ndims or (1 + len(trailing),)
    shape = dset.shape or ()
    if len(shape) not in ndims or (trailing and tuple(shape[len(shape) - len(trailing) :]) != trailing):
        raise StoreError(
            f"{where}: /{key} has shape {shape}, expected (n, {', '.join(map(str, trailing))}); {_REBUILD}"
        )
    if dset.dtype.kind not in kinds:
        expected = {"f": "floats", "iu": "integers", "iuf": "numbers", "OSU": "strings"}.get(kinds, kinds)
        raise StoreError(f"{where}: /{key} holds {dset.dtype} values, expected {expected}; {_REBUILD}")


def _check_stored(where: str, key: str, dset, rows: int) -> None:
    """Raise a :class:`StoreError` when the first ``rows`` rows of ``dset`` cannot all be stored in the file.

    A dataset may declare more rows than were ever written (unwritten rows read as zeros): the chunks actually
    stored bound the rows written, from the chunk index alone (no data read).
    """
    if rows <= 0:
        return
    if dset.chunks is None:
        if dset.id.get_storage_size() < dset.size * dset.dtype.itemsize:
            raise StoreError(f"{where}: /{key} declares {len(dset)} rows but stores no data for them; {_REBUILD}")
        return
    per_row = int(np.prod([-(-s // c) for s, c in zip(dset.shape[1:], dset.chunks[1:])], dtype=np.int64))
    needed = -(-rows // dset.chunks[0]) * per_row
    stored = dset.id.get_num_chunks()
    if stored < needed:
        megabytes = Path(dset.file.filename).stat().st_size / 2**20
        raise StoreError(
            f"{where}: /{key} declares {rows} rows in use but the file ({megabytes:.1f} MB) stores at most "
            f"{stored // per_row * dset.chunks[0]} of them; it is truncated or its index is corrupt; {_REBUILD}"
        )


def _checksum(epochs: np.ndarray, labels: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(labels, dtype=np.int8), zlib.crc32(np.ascontiguousarray(epochs)))


def build_store(
    recordings: list[Path],
    out: str | Path,
    annotations: list[Path] | None = None,
    pairs: str | Path | dict[str, Path] | None = None,
    **channels,
) -> dict[str, str]:
    """Preprocess PSG files into an epoch store ``out``, skipping (and reporting) files that fail.

    The store is built as ``<out>.part`` and renamed when complete. A run that was stopped resumes from the
    ``.part`` file, skipping the recordings it already holds; if that run was killed, the recordings that read
    back whole (checksums) are first copied into a fresh file, so a store damaged mid-write is rebuilt from its
    last good recording.

    Parameters
    ----------
    recordings : list of Path
        PSG files; each becomes one recording named by its stem.
    out : str | Path
        The ``.h5`` store to write.
    annotations : list of Path | None
        Hypnogram files, paired with recordings by name (:func:`~stqs_core.annotations.find_hypnogram`).
    pairs : str | Path | dict | None
        A ``recording,hypnogram`` CSV (:func:`~stqs_core.annotations.read_pairs`) or ``{file name: hypnogram}``;
        overrides the pairing by name.
    **channels
        Passed to :func:`~stqs_core.recording.read_recording`.

    Returns
    -------
    dict
        ``{recording: error}`` for the skipped files: unreadable, or (with ``annotations``/``pairs``) without a
        hypnogram of their own.
    """
    from tqdm.auto import tqdm

    from .annotations import find_hypnogram, read_pairs
    from .errors import HypnogramError
    from .preprocess import make_epochs
    from .recording import read_recording

    out = Path(out)
    part = out.with_name(out.name + ".part")
    if pairs is not None and not isinstance(pairs, dict):
        pairs = read_pairs(pairs)
    if part.exists():
        _salvage(part)
    errors: dict[str, str] = {}
    with EpochStore(part, "a") as store:
        done = set(store.recordings)
        for path in tqdm(recordings, desc="prepare", unit="file"):
            path = Path(path)
            name = path.stem
            if name in done:
                continue
            try:
                hypnogram = None
                if pairs is not None:
                    if path.name not in pairs:
                        raise HypnogramError(
                            f"{path.name} is not listed in the --pairs CSV; add a row '{path.name},<its hypnogram>'"
                        )
                    hypnogram = pairs[path.name]
                elif annotations:
                    hypnogram = find_hypnogram(path, annotations)
                    if hypnogram is None:
                        raise HypnogramError(
                            f"no hypnogram file matches its name (e.g. {name}-nsrr.xml, "
                            f"{name}-Hypnogram.edf or {name}.csv); pair it with a --pairs CSV"
                        )
                rec = read_recording(path, annotations=hypnogram, **channels)
                epochs = make_epochs(rec.data, rec.sfreq, rec.channel_names)
                store.append(name, epochs.data, rec.hypnogram, rec.channel_names)
            except StqsError as err:
                errors[str(path)] = str(err)
                logger.warning("skipped %s: %s", path, err)
    part.replace(out)
    return errors


def _salvage(part: Path) -> None:
    """Make a ``.part`` store left by a stopped run safe to append to, keeping its recordings that read back whole.

    A store closed normally (the run was interrupted with Ctrl-C, or failed) whose last recording reads back
    whole is kept as it is. A store whose
    writer was killed may have damaged HDF5 metadata even where its data reads back: its good recordings, up
    to the first damaged one, are copied into a fresh file that replaces it; an unreadable one is removed.
    """
    fresh = part.with_name(part.name + ".rebuild")
    fresh.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        with EpochStore(part, "r") as old:
            names = old.recordings
            if old.original or (
                old.file.attrs.get("closed", False) and (not names or old.read_verified(names[-1]) is not None)
            ):
                logger.warning("resuming %s: %d recordings already done", part, len(names))
                return
            kept = 0
            with EpochStore(fresh, "a") as new:
                for name in names:
                    data = old.read_verified(name)
                    if data is None:
                        break
                    epochs, labels = data
                    channels = [
                        c.decode() if isinstance(c, bytes) else c
                        for c in old.file["recordings/channels"][names.index(name)]
                    ]
                    new.append(name, epochs, labels, channels)
                    kept += 1
    except (StqsError, OSError, KeyError, RuntimeError) as err:  # too damaged to read: h5py's many error types
        fresh.unlink(missing_ok=True)
        part.unlink()
        logger.warning("%s, left by a killed run, is unreadable (%s); starting afresh", part, err)
        return
    fresh.replace(part)
    dropped = f", {len(names) - kept} damaged dropped" if kept < len(names) else ""
    logger.warning(
        "resuming %s after a killed run: rebuilt from its %d good recordings%s (%.1f s)",
        part,
        kept,
        dropped,
        time.perf_counter() - t0,
    )
