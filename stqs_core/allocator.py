"""Memory-allocator tuning for fast CPU inference and training.

PyTorch's CPU operations allocate a fresh output of several MB per call. By default glibc's ``malloc`` hands
blocks that large back to the operating system when they are freed and maps new ones on the next call, so
every convolution pays page faults and zero-filling for its output: on a 2-core machine that costs as much as
the arithmetic (the forward pass of an 8-hour night: 0.73 s with the defaults, 0.37 s with this tuning, see
``benchmarks/bench_model.py``). :mod:`stqs_core.fastconv` therefore calls :func:`keep_freed_memory` when it is
first imported, i.e. as soon as a model exists. The price: the process keeps up to 256 MB of freed memory for
reuse. Set the environment variable ``STQS_DEFAULT_MALLOC=1`` to leave ``malloc`` alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap and keep up to ``trim_threshold`` bytes freed.

    Returns ``True`` when glibc accepted the settings; ``False`` (and changes nothing) when
    ``STQS_DEFAULT_MALLOC`` is set, and on other C libraries (macOS, Windows, musl).
    """
    if os.environ.get("STQS_DEFAULT_MALLOC") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    logger.debug(
        "glibc malloc: mmap threshold %d B, trim threshold %d B: %s",
        mmap_threshold,
        trim_threshold,
        "set" if ok else "refused",
    )
    return ok
