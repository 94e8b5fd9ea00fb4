"""The Panel dashboard: its state in-process, then ``panel serve dashboards/app.py`` in a real browser.

The browser tests serve a 30-minute demo night (``STQS_DASHBOARD_HOURS=0.5``) and drive it with Playwright and
Debian's Chromium; they are skipped where /usr/bin/chromium or Playwright is absent (CI installs Chromium in
``.ci/run``).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from .conftest import CHECKPOINTS, need

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")

# Every Bokeh glyph of the page as [glyph type, {column: first value}, number of rows]: what the plots draw.
GLYPHS_JS = """() => {
  const out = [];
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values())
    if (m.glyph !== undefined && m.data_source !== undefined) {
      const data = m.data_source.data, first = {};
      for (const [k, v] of Object.entries(data)) first[k] = v.length ? v[0] : null;
      out.push([m.glyph.constructor.__name__, first, m.data_source.get_length()]);
    }
  return out;
}"""


@pytest.fixture
def dashboard():
    """A :class:`Dashboard` on a 12-minute demo night (24 epochs), as one browser session holds it."""
    sys.path.insert(0, str(ROOT / "dashboards"))
    import app

    return app.Dashboard(hours=0.2)


def test_opens_on_a_scored_demo_night(dashboard):
    assert len(dashboard.night.epochs) == 24 and dashboard.night.true is not None
    assert dashboard.original().shape == (24, 5)
    assert dashboard.alert.visible is False


@pytest.mark.parametrize("path, message", [("/nonexistent/night.edf", "does not exist"),
                                           ("", "give the path")])
def test_a_bad_recording_is_a_message_and_keeps_the_night(dashboard, path, message):
    night = dashboard.night
    dashboard.param.update(source="EDF file", edf_path=path)
    dashboard.load_night()
    assert dashboard.alert.visible and message in dashboard.alert.object
    assert dashboard.night is night


def test_missing_channels_are_a_message(dashboard, tmp_path, random_night):
    from stqs_core.recording import write_edf

    path = write_edf(tmp_path / "odd.edf", random_night(), ["A1", "A2", "A3", "A4", "A5"], 125)
    dashboard.param.update(source="EDF file", edf_path=str(path))
    dashboard.load_night()
    assert dashboard.alert.visible and "EEG" in dashboard.alert.object


def test_loads_an_edf_with_its_hypnogram(dashboard, edf_file):
    dashboard.param.update(source="EDF file", edf_path=str(edf_file), epoch=20)
    dashboard.load_night()
    assert not dashboard.alert.visible
    assert len(dashboard.night.epochs) == 8 and dashboard.night.true.tolist() == [0, 0, 1, 2, 2, 3, 4, -1]
    assert dashboard.epoch == 7  # clipped to the new night
    assert dashboard.night.recording.data.shape == (5, 4 * 60 * 125)  # the µV signals for the epoch viewer


def test_loads_an_upload(dashboard, edf_file):
    dashboard.upload_input.param.update(value=edf_file.read_bytes(), filename="upload.edf")
    dashboard.source = "upload"
    dashboard.load_night()
    assert not dashboard.alert.visible
    assert dashboard.night.name == "upload" and len(dashboard.night.epochs) == 8


def test_loads_a_recording_of_an_hdf5_store(dashboard, tmp_path):
    from stqs_core import EpochStore

    rng = np.random.default_rng(0)
    with EpochStore(tmp_path / "store.h5", "w") as store:
        store.append("a", rng.standard_normal((3, 5, 3750)).astype(np.float32), np.array([0, 1, 2]))
        store.append("b", rng.standard_normal((6, 5, 3750)).astype(np.float32), np.array([2, 2, 3, 3, 4, -1]))
    dashboard.param.update(source="HDF5 store", store_path=str(tmp_path / "store.h5"), store_recording="b")
    dashboard.load_night()
    assert not dashboard.alert.visible
    assert len(dashboard.night.epochs) == 6 and dashboard.night.true.tolist() == [2, 2, 3, 3, 4, -1]
    assert dashboard.night.recording is None  # the epoch viewer shows z-scored epochs
    dashboard.store_recording = "c"
    dashboard.load_night()
    assert dashboard.alert.visible and "no recording 'c'" in dashboard.alert.object


def test_a_published_checkpoint_by_path(dashboard):
    path = need(CHECKPOINTS / "model2d_shhs1_4692_5213_allCh_cnn.tar")
    dashboard.model_path = str(path)
    dashboard.load_night()
    assert dashboard.model_key == str(path) and dashboard.original().shape == (24, 5)


def test_url_settings():
    sys.path.insert(0, str(ROOT / "dashboards"))
    from app import url_settings

    args = {"hours": [b"1.5"], "band": [b"8,12"], "modalities": [b"eeg,emg"], "epoch": [b"7"], "mode": [b"pass"]}
    assert url_settings(args, environ={}) == {"hours": 1.5, "band": (8.0, 12.0), "modalities": ["eeg", "emg"],
                                              "epoch": 7, "mode": "pass"}
    assert url_settings({}, environ={"STQS_DASHBOARD_HOURS": "2"}) == {"hours": 2.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def server(tmp_path_factory):
    """``panel serve dashboards/app.py`` on a free localhost port, serving a 30-minute demo night.

    Started first (autouse) and warmed by one GET in a thread (the night is simulated and scored once per
    server), so that it gets ready while the in-process tests run. None where the browser tests cannot run.
    """
    if not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None:
        yield None
        return
    port = _free_port()
    env = {**os.environ, "STQS_DASHBOARD_HOURS": "0.5"}
    cmd = [sys.executable, "-m", "panel", "serve", str(ROOT / "dashboards" / "app.py"), "--port", str(port),
           "--address", "127.0.0.1", f"--allow-websocket-origin=127.0.0.1:{port}", "--log-level", "warning"]
    log = tmp_path_factory.mktemp("dashboard") / "serve.log"
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/app"
    warm = threading.Thread(target=_warm_up, args=(port, url, proc), daemon=True)
    warm.start()
    yield {"url": url, "proc": proc, "log": log, "warm": warm}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _warm_up(port: int, url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait for the server's port, then GET the page once (its caches fill: later sessions are quick)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url, timeout=max(deadline - time.monotonic(), 1)).read()


@pytest.fixture(scope="module")
def page(server):
    """One browser page on the dashboard, loaded; ``page.errors`` collects console errors and page errors."""
    if server is None:
        pytest.skip("needs /usr/bin/chromium (apt-get install -y chromium) and playwright (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    server["warm"].join(timeout=150)
    if server["proc"].poll() is not None:
        pytest.fail(f"panel serve exited:\n{server['log'].read_text()}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(server["url"], timeout=90_000)
        page.wait_for_selector(".stqs-changed", timeout=90_000)
        yield page
        browser.close()


def _changed_in_hypnogram(page) -> int:
    """Rows of the hypnogram's 'changed epochs' markers (the only Scatter glyph on the page)."""
    return [n for kind, _, n in page.evaluate(GLYPHS_JS) if kind == "Scatter"][0]


