import h5py
import numpy as np
import pytest

from stqs_core.store import EpochStore


def _epochs(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 5, 3750)).astype(np.float32)


def test_append_and_read_lazily(tmp_path):
    path = tmp_path / "s.h5"
    with EpochStore(path, "a") as store:
        store.append("a", _epochs(3), [0, 1, 2], ["c3", "c4", "l", "r", "chin"])
        store.append("b", _epochs(2, 1))
    with EpochStore(path) as store:
        assert store.recordings == ["a", "b"] and len(store) == 5
        epochs, labels = store.read("b")
        np.testing.assert_array_equal(epochs, _epochs(2, 1))
        assert labels.tolist() == [-1, -1] and store.labels().tolist() == [0, 1, 2, -1, -1]
        assert store.epochs[1:2].shape == (1, 5, 3750)  # h5py slice: reads one epoch only
        assert store.file["recordings/channels"][0, 4].decode() == "chin"
        assert store.file.attrs["sfreq"] == 125 and store.epochs.compression == "lzf"
        with pytest.raises(KeyError, match="holds 2 recordings"):
            store.read("c")


def test_refuses_duplicates_and_bad_shapes(tmp_path):
    with EpochStore(tmp_path / "s.h5", "a") as store:
        store.append("a", _epochs(1))
        with pytest.raises(ValueError, match="already holds"):
            store.append("a", _epochs(1))
        with pytest.raises(ValueError, match="epochs must be"):
            store.append("b", np.zeros((2, 5, 3000)))
        with pytest.raises(ValueError, match="labels must be"):
            store.append("b", _epochs(2), [0])


def test_an_interrupted_append_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "s.h5"
    with EpochStore(path, "a") as store:
        store.append("a", _epochs(2), [1, 2])
        store.epochs.resize(5, axis=0)  # a crash after the data, before the index
        store.file["recordings/id"].resize(2, axis=0)
    with EpochStore(path, "a") as store:
        assert store.recordings == ["a"] and len(store) == 2
        store.append("b", _epochs(1, 3), [4])
        np.testing.assert_array_equal(store.read("b")[0], _epochs(1, 3))
        assert store.labels().tolist() == [1, 2, 4]


def test_reads_the_original_stqs_layout(tmp_path):
    path = tmp_path / "orig.h5"
    with h5py.File(path, "w") as f:
        f["data"] = _epochs(4)[:, None]
        f["label"] = np.array([[0], [1], [2], [4]])
    with EpochStore(path) as store:
        epochs, labels = store.read("all")
        assert store.original and epochs.shape == (4, 5, 3750) and labels.tolist() == [0, 1, 2, 4]
        with pytest.raises(ValueError, match="read-only"):
            store.append("x", _epochs(1))
