"""Occlusion speed on this machine's CPU: a full frequency sweep of an 8-hour night and time occlusion of one epoch.

Run: python benchmarks/bench_interpret.py [--epochs 960] [--repeats 3]
Uses the published SHHS oversampling checkpoints where ../shared is present, else freshly initialised networks
(same cost). The unoccluded pass of the night (:class:`~stqs_core.interpret.BaselinePass`: features,
probabilities, LSTM states) is timed alone and within a sweep that makes its own; the other analyses share one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from stqs_core import STQS, STQSConfig, load_model
from stqs_core.allocator import keep_freed_memory
from stqs_core.interpret import BaselinePass, frequency_occlusion, modality_importance, occlude_band, time_occlusion

CHECKPOINTS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "stqs_shhs_checkpoints"
STEMS = {
    "cnn": "model2d_shhs1_4692_5213_allCh_oversampling_cnn",
    "cnnlstm": "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info",
}


def timed(fn, repeats: int) -> str:
    """Median and minimum wall time, and median CPU time of this process (less sensitive to other load)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return f"wall median {np.median(wall):.3f} s, min {min(wall):.3f} s; CPU {np.median(cpu):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=960)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.epochs, 5, 3750)).astype(np.float32)
    labels = rng.integers(0, 5, args.epochs)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs")
    print(f"occlude_band, all 5 rows: {timed(lambda: occlude_band(x, (8.0, 12.0)), args.repeats)}")
    for variant, stem in STEMS.items():
        path = CHECKPOINTS / f"{stem}.tar"
        model = load_model(path) if path.exists() else STQS(STQSConfig(variant=variant)).eval()
        model.predict_logits(x[:64])  # warm-up: the first call builds oneDNN kernels
        print(f"{variant} unoccluded pass (BaselinePass): {timed(lambda: BaselinePass(model, x), args.repeats)}")
        print(
            f"{variant} frequency sweep making its own unoccluded pass: "
            f"{timed(lambda: frequency_occlusion(model, x, labels), 1)}"
        )
        base = BaselinePass(model, x)
        print(
            f"{variant} frequency sweep 5 bands x 3 modalities: "
            f"{timed(lambda: frequency_occlusion(model, x, labels, baseline=base), args.repeats)}"
        )
        print(
            f"{variant} modality importance (7 subsets): "
            f"{timed(lambda: modality_importance(model, x, labels, baseline=base), args.repeats)}"
        )
        index = args.epochs // 2 + 3
        for window, stride in ((5.0, 1.0), (1.0, 0.25)):
            result = timed(
                lambda: time_occlusion(model, x, index, window_s=window, stride_s=stride, baseline=base), args.repeats
            )
            print(f"{variant} time occlusion of one epoch, {window:g}-s windows every {stride:g} s: {result}")


if __name__ == "__main__":
    keep_freed_memory()
    main()
