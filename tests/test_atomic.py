"""Atomic writes: a crash leaves the old file, and a new file gets the usual permissions."""

import os

import pytest

from stqs_core._atomic import atomic_path


def test_crash_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_new_file_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("new")
    finally:
        os.umask(old)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


def test_stale_temporaries_of_killed_runs_are_removed_but_live_ones_kept(tmp_path):
    import fcntl
    import time

    target = tmp_path / "out.csv"
    stale, live, other = (
        tmp_path / ".out.csv.abc123.part.csv",
        tmp_path / ".out.csv.def456.part.csv",
        tmp_path / ".other.csv.abc123.part.csv",
    )
    for path in (stale, live, other):
        path.write_text("half")
        os.utime(path, (time.time() - 3600, time.time() - 3600))  # older than this process
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a writer still running in another process
        with atomic_path(target) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "new" and not stale.exists() and live.exists() and other.exists()


def test_write_errors_are_output_errors_and_leave_nothing(tmp_path):
    from stqs_core.errors import OutputError

    with pytest.raises(OutputError, match="disk full"):
        with atomic_path(tmp_path / "out.csv"):
            raise OSError(28, "disk full")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot create the folder"):
        with atomic_path(tmp_path / "file" / "out.csv"):
            pass
    with pytest.raises(OutputError, match="is a folder"):
        with atomic_path(tmp_path):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_an_output_may_not_be_an_input(tmp_path):
    from stqs_core._atomic import check_output
    from stqs_core.errors import OutputError

    night = tmp_path / "night.edf"
    night.write_bytes(b"signal")
    (tmp_path / "link.edf").symlink_to(night)
    os.link(night, tmp_path / "hard.edf")
    for out in (night, tmp_path / "link.edf", tmp_path / "hard.edf", tmp_path / "sub" / ".." / "night.edf"):
        with pytest.raises(OutputError, match="destroy the input"):
            check_output(out, [None, night])
    with pytest.raises(OutputError, match="does not exist; create it first"):
        check_output(tmp_path / "missing" / "out.csv", [night])
    assert check_output(tmp_path / "out.csv", [night, None]) == tmp_path / "out.csv"
