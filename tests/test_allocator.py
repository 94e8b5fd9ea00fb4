"""The malloc tuning: applied on glibc, skipped when the user opts out."""

import platform
import subprocess
import sys

import pytest

from stqs_core.allocator import keep_freed_memory, malloc_environment


def test_applied_on_glibc_linux(monkeypatch):
    monkeypatch.delenv("STQS_DEFAULT_MALLOC", raising=False)
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc


def test_opt_out_by_environment(monkeypatch):
    monkeypatch.setenv("STQS_DEFAULT_MALLOC", "1")
    assert keep_freed_memory() is False


def test_importing_the_library_leaves_malloc_alone(monkeypatch):
    """Only programs that own their process (the CLI, the dashboard, benchmarks) tune malloc, by calling it."""
    monkeypatch.delenv("STQS_DEFAULT_MALLOC", raising=False)
    code = (
        "import stqs_core, stqs_core.fastconv, stqs_core.model, stqs_core.scoring, stqs_core.allocator as a; "
        "print(a.tuned)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_kernels_of_the_notebook_runner_get_the_same_settings(monkeypatch):
    monkeypatch.delenv("STQS_DEFAULT_MALLOC", raising=False)
    env = malloc_environment()
    expected = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "268435456"}
    assert env == (expected if platform.system() == "Linux" else {})
    monkeypatch.setenv("STQS_DEFAULT_MALLOC", "1")
    assert malloc_environment() == {}


MMAPPED_BY_A_4_MB_MALLOC = """
import ctypes
libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblks
block = libc.malloc(4 << 20)
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(
    platform.system() != "Linux"
    or platform.libc_ver()[0] != "glibc"
    or tuple(map(int, platform.libc_ver()[1].split(".")[:2])) < (2, 33),
    reason="mallinfo2 needs glibc 2.33",
)
def test_a_process_started_with_the_environment_keeps_multi_mb_blocks_on_the_heap(monkeypatch):
    monkeypatch.delenv("STQS_DEFAULT_MALLOC", raising=False)

    def mmapped(env: dict[str, str]) -> str:
        run = subprocess.run([sys.executable, "-c", MMAPPED_BY_A_4_MB_MALLOC], env=env, capture_output=True, text=True)
        return run.stdout.strip()

    assert mmapped({}) == "1"  # glibc's default: a block this large is mapped, and unmapped when freed
    assert mmapped(malloc_environment()) == "0"
