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
        if not self.original and "epochs" not in self.file:
            if mode == "r":
                self.file.close()
                raise StoreError(f"{self.path} is not an STQS epoch store (no /epochs or /data)")
            self._create()
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
        return [s.decode() if isinstance(s, bytes) else s for s in ids]

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
        return epochs.reshape(len(epochs), -1, epochs.shape[-1]), self.labels(name)

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
        labels = np.full(len(epochs), -1, np.int8) if labels is None else np.asarray(labels, dtype=np.int8)
        if labels.shape != (len(epochs),):
            raise StoreError(f"labels must be ({len(epochs)},), got {labels.shape}")
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
