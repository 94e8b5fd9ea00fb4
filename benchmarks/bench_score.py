"""`stqs score` of an 8-hour 125 Hz EDF, process start to CSV written, next to YASA's SleepStaging on the same file.

Run: python benchmarks/bench_score.py [--repeats 3] [--model NAME_OR_PATH]
Each run is a fresh process (imports included), timed from outside; peak memory is the child's max RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stqs_core.simulate import simulate_night

YASA = """
import sys, mne, yasa
raw = mne.io.read_raw_edf(sys.argv[1], preload=True, verbose="error")
yasa.SleepStaging(raw, eeg_name="EEG C4-A1", eog_name="EOG E1-M2", emg_name="EMG chin").predict()
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="model for stqs score (default: the shipped default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        edf = Path(tmp) / "night.edf"
        simulate_night(hours=8, seed=1).write_edf(edf)
        score = [sys.executable, "-m", "stqs_core.cli", "score", str(edf), "--out", str(Path(tmp) / "h.csv")]
        score += ["--model", args.model] if args.model else []
        ours = [timed(score) for _ in range(args.repeats)]
        try:
            import yasa  # noqa: F401
        except ImportError:
            yasa_times = None
        else:
            yasa_times = [timed([sys.executable, "-c", YASA, str(edf)])[0] for _ in range(args.repeats)]
    t_ours = float(np.median([t for t, _ in ours]))
    print(
        f"stqs score, 8-h EDF -> CSV: median {t_ours:.2f} s over {args.repeats} runs "
        f"(min {min(t for t, _ in ours):.2f} s), peak memory {max(m for _, m in ours):.0f} MB"
    )
    if yasa_times is None:
        print("YASA not installed (pip install -e '.[bench]'): no comparison")
    else:
        t_yasa = float(np.median(yasa_times))
        print(f"YASA SleepStaging, same EDF: median {t_yasa:.2f} s; stqs is {t_yasa / t_ours:.1f}x faster")


if __name__ == "__main__":
    main()
