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


def _prepare(folder, out, **popen):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "stqs_core.cli", "prepare", str(folder), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **popen,
    )


def _contents(path):
    with EpochStore(path) as store:
        return {
            name: (
                store.read(name)[0].tobytes(),
                store.read(name)[1].tolist(),
                store.file["recordings/channels"][i].tolist(),
            )
            for i, name in enumerate(store.recordings)
        }


def _wait_for(path, process, since):
    """Poll until ``path`` is written after ``since`` (s, epoch time) or ``process`` ends; returns perf_counter."""
    import time

    while process.poll() is None:
        try:
            if path.stat().st_mtime >= since:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    return time.perf_counter()


@pytest.mark.slow
def test_prepare_killed_at_random_points_resumes_to_the_uninterrupted_store(tmp_path, random_night):
    """SIGKILL ``stqs prepare`` at 8 seeded random points of its writing phase (from the moment it opens the ``.part``
    store to the end; each rerun resumes and is killed again), then let it finish: the store equals an
    uninterrupted run's, whatever state each kill left the ``.part`` file in."""
    import signal
    import time

    from stqs_core.edf import write_edf

    from .conftest import SHHS_NAMES

    folder = tmp_path / "psg"
    folder.mkdir()
    for i in range(4):
        write_edf(
            folder / f"n{i}.edf",
            random_night(40, seed=i),
            SHHS_NAMES,
            125,
            stages=np.random.default_rng(i).integers(-1, 5, 80),
        )
    process = _prepare(folder, tmp_path / "ref.h5")
    started = _wait_for(tmp_path / "ref.h5.part", process, time.time() - 1)
    assert process.wait() == 0
    writing = time.perf_counter() - started
    out = tmp_path / "killed.h5"
    part = out.with_name(out.name + ".part")
    states = []
    for delay in np.random.default_rng(13).uniform(0, writing, 8):
        since = time.time()
        process = _prepare(folder, out)
        appeared = _wait_for(part, process, since)  # opened (and rebuilt, after a kill) by this run
        time.sleep(max(0.0, delay - (time.perf_counter() - appeared)))
        process.send_signal(signal.SIGKILL)
        code = process.wait()
        resumed = [
            ln.split(": ", 1)[1]
            for ln in process.stderr.read().decode().splitlines()
            if "resuming" in ln or "afresh" in ln
        ]
        states.append(
            (
                round(float(delay), 2),
                "killed" if code == -signal.SIGKILL else f"exit {code}",
                part.stat().st_size if part.exists() else None,
                resumed,
            )
        )
        assert code in (0, -signal.SIGKILL), states
    process = _prepare(folder, out)
    assert process.wait() == 0, (states, process.stderr.read().decode()[-2000:])
    assert _contents(out) == _contents(tmp_path / "ref.h5")
    assert not list(tmp_path.glob("killed.h5.part*"))
    print(f"writing phase {writing:.2f} s; kill points (s after .part appeared, outcome, .part bytes, message):")
    print("\n".join(map(str, states)))


def test_a_damaged_partial_store_is_rebuilt_from_its_good_recordings(tmp_path, caplog):
    from stqs_core.store import _salvage

    part = tmp_path / "s.h5.part"
    with EpochStore(part, "a") as store:
        for i, name in enumerate("abc"):
            store.append(name, _epochs(2, i), [i, i])
        store.file["epochs"][4] = 0.0  # recording c's data damaged after its checksum was written
        store.file.attrs["closed"] = False  # as a killed writer leaves it
        store.file.close()
    with caplog.at_level("WARNING"):
        _salvage(part)
    assert "rebuilt from its 2 good recordings, 1 damaged dropped" in caplog.text
    with EpochStore(part) as store:
        assert store.recordings == ["a", "b"] and store.read_verified("b") is not None
        np.testing.assert_array_equal(store.read("b")[0], _epochs(2, 1))
    part.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # killed before the first flush
    _salvage(part)
    assert not part.exists() and "unreadable" in caplog.text


def _two_recordings(path):
    with EpochStore(path, "w") as store:
        store.append("a", _epochs(3), [0, 1, 2])
        store.append("b", _epochs(2, 1), [3, 4])
    return path


def test_append_refuses_nan_and_inf_epochs(tmp_path):
    from stqs_core.errors import StoreError

    with EpochStore(tmp_path / "s.h5", "w") as store:
        for bad in (np.nan, np.inf, -np.inf):
            epochs = _epochs(4)
            epochs[2, 1, 100] = bad
            with pytest.raises(StoreError, match=r"'a' epoch 2 row 1 \(eeg\) holds NaN or inf .*make_epochs"):
                store.append("a", epochs)
        assert store.recordings == [] and len(store.epochs) == 0  # nothing written


@pytest.mark.parametrize("labels", [[0, 260, 1], [0, 2.7, 1], [0, -2, 1], [0, np.nan, 1], ["W", "N1", "N2"]])
def test_append_refuses_labels_that_are_not_stage_codes(tmp_path, labels):
    from stqs_core.errors import StoreError

    with EpochStore(tmp_path / "s.h5", "w") as store:
        with pytest.raises(StoreError, match="must be stage codes -1 .* epoch [01] is"):
            store.append("a", _epochs(3), labels)
        assert len(store.file["labels"]) == 0


def _replace(f, key, values):
    del f[key]
    f[key] = values


def _declare_many(f):  # 200,000 epochs declared, 5 written: unwritten rows would read as zeros
    for key in ("epochs", "labels"):
        f[key].resize(200_000, axis=0)
    f["recordings/length"][1] = 200_000 - 3


