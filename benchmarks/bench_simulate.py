"""Time the simulator: one 8-hour night at 125 Hz (goal <= 5 s on 2 cores), its EDF writing and preprocessing.

Run: ``python benchmarks/bench_simulate.py [--repeats 3] [--hours 8]``. Prints the best and median of the repeats.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from stqs_core import make_epochs
from stqs_core.simulate import sample_hypnogram, simulate_night


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args()
    simulate_night(np.zeros(4, int))  # warm-up: imports, FFT plans
    rows = []
    t, _ = timed(lambda: sample_hypnogram(args.hours, seed=0), args.repeats)
    rows.append(("sample_hypnogram", t))
    t, night = timed(lambda: simulate_night(hours=args.hours, seed=0), args.repeats)
    rows.append((f"simulate_night {args.hours:g} h @125 Hz", t))
    with tempfile.TemporaryDirectory() as tmp:
        t, _ = timed(lambda: night.write_edf(Path(tmp) / "night.edf"), args.repeats)
        rows.append(("write_edf (EDF+ with stages)", t))
        size = (Path(tmp) / "night.edf").stat().st_size / 1e6
    rec = night.recording
    t, _ = timed(lambda: make_epochs(rec.data, rec.sfreq), args.repeats)
    rows.append(("make_epochs of that night", t))
    print(
        f"{len(night.stages)} epochs, {len(night.events)} events, EDF {size:.0f} MB; "
        f"{args.repeats} repeats (machine shared with other jobs: timings are noisy)"
    )
    for name, times in rows:
        print(f"{name:<36} best {min(times):6.2f} s   median {np.median(times):6.2f} s")


if __name__ == "__main__":
    main()
