"""The malloc tuning: applied on glibc, skipped when the user opts out."""

import platform
import subprocess
import sys

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
