"""Scoring a cohort: inputs (folder, glob, manifest), the cohort table, failures, resume, output safety, Dask."""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from stqs_core.annotations import read_hypnogram
from stqs_core.cli import main
from stqs_core.cohort import (
    RECORD_SUFFIX,
    Night,
    check_outputs,
    check_worker_paths,
    collect_nights,
    read_manifest,
    score_cohort,
)
from stqs_core.errors import OutputError, StqsError
from stqs_core.simulate import simulate_night
from stqs_core.sleepstats import sleep_statistics

ROOT = Path(__file__).resolve().parents[1]
MODEL = "stqs-cnnlstm-sim"


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """A folder of three simulated 15-min nights (stages embedded as EDF+ annotations)."""
    folder = tmp_path_factory.mktemp("cohort") / "edf"
    for seed in range(3):
        simulate_night(hours=0.25, seed=seed).write_edf(folder / f"night{seed}.edf")
    return folder


def copy_nights(nights: Path, to: Path) -> Path:
    shutil.copytree(nights, to, copy_function=shutil.copy2)  # copy2 keeps mtimes: the same fingerprints
    return to


def frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_a_folder_gives_one_hypnogram_and_one_row_per_night(nights, tmp_path):
    result = score_cohort(nights, tmp_path / "out", MODEL, workers=1, progress=False)
    table = frame(result.csv)
    assert table.name.tolist() == ["night0", "night1", "night2"] and (table.status == "ok").all()
    assert (table.model == MODEL).all() and (table.n_epochs == 30).all()
    assert table.mean_confidence.between(0.2, 1).all() and table.low_confidence_fraction.between(0, 1).all()
    assert table.accuracy.between(0, 1).all() and "kappa" in table  # the stages embedded in the EDFs
    for row in table.to_dict("records"):
        predicted = read_hypnogram(tmp_path / "out" / f"{row['name']}.csv")
        expert = read_hypnogram(nights / f"{row['name']}.edf")
        for key, value in sleep_statistics(predicted).items():
            assert row[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key
        for key, value in sleep_statistics(expert).items():
            assert row[f"expert_{key}"] == pytest.approx(value, rel=1e-12, nan_ok=True), key
    summary = pd.read_json(result.json, orient="index").T  # cohort.json holds the same rows
    assert summary.n_nights.item() == 3 and summary.n_ok.item() == 3
    assert [n["TST"] for n in summary.nights.item()] == pytest.approx(table.TST.tolist())


def test_a_manifest_carries_its_columns_and_sets_channels_per_night(nights, tmp_path):
    night = simulate_night(hours=0.25, seed=7)
    night.write_edf(tmp_path / "plain.edf", hypnogram="csv")  # stages in plain-hypnogram.csv, not in the EDF
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "path": [str(nights / "night0.edf"), "plain.edf", str(nights / "night1.edf")],
            "annotations": ["", "plain-hypnogram.csv", ""],
            "eeg": ["EEG C4-A1", "", "Fz-Cz"],
            "preset": ["aasm", "", ""],
            "subject": ["007", "008", "009"],
            "site": ["A", "B", "B"],
        }
    ).to_csv(manifest, index=False)
    assert [n.channels for n in collect_nights(manifest)] == [
        {"eeg": ["EEG C4-A1"], "preset": "aasm"},
        {},
        {"eeg": ["Fz-Cz"]},
    ]
    out = tmp_path / "out"
    assert main(["score", "--manifest", str(manifest), "--out", str(out), "--model", MODEL, "--workers", "1"]) == 1
    table = pd.read_csv(out / "cohort.csv", dtype={"subject": str})
    assert table.subject.tolist() == ["007", "008", "009"] and table.site.tolist() == ["A", "B", "B"]
    assert table.status.tolist() == ["ok", "ok", "error"]
    assert "Fz-Cz" in table.error[2]
    assert table.annotations[1] == str(tmp_path / "plain-hypnogram.csv")
    assert table.expert_TST[1] == pytest.approx(sleep_statistics(night.stages)["TST"])
    assert table.accuracy[1] > 0.5