CORRUPT = {
    "int16 label 260": (
        lambda f: _replace(f, "labels", np.array([0, 1, 2, 3, 260], np.int16)),
        r"labels\[4\] \(recording 'b', epoch 1\) is 260",
    ),
    "float label 2.7": (lambda f: _replace(f, "labels", np.array([0, 1, 2.7, 3, 4])), r"labels\[2\] .* is 2.7"),
    "int8 label 9": (lambda f: f["labels"].__setitem__(3, 9), r"labels\[3\] \(recording 'b', epoch 0\) is 9"),
    "huge length": (
        lambda f: f["recordings/length"].__setitem__(0, 10**7),
        r"/recordings/length\[0\] \('a'\) = 10000000",
    ),
    "negative length": (lambda f: f["recordings/length"].__setitem__(1, -1), r"/recordings/length\[1\] \('b'\) = -1"),
    "negative offset": (lambda f: f["recordings/offset"].__setitem__(1, -2), r"/recordings/offset\[1\] \('b'\) = -2"),
    "overlapping offset": (lambda f: f["recordings/offset"].__setitem__(1, 1), r"/recordings/offset\[1\] \('b'\) = 1"),
    "index past the data": (
        lambda f: f["recordings/length"].__setitem__(1, 3),
        "declares 6 epochs in all but /epochs holds 5",
    ),
    "declared epochs never written": (
        _declare_many,
        "/epochs declares 200000 rows in use but the file .* stores at most 5",
    ),
    "no index": (lambda f: f.__delitem__("recordings"), "no /recordings index"),
    "no offsets": (lambda f: f.__delitem__("recordings/offset"), "lacks /recordings/offset"),
    "float offsets": (
        lambda f: _replace(f, "recordings/offset", np.array([0.0, 3.0])),
        "/recordings/offset holds float64",
    ),
    "short id": (
        lambda f: f["recordings/id"].resize(1, axis=0),
        "/recordings/id holds 1 entries but /recordings/length 2",
    ),
    "duplicate id": (lambda f: f["recordings/id"].__setitem__(1, "a"), "/recordings/id holds 'a' 2 times"),
    "epochs of another shape": (
        lambda f: _replace(f, "epochs", np.zeros((5, 5, 100), np.float32)),
        r"/epochs has shape \(5, 5, 100\)",
    ),
    "integer epochs": (lambda f: _replace(f, "epochs", np.zeros((5, 5, 3750), np.int16)), "/epochs holds int16 values"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_corrupt_store_is_one_store_error_naming_the_field(tmp_path, case):
    from stqs_core.errors import StoreError
    from stqs_core.sampling import EpochSource

    path = _two_recordings(tmp_path / "s.h5")
    change, message = CORRUPT[case]
    with h5py.File(path, "a") as f:
        change(f)
    for mode in ("r", "a"):
        with pytest.raises(StoreError, match=message):
            EpochStore(path, mode)
    with pytest.raises(StoreError, match=message):
        EpochSource([path])


def test_the_original_layout_is_validated_too(tmp_path):
    from stqs_core.errors import StoreError

    path = tmp_path / "orig.h5"
    with h5py.File(path, "w") as f:
        f["data"] = _epochs(3)[:, None]
        f["label"] = np.array([[0], [7], [2]])
    with pytest.raises(StoreError, match=r"/labels\[1\] \(recording 'all', epoch 1\) is 7"):
        EpochStore(path)


def test_non_finite_epochs_in_a_store_fail_where_they_are_read(tmp_path):
    from stqs_core.errors import StoreError
    from stqs_core.sampling import EpochSource

    path = _two_recordings(tmp_path / "s.h5")
    with h5py.File(path, "a") as f:
        f["epochs"][4, 3, 7] = np.inf  # recording b, epoch 1, an EOG row
    with EpochStore(path) as store:  # opening reads no epoch
        assert store.read("a")[0].shape == (3, 5, 3750)
        with pytest.raises(StoreError, match=r"'b' epoch 1 row 3 \(eog\) holds NaN or inf values \(1 epoch"):
            store.read("b")
    for cache_bytes in (0, 1 << 30):  # streamed, and loaded into memory
        with EpochSource([path], cache_bytes=cache_bytes) as source:
            assert source.read("a").shape == (3, 5, 3750) if not cache_bytes else True
            with pytest.raises(StoreError, match=r"'b' epoch 1 row 3"):
                source.read("b", 1)


def test_duplicate_recording_ids_say_what_is_duplicated(tmp_path):
    from stqs_core.errors import StoreError
    from stqs_core.sampling import EpochSource

    path = _two_recordings(tmp_path / "lab.h5")
    with pytest.raises(StoreError, match="lab.h5 is given twice"):
        EpochSource([path, tmp_path / "." / "lab.h5"])
    (tmp_path / "copy").mkdir()
    other = _two_recordings(tmp_path / "copy" / "lab.h5")
    with pytest.raises(StoreError, match="recording 'a' is in both .* same stem 'lab'"):
        EpochSource([path, other])
    with EpochStore(tmp_path / "lab:a.h5", "w") as store:
        store.append("x", _epochs(1))
    with EpochStore(tmp_path / "lab.h5", "a") as store:
        store.append("a:x", _epochs(1))
    with pytest.raises(StoreError, match="recording 'a:x' of .* and recording 'x' of .* would both be named 'lab:a:x'"):
        EpochSource([path, tmp_path / "lab:a.h5"])
