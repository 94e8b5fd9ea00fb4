"""Memory-allocator tuning for fast CPU inference and training.

PyTorch's CPU operations allocate a fresh output of several MB per call. By default glibc's ``malloc`` hands
blocks that large back to the operating system when they are freed and maps new ones on the next call, so
every convolution pays page faults and zero-filling for its output: on a 2-core machine that costs as much as
the arithmetic (the forward pass of an 8-hour night: 0.73 s with the defaults, 0.37 s with this tuning, see
``benchmarks/bench_model.py``). Importing ``stqs_core`` changes nothing process-wide: the programs that own their
process opt in by calling :func:`keep_freed_memory` (the ``stqs`` command, the dashboard server, the benchmarks),
and :func:`stqs_core.notebooks.run_chain` gives its notebook kernels the same settings through
:func:`malloc_environment`. A library user may call it too. The price: the process keeps up to 256 MB of freed
memory for reuse. Set the environment variable ``STQS_DEFAULT_MALLOC=1`` to leave ``malloc`` alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20

tuned = False
"""Whether :func:`keep_freed_memory` has changed this process's ``malloc`` settings."""


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap and keep up to ``trim_threshold`` bytes freed.

    Parameters
    ----------
    mmap_threshold : int
        Allocations of at least this many bytes are mapped from the operating system; smaller ones come from the heap.
    trim_threshold : int
        Freed heap memory (bytes) kept for reuse before glibc returns it.

    Returns
    -------
    bool
        True when glibc accepted the settings; False (and nothing changed) when ``STQS_DEFAULT_MALLOC`` is set, and
        on other C libraries (macOS, Windows, musl).
    """
    global tuned
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
    tuned = tuned or ok
    return ok


def malloc_environment() -> dict[str, str]:
    """The environment variables that give a new process the settings of :func:`keep_freed_memory`.

    Returns
    -------
    dict of str to str
        Variables glibc reads at process start; empty when ``STQS_DEFAULT_MALLOC`` is set or off Linux.
    """
    if os.environ.get("STQS_DEFAULT_MALLOC") or not sys.platform.startswith("linux"):
        return {}
    return {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