def test_a_glob_and_another_format(nights, tmp_path):
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                str(nights / "night[01].edf"),
                "--out",
                str(out),
                "--format",
                "tsv",
                "--model",
                MODEL,
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.glob("*.tsv")) == ["night0.tsv", "night1.tsv"]
    assert frame(out / "cohort.csv").name.tolist() == ["night0", "night1"]
    one = tmp_path / "one"  # one recording into a folder: a cohort of one
    assert main(["score", str(nights / "night2.edf"), "--out", str(one), "--model", MODEL]) == 0
    assert (one / "night2.csv").is_file() and frame(one / "cohort.csv").status.tolist() == ["ok"]
    with pytest.raises(StqsError, match="no file matches"):
        collect_nights(str(nights / "*.bdf"))


def test_bad_nights_get_error_rows_and_exit_code_1(nights, tmp_path, capsys):
    folder = copy_nights(nights, tmp_path / "edf")
    data = (folder / "night1.edf").read_bytes()
    (folder / "night1.edf").write_bytes(data[: len(data) // 2])  # truncated
    (folder / "zz_garbage.edf").write_bytes(b"not an EDF at all" * 40)
    out = tmp_path / "out"
    assert main(["score", str(folder), "--out", str(out), "--model", MODEL, "--workers", "1"]) == 1
    table = frame(out / "cohort.csv")
    assert table.status.tolist() == ["ok", "error", "ok", "error"]
    assert "truncated" in table.error[1] and table.error[3]
    assert not (out / "night1.csv").exists() and not (out / f"night1{RECORD_SUFFIX}").exists()
    err = capsys.readouterr().err
    assert "failed" in err and "zz_garbage.edf" in err
    # the rerun keeps the good nights and tries the bad ones again
    result = score_cohort(folder, out, MODEL, workers=1, progress=False)
    assert (result.n_skipped, result.n_scored, len(result.failed)) == (2, 2, 2)


def test_outputs_never_replace_inputs(nights, tmp_path):
    folder = copy_nights(nights, tmp_path / "edf")
    with pytest.raises(OutputError, match="overwrite the input"):
        score_cohort(folder, folder, MODEL, workers=1, fmt="edf", progress=False)
    assert not list(folder.glob("*.record.json"))  # refused before anything was written
    (folder / "cohort.csv").write_text(f"path\n{folder / 'night0.edf'}\n")  # a manifest named like the table
    with pytest.raises(OutputError, match="cohort table would overwrite"):
        score_cohort(folder / "cohort.csv", folder, MODEL, workers=1, progress=False)
    (tmp_path / "other").mkdir()
    shutil.copy2(folder / "night0.edf", tmp_path / "other" / "night0.edf")
    with pytest.raises(OutputError, match="distinct names"):
        score_cohort(
            [folder / "night0.edf", tmp_path / "other" / "night0.edf"],
            tmp_path / "out",
            MODEL,
            workers=1,
            progress=False,
        )
    assert main(["score", str(folder), "--out", str(folder), "--format", "edf", "--model", MODEL]) == 2
    # an output that is a hard link to an input (another path, the same file) is refused too
    linked = tmp_path / "linked"
    linked.mkdir()
    os.link(folder / "night0.edf", linked / "night0.edf")
    with pytest.raises(OutputError, match="overwrite the input"):
        score_cohort(folder / "night0.edf", linked, MODEL, workers=1, fmt="edf", progress=False)


def test_resume_skips_matching_nights_and_redoes_changed_ones(nights, tmp_path):
    folder = copy_nights(nights, tmp_path / "edf")
    whole = score_cohort(folder, tmp_path / "whole", MODEL, workers=1, progress=False)
    out = tmp_path / "out"
    first = score_cohort(folder, out, MODEL, workers=1, progress=False)
    assert (first.n_scored, first.n_skipped) == (3, 0)
    # as a kill would leave it: one night without its record, another's record half-written
    (out / f"night1{RECORD_SUFFIX}").unlink()
    partial = out / f".night2{RECORD_SUFFIX}.x.part.json"
    partial.write_text('{"finger')
    os.utime(partial, (time.time() - 86400, time.time() - 86400))  # left by an earlier process
    again = score_cohort(folder, out, MODEL, workers=1, progress=False)
    assert (again.n_scored, again.n_skipped) == (1, 2)
    assert not list(out.glob(".*"))  # the temporary file is gone
    pd.testing.assert_frame_equal(frame(again.csv), frame(whole.csv))
    os.utime(folder / "night0.edf")  # a newer input, another model or other options: scored again
    assert score_cohort(folder, out, MODEL, workers=1, progress=False).n_scored == 1
    assert score_cohort(folder, out, "stqs-cnn-oversampling-sim", workers=1, progress=False).n_scored == 3
    assert (
        score_cohort(folder, out, "stqs-cnn-oversampling-sim", workers=1, progress=False, preset="aasm").n_scored == 3
    )


@pytest.mark.slow
def test_kill_9_at_any_point_then_resume_gives_the_same_table(nights, tmp_path):
    folder = copy_nights(nights, tmp_path / "edf")
    shutil.copy2(nights / "night0.edf", folder / "night3.edf")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "stqs_core.cli", "score", str(folder), "--model", MODEL, "--workers", "1", "--out"]
    whole = tmp_path / "whole"
    subprocess.run([*cmd, str(whole)], env=env, check=True, capture_output=True)
    out, rng, kills = tmp_path / "out", random.Random(15), 0
    for records in (1, 2, 2, 3):  # kill once this many nights are done, plus a random fraction of a night
        proc = subprocess.Popen([*cmd, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and len(list(out.glob(f"*{RECORD_SUFFIX}"))) < records:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    assert subprocess.run([*cmd, str(out)], env=env, capture_output=True).returncode == 0
    pd.testing.assert_frame_equal(frame(out / "cohort.csv"), frame(whole / "cohort.csv"))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.iterdir())  # no temporary files


@pytest.mark.slow
def test_two_local_dask_workers_give_the_same_table(nights, tmp_path):
    alone = score_cohort(nights, tmp_path / "alone", MODEL, workers=1, progress=False)
    pair = score_cohort(nights, tmp_path / "pair", MODEL, workers=2, progress=False)
    pd.testing.assert_frame_equal(frame(pair.csv), frame(alone.csv), rtol=1e-3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster():
    """A real `dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays dead) on
    127.0.0.1; yields the scheduler address and a client."""
    dask = Path(sys.executable).parent / "dask"
    if not dask.exists():
        pytest.skip("the dask command line is not installed (pip install 'dask[distributed]')")
    from dask.distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"], **quiet
        )
    ]
    procs += [
        subprocess.Popen(
            [
                dask,
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"w{i}",
            ],
            **quiet,
        )
        for i in range(2)
    ]
    try:
        client = Client(address, timeout=60)
        client.wait_for_workers(2, timeout=120)
        yield address, client
        client.close()
    finally:
        for proc in procs[::-1]:  # workers first: they would wait to reconnect to a stopped scheduler
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_a_real_scheduler_scores_the_cohort(tmp_path, dask_cluster):
    address, client = dask_cluster
    for seed in range(3):
        simulate_night(hours=0.5, seed=seed).write_edf(tmp_path / f"n{seed}.edf")
    out = tmp_path / "out"
    assert main(["score", str(tmp_path / "n*.edf"), "--out", str(out), "--scheduler", address, "--model", MODEL]) == 0
    table = frame(out / "cohort.csv")
    assert table.name.tolist() == ["n0", "n1", "n2"] and (table.status == "ok").all() and (table.n_epochs == 60).all()
    assert (table.accuracy > 0.5).all()
    for name in table.name:
        assert sleep_statistics(read_hypnogram(out / f"{name}.csv"))["TST"] == table.TST[table.name == name].item()


@pytest.mark.slow
def test_a_night_whose_worker_dies_is_scored_on_another(nights, tmp_path, dask_cluster):
    address, client = dask_cluster
    pids = client.run(os.getpid)
    box = {}
    run = threading.Thread(
        target=lambda: box.update(
            result=score_cohort(nights, tmp_path / "out", MODEL, scheduler=address, progress=False)
        )
    )
    run.start()
    busy = {}
    deadline = time.monotonic() + 120
    while not busy and time.monotonic() < deadline:
        busy = {w: tasks for w, tasks in client.processing().items() if tasks}
        time.sleep(0.05)
    assert busy, "no worker ever started a night"
    os.kill(pids[next(iter(busy))], signal.SIGKILL)
    run.join(timeout=300)
    table = frame(box["result"].csv)
    assert (table.status == "ok").all() and len(table) == 3
    assert len(client.scheduler_info()["workers"]) == 1


def manifest_of(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["../../victim", "ABSOLUTE", "a/b", "a\\b", "..", ".hidden", "-rf"])
def test_manifest_names_must_be_plain_file_names(tmp_path, capsys, name):
    if name == "ABSOLUTE":
        name = str(tmp_path / "victim")
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    victims = [tmp_path / "victim.csv", tmp_path / f"victim{RECORD_SUFFIX}"]
    for victim in victims:
        victim.write_text("precious")
    manifest = manifest_of(top / "m.csv", [{"path": "fine.edf"}, {"path": "missing.edf", "name": name}])
    with pytest.raises(StqsError, match=r"line 3: .*name"):
        read_manifest(manifest)
    out = top / "a" / "b"
    assert main(["score", "--manifest", str(manifest), "--out", str(out), "--model", MODEL, "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "line 3" in err
    assert [v.read_text() for v in victims] == ["precious", "precious"]  # a missing input deletes nothing
    assert not list(out.iterdir())


def test_every_output_lies_inside_the_output_folder(tmp_path):
    out = tmp_path / "out"
    for name in ["../victim", str(tmp_path / "victim"), "a\0b"]:
        with pytest.raises(OutputError, match="inside the output folder"):
            check_outputs([Night(tmp_path / "n.edf", name)], out, "csv")
    out.mkdir()
    (out / "link.csv").symlink_to(tmp_path / "elsewhere.csv")  # resolved: the write would land outside
    with pytest.raises(OutputError, match="inside the output folder"):
        check_outputs([Night(tmp_path / "n.edf", "link")], out, "csv")


def test_a_failed_rescore_keeps_the_earlier_outputs(nights, tmp_path):
    folder = copy_nights(nights, tmp_path / "edf")
    out = tmp_path / "out"
    score_cohort(folder / "night0.edf", out, MODEL, workers=1, progress=False)
    before = [(out / f"night0{s}").read_bytes() for s in (".csv", RECORD_SUFFIX)]
    (folder / "night0.edf").rename(tmp_path / "moved.edf")  # missing now: an error row, the outputs stay
    result = score_cohort(folder / "night0.edf", out, MODEL, workers=1, progress=False)
    assert result.rows[0]["status"] == "error"
    assert [(out / f"night0{s}").read_bytes() for s in (".csv", RECORD_SUFFIX)] == before
    (tmp_path / "moved.edf").rename(folder / "night0.edf")  # back as it was: its outputs are still valid
    assert score_cohort(folder / "night0.edf", out, MODEL, workers=1, progress=False).n_skipped == 1


def test_a_recursive_glob_skips_the_output_folder_inside_it(nights, tmp_path):
    tree = tmp_path / "tree"
    (tree / "site").mkdir(parents=True)
    shutil.copy2(nights / "night0.edf", tree / "site" / "night0.edf")
    out = tree / "scored"
    pattern = str(tree / "**" / "*.edf")
    assert score_cohort(pattern, out, MODEL, workers=1, fmt="edf", progress=False).n_scored == 1
    again = score_cohort(pattern, out, MODEL, workers=1, fmt="edf", progress=False)  # out/night0.edf is no input
    assert (again.n_scored, again.n_skipped) == (0, 1)
    assert [n.path for n in collect_nights(pattern, exclude=out)] == [tree / "site" / "night0.edf"]
    flat = str(tree / "site" / "*.edf")  # --out the glob's own folder: its recordings are still found
    assert len(collect_nights(flat, exclude=tree / "site")) == 1


def test_names_starting_a_formula_are_text_in_the_table(tmp_path):
    names = ["=1+2", "+cmd", "@SUM(A1)", "plain"]
    manifest = manifest_of(tmp_path / "m.csv", [{"path": f"missing{i}.edf", "name": n} for i, n in enumerate(names)])
    result = score_cohort(manifest, tmp_path / "out", MODEL, workers=1, progress=False)
    assert frame(result.csv).name.tolist() == ["'=1+2", "'+cmd", "'@SUM(A1)", "plain"]
    assert [r["name"] for r in pd.read_json(result.json).nights] == names  # cohort.json keeps the text as it is


@pytest.mark.parametrize(
    "content", [b"path\nn\xe9e.edf\n", b"path\nn\x00.edf\n", bytes(range(256)) * 4], ids=["latin1", "nul", "binary"]
)
def test_an_unreadable_manifest_is_a_one_line_error(tmp_path, capsys, content):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(content)
    with pytest.raises(StqsError, match="UTF-8"):
        read_manifest(manifest)
    assert main(["score", "--manifest", str(manifest), "--out", str(tmp_path / "out"), "--model", MODEL]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_bad_scheduler_address_is_a_one_line_error(tmp_path, capsys):
    args = ["score", str(tmp_path / "missing.edf"), "--out", str(tmp_path / "out"), "--model", MODEL]
    assert main([*args, "--scheduler", "foo"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "tcp://" in err
    assert not (tmp_path / "out").exists()


def test_a_full_disk_while_writing_a_record_fails_only_that_night(nights, tmp_path, monkeypatch):
    write_text = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.startswith(f".night1{RECORD_SUFFIX}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    result = score_cohort(nights, tmp_path / "out", MODEL, workers=1, progress=False)
    assert [r["status"] for r in result.rows] == ["ok", "error", "ok"]
    assert "No space left" in result.rows[1]["error"]
    assert not (tmp_path / "out" / f"night1{RECORD_SUFFIX}").exists()


def test_the_worker_checks_it_sees_the_clients_files(nights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    night = Night(nights / "night0.edf", "night0")
    check_worker_paths(night, tmp_path, "csv")  # absolute paths it sees: fine
    with pytest.raises(OutputError, match="shared file system"):
        check_worker_paths(night, tmp_path / "not-here", "csv")
    with pytest.raises(StqsError, match="shared file system"):
        check_worker_paths(Night(tmp_path / "absent.edf", "absent"), tmp_path, "csv")
    with pytest.raises(OutputError, match="overwrite the input"):
        check_worker_paths(night, nights, "edf")


@pytest.mark.slow
def test_a_scheduler_gets_absolute_paths_from_the_client(nights, tmp_path, monkeypatch):
    from dask.distributed import LocalCluster

    (tmp_path / "worker").mkdir()
    client_dir = copy_nights(nights, tmp_path / "client")
    monkeypatch.chdir(tmp_path / "worker")  # the worker process starts here
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.chdir(client_dir)
        first = score_cohort("night[01].edf", "out", MODEL, scheduler=cluster.scheduler_address, progress=False)
        assert [r["status"] for r in first.rows] == ["ok", "ok"]
        assert sorted(p.name for p in (client_dir / "out").glob("*.csv")) == ["cohort.csv", "night0.csv", "night1.csv"]
        assert not list((tmp_path / "worker").iterdir())
        again = score_cohort("night[01].edf", "out", MODEL, scheduler=cluster.scheduler_address, progress=False)
        assert again.n_skipped == 2
