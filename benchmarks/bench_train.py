"""Training speed of the CNN stage (stage 1): training epochs (30-s samples) per second, 2 torch threads.

    [STQS_DEFAULT_MALLOC=1] python benchmarks/bench_train.py [--nights 6] [--epochs-per-night 400] [--threads 2]

Builds a throw-away store of random epochs, then times one pass of the real stage-1 loop (``stqs_core.training``:
batching from the store, forward, backward, Adam step) for the cached and the streamed (HDF5) read path, and the
bare forward+backward+step of the network on one in-memory batch, through the plain ``nn`` layers and through
:mod:`stqs_core.fastconv` (what the model runs). ``STQS_DEFAULT_MALLOC=1`` leaves glibc's malloc untuned (see
:mod:`stqs_core.allocator`). Numbers depend on the load of the machine: run it on an idle one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stqs_core import STQS, EpochStore, STQSConfig
from stqs_core.allocator import keep_freed_memory
from stqs_core.training import TrainConfig, train


def make_store(path: Path, nights: int, n_epochs: int) -> Path:
    rng = np.random.default_rng(0)
    with EpochStore(path, "w") as store:
        for i in range(nights):
            store.append(
                f"n{i}",
                rng.standard_normal((n_epochs, 5, 3750), dtype=np.float32),
                rng.integers(0, 5, n_epochs).astype(np.int8),
            )
    return path


def bare_step_rate(batch_size: int, plain: bool, seconds: float = 10.0) -> float:
    """Epochs/s of forward + backward + Adam step on one in-memory batch.

    ``plain``: the modality blocks through their plain ``nn`` layers instead of :mod:`stqs_core.fastconv`.
    """
    torch.manual_seed(0)
    model = STQS(STQSConfig(variant="cnn")).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x, y = torch.randn(batch_size, 5, 3750), torch.randint(0, 5, (batch_size,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model.classify(model.features(x, reference=plain)), y).backward()
        opt.step()

    step()
    n, tic = 0, time.perf_counter()
    while time.perf_counter() - tic < seconds:
        step()
        n += batch_size
    return n / (time.perf_counter() - tic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=6)
    parser.add_argument("--epochs-per-night", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch threads: {torch.get_num_threads()}, batch {args.batch_size}, "
        f"malloc {'keeps freed memory' if keep_freed_memory() else 'defaults'}"
    )
    for plain in (True, False, True, False):  # interleaved: the load of a shared machine drifts
        print(
            f"bare forward+backward+Adam step, {'plain nn layers' if plain else 'stqs_core.fastconv'}: "
            f"{bare_step_rate(args.batch_size, plain):.0f} epochs/s"
        )
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp) / "bench.h5", args.nights, args.epochs_per_night)
        for label, cache in (("cached", 1 << 30), ("streamed from HDF5", 0)):
            config = TrainConfig(
                variant="cnn",
                imbalance="none",
                epochs=1,
                batch_size=args.batch_size,
                fractions=(0.8, 0.2, 0.0),
                cache_bytes=cache,
            )
            result = train(store, Path(tmp) / "m.pt", config, progress=False)
            row = result.history[0]
            print(
                f"stage-1 loop, {label}: {row['n_train']} epochs in {row['seconds']:.1f} s = "
                f"{row['epochs_per_s']:.0f} epochs/s"
            )


if __name__ == "__main__":
    main()
