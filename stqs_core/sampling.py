"""Training data: splits by recording, class-imbalance options, and batches streamed from HDF5 epoch stores.

Recordings are named ``"name"`` when training reads one store and ``"<store stem>:name"`` with several, so
names stay unique. Unscored epochs (-1) never enter a batch.

Memory rule: a store whose epochs fit in ``cache_bytes`` (default 1 GiB, about 14,000 epochs) is read into
RAM once; a larger one streams: each training pass visits the recordings in a shuffled order, reads
``buffer_recordings`` of them at a time (one contiguous HDF5 read each) and shuffles epochs within that buffer.
Epochs are checked for NaN and inf as they are read (a cached store once, when it is loaded); a non-finite
value is a :class:`~stqs_core.errors.StoreError` naming the recording and epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .constants import STAGES
from .errors import StoreError, StqsError
from .store import EpochStore, check_finite

logger = logging.getLogger(__name__)

IMBALANCE = ("none", "oversampling", "weighted-inverse", "weighted-balanced")
CACHE_BYTES = 1 << 30
CHECK_ROWS = 1024
"""Epochs checked for NaN and inf at a time when a store is loaded into memory (a bounded temporary)."""


def split_recordings(
    names: list[str],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    validation: list[str] | None = None,
    test: list[str] | None = None,
    train: list[str] | None = None,
) -> dict[str, list[str]]:
    """Split recordings (never epochs) into ``{"train", "validation", "test"}``.

    Parameters
    ----------
    names : list of str
        The recordings.
    fractions : tuple of (float, float, float)
        Shares of train, validation and test for a seeded shuffle; each non-zero share gets at least one
        recording when there are enough.
    seed : int
        Seed of the shuffle.
    validation, test, train : list of str or None
        Recordings named explicitly instead of the shuffle (``train`` defaults to every other recording;
        recordings in no set are left out).

    Returns
    -------
    dict of str to list of str
        Sorted names per split.

    Examples
    --------
    >>> from stqs_core.sampling import split_recordings
    >>> split = split_recordings([f"n{i}" for i in range(10)], seed=0)
    >>> [len(split[k]) for k in ("train", "validation", "test")]
    [6, 2, 2]
    """
    names = sorted(set(names))
    if validation is not None or test is not None or train is not None:
        sets = [set(train or []), set(validation or []), set(test or [])]
        unknown = set.union(*sets) - set(names)
        if unknown:
            raise StqsError(f"split names recordings not in the data: {sorted(unknown)[:5]}")
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise StqsError("a recording can be in only one of the train, validation and test sets")
        held = sets[1] | sets[2]
        return {
            "train": sorted(train) if train is not None else [n for n in names if n not in held],
            "validation": sorted(validation or []),
            "test": sorted(test or []),
        }
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1):
        raise StqsError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    n = len(order)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    if n >= 3:  # a requested set is never empty when there are three recordings or more
        n_val, n_test = max(n_val, int(fractions[1] > 0)), max(n_test, int(fractions[2] > 0))
    n_val, n_test = min(n_val, max(n - 1, 0)), min(n_test, max(n - 1 - n_val, 0))
    return {
        "train": sorted(order[n_val + n_test :]),
        "validation": sorted(order[:n_val]),
        "test": sorted(order[n_val : n_val + n_test]),
    }


def class_weights(labels: np.ndarray, option: str, n_classes: int = len(STAGES)) -> np.ndarray | None:
    """Loss weights for a class-imbalance option, or None for an unweighted loss.

    ``weighted-inverse``: ``1 - share`` of each class; ``weighted-balanced``: ``n / (n_classes * count)``
    (scikit-learn's *balanced*; a class absent from ``labels`` gets 1). Unscored labels are ignored.

    Parameters
    ----------
    labels : ndarray of int, shape (n_epochs,)
        Training labels (-1 unscored).
    option : str
        ``"none"``, ``"oversampling"``, ``"weighted-inverse"`` or ``"weighted-balanced"``.
    n_classes : int
        The number of stages.

    Returns
    -------
    ndarray of float, shape (n_classes,), or None
    """
    if option not in IMBALANCE:
        raise StqsError(f"imbalance must be one of {IMBALANCE}, got {option!r}")
    if option in ("none", "oversampling"):
        return None
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0], minlength=n_classes)[:n_classes].astype(float)
    if counts.sum() == 0:
        raise StoreError("no scored epochs to compute class weights from")
    if option == "weighted-inverse":
        return 1.0 - counts / counts.sum()
    return np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 1.0)


def epoch_indices(labels: np.ndarray, oversample: bool, rng: np.random.Generator) -> np.ndarray:
    """Rows of one recording to train on: its scored epochs, minority classes optionally oversampled.

    Parameters
    ----------
    labels : ndarray of int, shape (n_epochs,)
        The recording's stage codes (-1 unscored, left out).
    oversample : bool
        Resample each minority class with replacement up to the count of the recording's most frequent class.
    rng : numpy.random.Generator
        The random draw.

    Returns
    -------
    ndarray of int, shape (n_indices,)
        Row indices into the recording, unshuffled.
    """
    labels = np.asarray(labels)
    scored = np.flatnonzero(labels >= 0)
    if not oversample or len(scored) == 0:
        return scored
    classes, counts = np.unique(labels[scored], return_counts=True)
    extra = [
        rng.choice(scored[labels[scored] == c], counts.max() - n) for c, n in zip(classes, counts) if n < counts.max()
    ]
    return np.concatenate([scored, *extra])


def n_indices(labels: np.ndarray, oversample: bool) -> int:
    """How many rows :func:`epoch_indices` returns (it does not depend on the random draw).

    Parameters
    ----------
    labels : ndarray of int, shape (n_epochs,)
        The recording's stage codes.
    oversample : bool
        As for :func:`epoch_indices`.

    Returns
    -------
    int
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0].astype(int), minlength=1)
    return int((counts > 0).sum() * counts.max()) if oversample else int(counts.sum())


