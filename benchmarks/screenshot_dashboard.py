"""docs/dashboard.png: the dashboard on an 8-hour demo night with an occlusion band applied, in headless Chromium.

Serves ``dashboards/app.py`` with ``panel serve`` on a free localhost port, opens it at 1400 px wide with
``?band=11,16&modalities=eeg&epoch=300`` (spindle band removed from the EEG, an epoch selected), waits for the
page to settle and saves the whole page. Needs Debian's Chromium (``apt-get install -y chromium``).

    python benchmarks/screenshot_dashboard.py [--out docs/dashboard.png] [--query "hours=8&band=11,16"] [--tab NAME]
        [--pick STAGE]

docs/quiz.png: ``--query hours=8 --tab "Quiz: score it yourself" --pick N2 --out docs/quiz.png`` (the quiz tab,
one epoch answered N2: the answers and the evidence revealed).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from stqs_core.cli import dashboard_command

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--query", default="hours=8&band=11,16&modalities=eeg&epoch=300")
    parser.add_argument("--tab", help="open this tab before the screenshot, e.g. 'Time attribution'")
    parser.add_argument("--pick", help="in the quiz tab, answer this stage (e.g. N2) before the screenshot")
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(Path(tempfile.gettempdir()) / "stqs-screenshot-serve.log", "w")
    argv = ["--port", str(port), "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    cmd, env = dashboard_command(argv, app=ROOT / "dashboards" / "app.py")
    server = subprocess.Popen(
        cmd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.width, "height": 1000})
            start = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/app?{args.query}", timeout=300_000)
            page.wait_for_selector(".stqs-changed" if "modalities=" in args.query else ".stqs-summary", timeout=300_000)
            print(f"page ready in {time.perf_counter() - start:.1f} s")
            if args.tab:
                page.get_by_text(args.tab, exact=True).click()
            if args.pick:
                page.locator(".stqs-quiz-pick button", has_text=args.pick).click()
                page.wait_for_selector(".stqs-quiz-reveal", timeout=60_000)
            page.wait_for_timeout(6000)  # plots settle (Bokeh renders after the document is idle)
            height = page.evaluate(
                "() => Math.max(...[...document.querySelectorAll('#main, body')].map(e => e.scrollHeight))"
            )
            page.set_viewport_size({"width": args.width, "height": int(height) + 150})
            page.wait_for_timeout(3000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        print(f"wrote {args.out} ({args.width} x {height} px)")
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait_for_port(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"panel serve exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"panel serve did not listen on port {port} within {timeout} s")


if __name__ == "__main__":
    main()
