"""Dashboard latency, server side: from the occlusion slider's release to the updated hypnogram, 8-hour night.

Builds the dashboard's page into a Bokeh document (as `panel serve` does for a session) on a simulated 8-hour
demo night (960 epochs), then sets the occlusion band as the slider's release does and times, for bands not
seen before (no cache hit):

- ``rescore callback``: the call that recomputes the occluded stages (``sources.occluded_stages``, i.e.
  ``stqs_core.interpret.frequency_occlusion``, only the occluded modality's CNN block recomputed);
- ``slider release``: everything the release triggers, synchronously: re-scoring, the HoloViews hypnogram and its Bokeh
  models updated in place, the summary (changed epochs, kappa, stage-share table and bars) rebuilt.

Goal: release <= 1.5 s on 2 cores. Also times the one-off work per night and model (simulate + preprocess,
scoring, the first occlusion that caches the night's features) and the first page build.

    python benchmarks/bench_dashboard.py [--hours 8] [--repeats 6]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboards"))

BANDS = [(12.0, 16.0), (8.0, 12.0), (0.5, 4.0), (4.0, 8.0), (16.0, 30.0), (11.0, 15.0), (2.0, 6.0), (20.0, 25.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=6, help="bands timed (each new: no cache hit)")
    args = parser.parse_args()

    import torch
    from bokeh.document import Document

    start = time.perf_counter()
    import app
    import panel as pn
    import sources

    print(f"import of the app: {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    night = sources.demo_night(args.hours, 0)
    print(f"demo night: {len(night.epochs)} epochs simulated and preprocessed in {time.perf_counter() - start:.2f} s")
    key, warning = sources.default_model()
    print(f"model: {sources.model_label(key)}" + (f" ({warning})" if warning else ""))
    start = time.perf_counter()
    sources.probabilities(night, key)
    print(f"original probabilities: {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    dash = app.Dashboard(hours=args.hours)  # the cached night and probabilities: as a new session would
    page = pn.Row(dash.controls(), dash.main())
    page.get_root(Document())
    print(
        f"first page build (incl. the first occlusion, which caches the night's CNN features): "
        f"{time.perf_counter() - start:.2f} s"
    )

    rescore, release, release_fresh = [], [], []
    for band in BANDS[1 : args.repeats + 1]:
        with _timer(rescore):
            sources.occluded_stages(night, dash.model_key, band, ("eeg",), "stop")
        with _timer(release):
            dash.band = band  # what the slider's value_throttled does on release (re-scoring cached)
    for band in BANDS[1 : args.repeats + 1]:
        with _timer(release_fresh):
            dash.band = (band[0] + 0.5, band[1])  # a new band: re-scoring included

    print(
        f"\n{len(night.epochs)}-epoch night, band-stop on EEG, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f} (wall s, with this process's CPU s):"
    )
    print(_line("rescore callback", rescore))
    print(_line("render only (cached rescore: HoloViews/Bokeh update + summary)", release))
    print(_line("slider release -> updated hypnogram (rescore + render)", release_fresh))
    median = statistics.median(wall for wall, _ in release_fresh)
    print(f"goal <= 1.5 s: {'met' if median <= 1.5 else 'missed'} (median wall {median:.2f} s)")


@contextlib.contextmanager
def _timer(into: list):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append((time.perf_counter() - wall, time.process_time() - cpu))


def _line(name: str, values: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in values], [c for _, c in values]
    return (
        f"{name}: median {statistics.median(walls):.3f} s (CPU {statistics.median(cpus):.3f} s), "
        f"max {max(walls):.3f} s, n={len(values)}"
    )


if __name__ == "__main__":
    main()
