"""Served dashboard under several visitors: time to the first hypnogram, and the server's memory.

Starts ``panel serve`` on an app (this checkout's ``dashboards/app.py`` by default, or another checkout's, to
compare) and drives it with Playwright in Debian's Chromium (``/usr/bin/chromium``):

- one session: one page; seconds from opening the page to its first hypnogram (the summary's changed-epoch
  count shown);
- ``--sessions`` pages opened at once on the same night; each page's seconds;

each on a fresh server (the app imported and the night simulated, preprocessed and scored on the way), then on a
server where an earlier page has read the night already;
- ``requests``: one server, ``--requests`` pages opened one after the other, each on a new night
  (``?seed=N``), each closed once its hypnogram is shown; the server's resident memory (VmRSS) after each, and
  its peak (VmHWM).

    python benchmarks/bench_dashboard_sessions.py [--hours 8] [--sessions 5] [--requests 0] [--app PATH]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from stqs_core.cli import dashboard_command

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
READY = ".stqs-changed"
"""Shown with the summary under the hypnogram, once the night is scored and occluded."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, default=ROOT / "dashboards" / "app.py")
    parser.add_argument("--hours", type=float, default=8.0, help="length of the demo night (h)")
    parser.add_argument("--sessions", type=int, default=5, help="pages opened at once (0: skip)")
    parser.add_argument("--requests", type=int, default=0, help="pages on new nights one after the other")
    parser.add_argument("--timeout", type=float, default=600.0, help="per page (s)")
    args = parser.parse_args()
    print(f"app {args.app}, {args.hours:g}-h demo night, load average {os.getloadavg()[0]:.1f}")
    if args.sessions:
        for warm in (False, True):
            with serve(args.app, args.hours) as (url, _):
                if warm:  # the app imported and the night read by an earlier visitor
                    open_pages(url, 1, args.timeout)
                single = open_pages(url, 1, args.timeout)[0]
            with serve(args.app, args.hours) as (url, _):
                if warm:
                    open_pages(url, 1, args.timeout)
                times = open_pages(url, args.sessions, args.timeout)
            print(
                f"{'night already read' if warm else 'fresh server'}: one session {single:.1f} s; "
                f"{args.sessions} sessions at once "
                + ", ".join(f"{t:.1f}" for t in times)
                + f" s (slowest {max(times) / single:.2f}x the single session)",
                flush=True,
            )
    if args.requests:
        with serve(args.app, args.hours) as (url, proc):
            print(f"server memory at start: {memory(proc.pid)}")
            for seed in range(1, args.requests + 1):
                took = open_pages(f"{url}?seed={seed}", 1, args.timeout)[0]
                print(f"request {seed} (?seed={seed}): {took:.1f} s, then {memory(proc.pid)}", flush=True)
            time.sleep(5)
            print(f"5 s after the last request: {memory(proc.pid)}")


@contextmanager
def serve(app: Path, hours: float):
    """``panel serve app`` on a free port, ``(url, process)`` once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["--port", str(port), "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    cmd, env = dashboard_command([*argv, "--hours", str(hours)], app=app)
    env["PYTHONPATH"] = str(app.resolve().parents[1])  # that checkout's stqs_core
    cmd += ["--log-level", "warning"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None:
                        log.seek(0)
                        raise RuntimeError(f"panel serve exited:\n{log.read().decode()}") from None
                    time.sleep(0.3)
            yield f"http://127.0.0.1:{port}/{app.stem}", proc
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def open_pages(url: str, n: int, timeout: float) -> list[float]:
    """Open ``n`` pages on ``url`` at once, each in its own browser context; seconds to each first hypnogram."""
    from playwright.sync_api import sync_playwright

    times: list[float] = [float("nan")] * n
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(n)]
        start = time.perf_counter()
        for page in pages:  # navigation returns once the HTML is there; the sessions then run side by side
            page.goto(url, wait_until="commit", timeout=timeout * 1000)
        waiting = set(range(n))
        while waiting and time.perf_counter() - start < timeout:
            for i in sorted(waiting):
                if pages[i].locator(READY).count():
                    times[i] = time.perf_counter() - start
                    waiting.discard(i)
            pages[0].wait_for_timeout(100)  # lets Playwright process the pages' events
        browser.close()
    return times


def memory(pid: int) -> str:
    """The process's resident memory and its peak, from ``/proc/PID/status``."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rss, peak = (int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    return f"VmRSS {rss:.0f} MB (peak VmHWM {peak:.0f} MB)"


if __name__ == "__main__":
    main()
