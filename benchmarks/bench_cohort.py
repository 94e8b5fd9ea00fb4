"""Cohort throughput: (a) one process scoring a cohort (imports and model loading paid once) vs YASA's SleepStaging
looping over the same EDFs, per night and peak memory; (b) two local Dask workers vs one process, warmed up.

Run: python benchmarks/bench_cohort.py [--nights 4] [--hours 8] [--no-yasa]
The nights are two simulated nights (seeds 1 and 2, 125 Hz) copied to ``--nights`` files. (a) times child processes
from outside (process start to cohort.csv), divided by the number of nights; wall and CPU time (CPU time is the
steadier figure on a shared machine). (b) times ``score_cohort`` in this
process: one process with torch's default threads (all cores; its loop over the nights, imports left out) against
a LocalCluster of two single-threaded workers (what ``stqs score --workers 2`` starts), warmed up: torch imported
and the model loaded.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stqs_core.cohort import score_cohort
from stqs_core.simulate import simulate_night

ROOT = Path(__file__).resolve().parents[1]
MODEL = "stqs-cnnlstm-sim"
STQS = """
import sys, time
from stqs_core.allocator import keep_freed_memory
from stqs_core.cohort import score_cohort
keep_freed_memory()
start = time.perf_counter()
score_cohort(sys.argv[1], sys.argv[2], workers=1, progress=False)
print(time.perf_counter() - start)
"""
YASA = """
import sys, pathlib, time, mne, yasa
start = time.perf_counter()
for edf in sorted(pathlib.Path(sys.argv[1]).glob("*.edf")):
    raw = mne.io.read_raw_edf(edf, preload=True, verbose="error")
    yasa.SleepStaging(raw, eeg_name="EEG C4-A1", eog_name="EOG E1-M2", emg_name="EMG chin").predict()
print(time.perf_counter() - start)
"""


def child(code: str, *args: str) -> tuple[float, float, float, float]:
    """Wall time (s), CPU time (s, user + system), peak RSS (MB) of one child process running ``code``, and the
    seconds it prints (its loop over the nights, imports left out)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    printed = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, code)
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, float(printed.split()[-1])


def load_model_once(model: str) -> None:
    """Load ``model`` into this process's model cache, as a worker's first night does."""
    from stqs_core.cohort import _cached_model, _model_key

    _cached_model(*_model_key(model)[0])


def timed_cohort(folder: Path, out: Path, **kwargs) -> float:
    start = time.perf_counter()
    result = score_cohort(folder, out, MODEL, progress=False, **kwargs)
    elapsed = time.perf_counter() - start
    assert not result.failed, result.failed
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=4, help="nights in the cohort (default 4)")
    parser.add_argument("--hours", type=float, default=8.0, help="length of each night (default 8)")
    parser.add_argument("--no-yasa", action="store_true", help="skip the YASA comparison")
    parser.add_argument("--part", choices=["a", "b", "both"], default="both", help="run only (a) or (b)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, warm = tmp / "edf", tmp / "warm"
        folder.mkdir()
        for seed in (1, 2):
            simulate_night(hours=args.hours, seed=seed).write_edf(tmp / f"seed{seed}.edf")
        for i in range(args.nights):
            shutil.copy(tmp / f"seed{1 + i % 2}.edf", folder / f"night{i:02d}.edf")
        for i in range(2):
            simulate_night(hours=0.25, seed=i).write_edf(warm / f"w{i}.edf")
        label = f"{args.nights} nights of {args.hours:g} h"

        if args.part != "b":
            one_process(folder, tmp, label, args.nights, yasa=not args.no_yasa)
        if args.part != "a":
            two_workers(folder, warm, tmp, label)


def one_process(folder: Path, tmp: Path, label: str, n: int, yasa: bool) -> None:
    """(a): per-night wall and CPU time and peak memory of a cohort in one process, stqs and YASA."""
    t_ours, cpu_ours, mem_ours, loop_ours = child(STQS, str(folder), str(tmp / "a"))
    print(
        f"(a) one process, {label}: {t_ours / n:.2f} s per night ({cpu_ours / n:.2f} CPU-s; "
        f"{loop_ours / n:.2f} s without the imports), peak memory {mem_ours:.0f} MB"
    )
    if yasa:
        t_yasa, cpu_yasa, mem_yasa, loop_yasa = child(YASA, str(folder))
        print(
            f"    YASA SleepStaging, same EDFs in one process: {t_yasa / n:.2f} s per night ({cpu_yasa / n:.2f} "
            f"CPU-s; {loop_yasa / n:.2f} s without the imports), peak memory {mem_yasa:.0f} MB; stqs is "
            f"{t_yasa / t_ours:.1f}x faster per night ({cpu_yasa / cpu_ours:.1f}x in CPU time, "
            f"{loop_yasa / loop_ours:.1f}x without the imports)"
        )


def two_workers(folder: Path, warm: Path, tmp: Path, label: str) -> None:
    """(b): one process (imports left out) against two warmed-up local Dask workers."""
    from dask.distributed import Client, LocalCluster

    t_one = child(STQS, str(folder), str(tmp / "b1"))[3]  # a fresh process, as in (a), imports left out
    start = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        address = cluster.scheduler_address
        client.run(load_model_once, MODEL)  # each worker imports torch and loads the model
        timed_cohort(warm, tmp / "w2", scheduler=address)
        startup = time.perf_counter() - start
        t_two = timed_cohort(folder, tmp / "b2", scheduler=address)
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(
        f"(b) {label}: one process {t_one:.1f} s, two Dask workers {t_two:.1f} s: "
        f"{t_one / t_two:.2f}x (cluster start and warm-up {startup:.1f} s, not counted); "
        f"worker peak memory {', '.join(f'{m:.0f}' for m in peaks.values())} MB"
    )


if __name__ == "__main__":
    main()