class EpochSource:
    """The recordings of one or more epoch stores, read lazily (or from RAM for small stores, see module doc).

    Parameters
    ----------
    paths : list of str | Path
        Epoch stores (:class:`~stqs_core.store.EpochStore`).
    cache_bytes : int
        Stores whose epochs take at most this much are read into memory on first use.
    """

    def __init__(self, paths: list[str | Path], cache_bytes: int = CACHE_BYTES):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise StoreError("no epoch store given; build one with `stqs prepare`")
        self.stores: list[EpochStore] = []
        self._cache: dict[int, np.ndarray] = {}
        try:
            for path in self.paths:
                self.stores.append(EpochStore(path))
        except StqsError:
            self.close()
            raise
        multi = len(self.stores) > 1
        self.index: dict[str, tuple[int, str]] = {}
        for i, (path, store) in enumerate(zip(self.paths, self.stores)):
            for name in store.recordings:
                rid = f"{path.stem}:{name}" if multi else name
                if rid in self.index:
                    self.close()
                    raise StoreError(self._duplicate(rid, self.index[rid], (i, name)))
                self.index[rid] = (i, name)
        self._labels = {rid: self.stores[i].labels(name) for rid, (i, name) in self.index.items()}
        self._cached = [s.epochs.size * 4 <= cache_bytes for s in self.stores]

    def _duplicate(self, rid: str, first: tuple[int, str], second: tuple[int, str]) -> str:
        """The message for two recordings that would share the id ``rid``."""
        (i, a), (j, b) = first, second
        pi, pj = self.paths[i], self.paths[j]
        if pi.resolve() == pj.resolve():
            return f"the epoch store {pi} is given twice; give each store once"
        if pi.stem == pj.stem and a == b:
            return (
                f"recording {a!r} is in both {pi} and {pj}, stores with the same stem {pi.stem!r}, so both would be "
                f"named {rid!r}; rename one store (or drop it if it is a copy)"
            )
        return (
            f"recording {a!r} of {pi} and recording {b!r} of {pj} would both be named {rid!r} (store stem, ':', "
            "recording name); rename one of the stores"
        )

    @property
    def recordings(self) -> list[str]:
        """Recording ids: ``"name"`` with one store, ``"<store stem>:name"`` with several."""
        return list(self.index)

    def labels(self, rid: str) -> np.ndarray:
        """Stage codes of one recording.

        Parameters
        ----------
        rid : str
            Recording id (see :attr:`recordings`).

        Returns
        -------
        ndarray of int8, shape (n_epochs,)
        """
        return self._labels[rid]

    def n_epochs(self, rid: str) -> int:
        """The number of epochs of one recording.

        Parameters
        ----------
        rid : str
            Recording id (see :attr:`recordings`).

        Returns
        -------
        int
        """
        return len(self._labels[rid])

    def read(self, rid: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Epochs ``start:stop`` of one recording.

        Parameters
        ----------
        rid : str
            Recording id (see :attr:`recordings`).
        start, stop : int, int or None
            First and past-the-last epoch; ``stop`` None (or past the end) for the end.

        Returns
        -------
        ndarray of float32, shape (stop - start, 5, 3750)
        """
        i, name = self.index[rid]
        span = self.stores[i].span(name)
        length = span.stop - span.start
        stop = length if stop is None else min(stop, length)
        rows = slice(span.start + start, span.start + stop)
        if self._cached[i]:
            if i not in self._cache:
                self._load(i)
            data = self._cache[i][rows]
        else:
            data = self.stores[i].epochs[rows]
            check_finite(data, self.paths[i], name, start)
        return data.reshape(len(data), int(np.prod(data.shape[1:-1])), data.shape[-1])

    def _load(self, i: int) -> None:
        """Read store ``i`` into memory, checking its epochs for NaN and inf :data:`CHECK_ROWS` at a time."""
        logger.info("reading %s into memory", self.paths[i])
        store, data = self.stores[i], self.stores[i].epochs[:]
        for first in range(0, len(data), CHECK_ROWS):
            block = data[first : first + CHECK_ROWS]
            if not np.isfinite(block).all():
                row = first + int(np.argmax(~np.isfinite(block.reshape(len(block), -1)).all(1)))
                name = store.locate(row)[0]
                check_finite(data[store.span(name)], self.paths[i], name)
        self._cache[i] = data

    def close(self) -> None:
        """Close the stores and drop the in-memory copies."""
        for store in self.stores:
            store.close()
        self._cache.clear()

    def __enter__(self) -> EpochSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> list[dict]:
        """One dict per store, for a model card.

        Returns
        -------
        list of dict
            ``path``, ``recordings``, ``epochs`` and ``scored_epochs`` of each store.
        """
        out = []
        for path, store in zip(self.paths, self.stores):
            labels = store.labels()
            out.append(
                {
                    "path": str(path),
                    "recordings": len(store.recordings),
                    "epochs": int(len(labels)),
                    "scored_epochs": int((labels >= 0).sum()),
                }
            )
        return out


def epoch_batches(
    source: EpochSource,
    recordings: list[str],
    batch_size: int,
    rng: np.random.Generator,
    oversample: bool = False,
    buffer_recordings: int = 4,
    origins: bool = False,
) -> Iterator[tuple]:
    """Shuffled batches over the scored epochs of some recordings.

    Reads ``buffer_recordings`` recordings at a time (all of them when cached: no copy) and shuffles within.

    Parameters
    ----------
    source : EpochSource
        The stores.
    recordings : list of str
        Recording ids to draw from.
    batch_size : int
        Epochs per batch; the last batch may be smaller.
    rng : numpy.random.Generator
        The shuffle.
    oversample : bool
        Oversample minority classes per recording (:func:`epoch_indices`).
    buffer_recordings : int
        Recordings read and shuffled together.
    origins : bool
        Also yield where each epoch of a batch comes from.

    Yields
    ------
    epochs : ndarray of float32, shape (batch, 5, 3750)
    labels : ndarray of int64, shape (batch,)
    where : list of (str, int)
        With ``origins``: the recording id and epoch of each row of the batch.
    """
    order = [recordings[i] for i in rng.permutation(len(recordings))]
    if all(source._cached[source.index[r][0]] for r in order):
        buffer_recordings = max(len(order), 1)
    carry: list[tuple] = []  # (epoch (5, 3750), label, recording, row) left over from the previous buffer

    def batch_of(items: list[tuple]) -> tuple:
        out = np.stack([x for x, *_ in items]), np.array([y for _, y, *_ in items], np.int64)
        return (*out, [(rid, row) for *_, rid, row in items]) if origins else out

    for g in range(0, len(order), buffer_recordings):
        items = list(carry)
        for rid in order[g : g + buffer_recordings]:
            labels = source.labels(rid)
            rows = epoch_indices(labels, oversample, rng)
            if len(rows):
                epochs = source.read(rid)
                items.extend((epochs[r], int(labels[r]), rid, int(r)) for r in rows)
        perm = rng.permutation(len(items))
        n_full = len(items) // batch_size * batch_size
        for b in range(0, n_full, batch_size):
            yield batch_of([items[i] for i in perm[b : b + batch_size]])
        carry = [(items[i][0].copy(), *items[i][1:]) for i in perm[n_full:]]
    if carry:
        yield batch_of(carry)
