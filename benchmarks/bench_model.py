"""Forward pass of a 960-epoch (8-hour) night through each STQS variant on this machine's CPU.

Run: [STQS_DEFAULT_MALLOC=1] python benchmarks/bench_model.py [--epochs 960] [--repeats 5]
Uses the published SHHS checkpoints where ../shared is present, else freshly initialised networks (same cost).
``STQS_DEFAULT_MALLOC=1`` leaves glibc's malloc untuned (see :mod:`stqs_core.allocator`), for comparison.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from stqs_core import STQS, STQSConfig, load_model
from stqs_core.allocator import keep_freed_memory

CHECKPOINTS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "stqs_shhs_checkpoints"
STEMS = {
    "cnn": "model2d_shhs1_4692_5213_allCh_oversampling_cnn",
    "cnnlstm": "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info",
    "cnnlstm-residual": "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info_residual_con",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=960)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((args.epochs, 5, 3750)).astype(np.float32)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs, "
        f"malloc {'keeps freed memory' if keep_freed_memory() else 'defaults'}"
    )
    for variant, stem in STEMS.items():
        path = CHECKPOINTS / f"{stem}.tar"
        model = load_model(path) if path.exists() else STQS(STQSConfig(variant=variant)).eval()
        model.predict_logits(x)  # warm-up: oneDNN builds its kernels, the heap grows to its working size
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.predict_logits(x)
            times.append(time.perf_counter() - start)
        print(
            f"{variant:17s} median {np.median(times):.3f} s  min {min(times):.3f} s  "
            f"({args.epochs / np.median(times):.0f} epochs/s)"
        )


if __name__ == "__main__":
    main()
