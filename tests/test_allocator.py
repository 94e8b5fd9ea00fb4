"""The malloc tuning: applied on glibc, skipped when the user opts out."""

import platform

from stqs_core.allocator import keep_freed_memory


def test_applied_on_glibc_linux(monkeypatch):
    monkeypatch.delenv("STQS_DEFAULT_MALLOC", raising=False)
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc


def test_opt_out_by_environment(monkeypatch):
    monkeypatch.setenv("STQS_DEFAULT_MALLOC", "1")
    assert keep_freed_memory() is False