def _epoch_viewer_starts(page) -> set[float]:
    """First time (s) drawn by each channel of the epoch viewer (plots replaced may linger in the page)."""
    return {first["time (s)"] for kind, first, _ in page.evaluate(GLYPHS_JS) if kind == "Line" and "row 0" in first}


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_loads_without_console_errors(page):
    assert page.locator("text=60 epochs").count() == 1  # the 30-minute night of STQS_DASHBOARD_HOURS
    assert page.locator("text=Cohen's kappa").count() >= 1  # the demo night has its true hypnogram
    changed = int(page.locator(".stqs-changed").get_attribute("data-changed"))
    assert _changed_in_hypnogram(page) == changed
    assert page.errors == []


def test_occlusion_slider_rescores_the_night(page):
    before = page.locator(".stqs-changed").get_attribute("data-changed")
    handle = page.locator(".noUi-handle-upper")  # the band slider's upper handle (16 Hz), the only range slider
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 400, box["y"] + box["height"] / 2, steps=8)  # past the end: 12-30 Hz removed
    page.mouse.up()
    assert _wait_for(lambda: page.locator("text=12-30 Hz removed").count() == 1)
    after = page.locator(".stqs-changed").get_attribute("data-changed")
    assert after != before
    assert _wait_for(lambda: _changed_in_hypnogram(page) == int(after))
    assert page.errors == []


def test_epoch_selection_updates_the_viewer(page):
    assert _epoch_viewer_starts(page) == {0.0}  # epoch 0 and its right neighbour
    epoch_input = page.locator(".stqs-epoch-input input")
    epoch_input.fill("20")
    epoch_input.press("Enter")
    assert _wait_for(lambda: page.locator("[data-epoch='20']").count() == 1)
    assert _wait_for(lambda: 19 * 30.0 in _epoch_viewer_starts(page))  # epochs 19-21 in µV
    canvas = page.locator("canvas").first  # the hypnogram; a click selects the epoch under the pointer
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    assert _wait_for(lambda: page.locator("[data-epoch='20']").count() == 0)
    selected = int(page.locator(".stqs-epoch").get_attribute("data-epoch"))
    assert 5 < selected < 55  # about the middle of the night
    assert page.errors == []
