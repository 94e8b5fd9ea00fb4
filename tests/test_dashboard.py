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
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import holoviews as hv
import numpy as np
import pytest
import torch

from .conftest import CHECKPOINTS, SHHS_NAMES, need

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dashboards"))  # the dashboard's modules: app, sources, views
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

    dash = app.Dashboard(hours=0.2)
    yield dash
    dash.close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A data folder the operator allowed (``stqs dashboard --data-dir``), inside ``tmp_path``."""
    import sources

    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv(sources.DATA_DIRS_ENV, str(folder))
    return folder


def test_opens_on_a_scored_demo_night(dashboard):
    assert len(dashboard.night.epochs) == 24 and dashboard.night.true is not None
    assert dashboard.original().shape == (24, 5)
    assert dashboard.alert.visible is False


def test_adapting_rescores_with_a_copy_and_leaves_the_shared_model_alone(dashboard):
    import sources

    base = dashboard.model_key
    shared = sources.get_model(base)
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    original = dashboard.original()
    dashboard.adapt = True  # re-reads the night in place (not served: at once)
    assert dashboard.model_key == base + sources.ADAPTED
    assert "adapted to the night" in dashboard.summary()[0][0].object  # the summary text, above the statistics
    adapted = dashboard.original()
    assert adapted.shape == original.shape and np.abs(adapted - original).max() > 1e-3
    assert all(torch.equal(before[k], v) for k, v in shared.state_dict().items())  # the cached model is unchanged
    dashboard.adapt = False
    np.testing.assert_array_equal(dashboard.original(), original)


def test_sleep_statistics_beside_the_hypnogram(dashboard):
    from stqs_core.sleepstats import sleep_statistics

    table = dashboard.summary()[0][1].object  # below the summary text
    pred = dashboard.original().argmax(1)
    assert list(table.columns) == ["statistic", "model", "expert"]
    tst = table.set_index("statistic").loc["TST (min)"]
    assert tst.model == pytest.approx(sleep_statistics(pred)["TST"], abs=0.05)
    assert tst.expert == pytest.approx(sleep_statistics(dashboard.night.true)["TST"], abs=0.05)


def test_quiz_reveals_the_answers_after_a_pick_and_keeps_the_session_score(dashboard):
    import app
    import quiz

    from stqs_core.constants import STAGES
    from stqs_core.interpret import TimeOcclusion
    from stqs_core.teaching import SLOW_WAVE_UV, hard_epochs

    student = quiz.Quiz(dashboard, app.in_background)
    true, proba = dashboard.night.true, dashboard.original()
    np.testing.assert_array_equal(student.order, quiz.Quiz(dashboard, app.in_background).order)  # seeded
    assert sorted(student.order.tolist()) == np.flatnonzero(true >= 0).tolist()
    first = student.epoch
    assert student.verdict().object == "" and "which stage" in student.header().object
    assert "stqs-quiz-epoch" not in student.header().object  # where it lies is not told before the pick
    page = student.page().object  # the scorer's page: five traces of 30 s, the EEG's slow-wave lines
    traces = [c for c in page if isinstance(c, hv.Curve)]
    assert len(traces) == 5 and all(np.ptp(c.dimension_values(0)) == pytest.approx(30, abs=0.01) for c in traces)
    segments = np.concatenate([s.array() for s in page if isinstance(s, hv.Segments)]).astype(float)
    vertical = segments[segments[:, 0] == segments[:, 2]]
    assert set(range(31)) <= set(vertical[:, 0].round(6)) and (vertical[:, 3] - vertical[:, 1] > 800).sum() >= 31
    levels = np.sort(segments[segments[:, 1] == segments[:, 3], 1])  # the ±37.5 µV lines: 75 µV apart on each EEG
    assert len(levels) == 4 and np.allclose(levels[1::2] - levels[::2], SLOW_WAVE_UV)
    student.pick(2)
    reveal = student.verdict().object
    assert (
        f"data-expert='{STAGES[true[first]]}'" in reveal and f"data-model='{STAGES[proba[first].argmax()]}'" in reveal
    )
    assert isinstance(student.evidence[3], TimeOcclusion) and student.evidence[2] == first  # (not served: at once)
    assert "Simulator's events in this epoch" in reveal or "No simulator events" in reveal
    student.pick(0)  # a second pick on the same epoch does not count
    assert len(student.answers) == 1
    student.next()
    student.pick(int(true[student.epoch]))  # right
    score = student.score()
    right = 1 + int(true[first] == 2)
    assert f"data-correct='{right}' data-answered='2'" in score[0].object
    confusion = score[2].object.to_numpy()
    assert confusion.sum() == 2 and confusion[true[first], 2] >= 1
    student.subset = "expert N2"
    assert len(student.order) and (true[student.order] == 2).all() and len(student.answers) == 2  # score kept
    student.subset = "hard epochs"  # (the probabilities as the night's cache holds them now)
    assert sorted(student.order.tolist()) == np.flatnonzero(hard_epochs(true, dashboard.original())).tolist()
    dashboard.hours = 0.1
    dashboard.load_night()  # another night: a new session score, the hard epochs of that night
    hard = hard_epochs(dashboard.night.true, dashboard.original())
    assert student.answers == [] and len(dashboard.night.true) == 12
    assert sorted(student.order.tolist()) == np.flatnonzero(hard).tolist()


def test_review_queue_lists_flagged_and_unsure_epochs_and_selects_them(dashboard):
    """The queue holds exactly the epochs the evidence triage flags or the model is unsure of; a click on a row
    selects that epoch."""
    import review
    from panel.models.tabulator import CellClickEvent

    from stqs_core.cohort import LOW_CONFIDENCE

    result = review.triage(dashboard.night, dashboard.model_key)
    proba = dashboard.original()
    expected = np.flatnonzero(~result.per_epoch.rule_ok.to_numpy() | (proba.max(1) < LOW_CONFIDENCE))
    view = dashboard.review.view(dashboard.night, dashboard.model_key, dashboard.review.result)
    count = view[0].object
    assert f"data-flagged='{len(result.flagged)}'" in count and f"{len(expected)} epochs" in count
    if not len(expected):
        return
    table = view[1]
    assert table.value.epoch.tolist() == expected.tolist()
    flagged = table.value.why.str.contains("evidence").to_numpy()
    assert (table.value.reason[flagged] != "").all() and (table.value.reason[~flagged] == "").all()
    row = len(expected) - 1
    table._process_event(CellClickEvent(model=None, column="time", row=row))
    assert dashboard.epoch == expected[row]


@pytest.mark.parametrize(
    "path, message", [("/nonexistent/night.edf", "is not an EDF/BDF recording in the"), ("", "give the path")]
)
def test_a_bad_recording_is_a_message_and_keeps_the_night(dashboard, data_dir, path, message):
    night = dashboard.night
    dashboard.param.update(source="EDF file", edf_path=path)
    dashboard.load_night()
    assert dashboard.alert.visible and message in dashboard.alert.object
    assert dashboard.night is night


def test_missing_channels_are_a_message(dashboard, data_dir, random_night):
    from stqs_core.edf import write_edf

    path = write_edf(data_dir / "odd.edf", random_night(), ["A1", "A2", "A3", "A4", "A5"], 125)
    dashboard.param.update(source="EDF file", edf_path=str(path))
    dashboard.load_night()
    assert dashboard.alert.visible and "EEG" in dashboard.alert.object


def test_loads_an_edf_with_its_hypnogram(dashboard, data_dir, edf_file):
    edf_file.rename(data_dir / "night.edf")
    dashboard.param.update(source="EDF file", edf_path="night.edf", epoch=20)  # relative to the data folder
    dashboard.load_night()
    assert not dashboard.alert.visible
    assert len(dashboard.night.epochs) == 8 and dashboard.night.true.tolist() == [0, 0, 1, 2, 2, 3, 4, -1]
    assert dashboard.epoch == 7  # clipped to the new night
    assert dashboard.night.recording.data.shape == (5, 4 * 60 * 125)  # the µV signals for the epoch viewer


def _upload(dashboard, filename: str, content: bytes, chunk: int = 1000) -> None:
    """Send ``content`` to the upload widget in chunks, as the browser's file dropper does."""
    from types import SimpleNamespace

    chunks = [content[i : i + chunk] for i in range(0, len(content), chunk)] or [b""]
    for i, part in enumerate(chunks, 1):
        dashboard.upload_input._process_event(
            SimpleNamespace(
                event_name="upload_event",
                data={"name": filename, "chunk": i, "total_chunks": len(chunks), "data": part, "type": ""},
            )
        )


def test_loads_an_upload(dashboard, edf_file):
    _upload(dashboard, "upload.edf", edf_file.read_bytes(), chunk=50_000)
    assert dashboard.source == "upload"  # read as soon as it is complete
    assert not dashboard.alert.visible
    assert dashboard.night.name == "upload" and len(dashboard.night.epochs) == 8


def test_loads_a_recording_of_an_hdf5_store(dashboard, data_dir):
    from stqs_core import EpochStore

    rng = np.random.default_rng(0)
    with EpochStore(data_dir / "store.h5", "w") as store:
        store.append("a", rng.standard_normal((3, 5, 3750)).astype(np.float32), np.array([0, 1, 2]))
        store.append("b", rng.standard_normal((6, 5, 3750)).astype(np.float32), np.array([2, 2, 3, 3, 4, -1]))
    dashboard.param.update(source="HDF5 store", store_path=str(data_dir / "store.h5"), store_recording="b")
    dashboard.load_night()
    assert not dashboard.alert.visible
    assert len(dashboard.night.epochs) == 6 and dashboard.night.true.tolist() == [2, 2, 3, 3, 4, -1]
    assert dashboard.night.recording is None  # the epoch viewer shows z-scored epochs
    dashboard.store_recording = "c"
    dashboard.load_night()
    assert dashboard.alert.visible and "no recording 'c'" in dashboard.alert.object


def test_a_published_checkpoint_in_a_data_folder(dashboard, monkeypatch):
    import sources

    path = need(CHECKPOINTS / "model2d_shhs1_4692_5213_allCh_cnn.tar")
    dashboard.model_path = str(path)
    dashboard.load_night()
    assert dashboard.alert.visible and "serves no data folders" in dashboard.alert.object  # not served by default
    monkeypatch.setenv(sources.DATA_DIRS_ENV, str(CHECKPOINTS))
    assert f"{CHECKPOINTS.name}/{path.name}" in sources.model_choices()  # offered in the list
    dashboard.load_night()
    assert not dashboard.alert.visible
    assert dashboard.model_key == str(path.resolve()) and dashboard.original().shape == (24, 5)


def test_no_published_checkpoint_path_in_the_sources():
    text = (ROOT / "dashboards" / "sources.py").read_text()
    assert '"shared"' not in text and "PUBLISHED" not in text


# ---------------------------------------------------------------- paths a visitor may name

SECRET = b"0 root:x:0:0 SECRET-CONTENT-4711"


@pytest.fixture
def outside(tmp_path):
    """A file outside the data folder whose content must never reach a visitor."""
    path = tmp_path / "private" / "secret.edf"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def _refusal(dashboard, **params) -> str:
    night = dashboard.night
    dashboard.param.update(**params)
    dashboard.load_night()
    assert dashboard.alert.visible and dashboard.night is night
    return dashboard.alert.object


@pytest.mark.parametrize(
    "name",
    [
        "absolute",
        "dotdot",
        "symlink",
        "symlinked folder",
        "etc passwd",
        "missing",
        "missing inside",
        "folder",
        "nul",
        "home",
    ],
)
def test_paths_outside_the_data_folders_are_refused_alike(dashboard, data_dir, outside, name):
    (data_dir / "link.edf").symlink_to(outside)
    (data_dir / "sub").symlink_to(outside.parent, target_is_directory=True)
    (data_dir / "dir.edf").mkdir()
    given = {
        "absolute": str(outside),
        "dotdot": "../private/secret.edf",
        "symlink": "link.edf",
        "symlinked folder": "sub/secret.edf",
        "etc passwd": "../../../../../../etc/passwd",
        "missing": str(outside.parent / "absent.edf"),
        "missing inside": "absent.edf",
        "folder": "dir.edf",
        "nul": "night\x00.edf",
        "home": "~nosuchuser/night.edf",
    }[name]
    for params in (
        {"source": "EDF file", "edf_path": given},
        {"source": "HDF5 store", "store_path": given},
        {"source": "demo night", "model_path": given},
    ):
        message = _refusal(dashboard, **params)
        assert "in the dashboard's data folders" in message
        assert "SECRET" not in message and "root:x" not in message
        # the same words whatever the path: nothing tells whether it exists outside
        assert message.replace(html_escape(repr(given[:200])), "PATH") == _refusal(
            dashboard, **{k: ("/nowhere/x.edf" if k != "source" else v) for k, v in params.items()}
        ).replace(html_escape(repr("/nowhere/x.edf")), "PATH")


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def test_without_data_folders_only_demo_uploads_and_shipped_models(dashboard, monkeypatch, edf_file):
    import sources

    monkeypatch.delenv(sources.DATA_DIRS_ENV, raising=False)
    message = _refusal(dashboard, source="EDF file", edf_path=str(edf_file))
    assert "serves no data folders" in message and "--data-dir" in message
    assert set(sources.model_choices()) == {p.stem for p in sources.MODELS_DIR.glob("*.pt")} | {sources.UNTRAINED}
    assert "serves no data folders" in _refusal(dashboard, source="demo night", model_path="/etc/passwd")
    assert "serves no data folders" in _refusal(dashboard, source="demo night", model="/etc/passwd")  # the menu


def test_errors_never_show_file_contents(dashboard, data_dir):
    (data_dir / "bad.edf").write_bytes(SECRET + bytes(range(256)) * 4)
    (data_dir / "bad.pt").write_bytes(SECRET)
    for params in ({"source": "EDF file", "edf_path": "bad.edf"}, {"source": "demo night", "model_path": "bad.pt"}):
        message = _refusal(dashboard, **params)
        assert "SECRET" not in message and "root:x" not in message


def test_a_model_url_argument_outside_is_refused_with_the_defaults(data_dir):
    """``?model=/etc/passwd``: the page opens on the default model and says why."""
    import app

    settings, problems = app.url_settings({"model": [b"/etc/passwd"], "hours": [b"0.2"]}, environ={})
    dash = app.Dashboard(**settings)
    assert dash.night is not None and dash.model_key == dash.model  # fell back to the default model
    assert "Could not load" in dash.alert.object and "passwd" in dash.alert.object and "root:x" not in dash.alert.object
    assert dash.alert.visible and dash.hours == 0.2


# ---------------------------------------------------------------- uploads


def test_uploads_go_to_a_private_folder_deleted_at_session_end(dashboard, edf_file):
    _upload(dashboard, "first.edf", edf_file.read_bytes(), chunk=30_000)
    folder = dashboard.uploads.path
    assert folder.is_dir() and folder.parent == Path(tempfile.gettempdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first = dashboard.uploaded[0]
    assert first.parent == folder and stat.S_IMODE(first.stat().st_mode) == 0o600
    other = app_module().Dashboard(hours=0.2, defer=True)
    _upload(other, "first.edf", edf_file.read_bytes())
    assert other.uploads.path != folder  # each session its own, unguessable folder
    _upload(dashboard, "second.edf", edf_file.read_bytes())
    assert not first.exists() and dashboard.uploaded[0].exists()  # only the latest upload is kept
    dashboard.close()
    other.close()
    assert not folder.exists() and not other.uploads.path


def test_a_session_end_removes_its_uploads_in_a_served_document(edf_file):
    """The page registers :meth:`Dashboard.close` with the session: Bokeh's session end deletes the folder."""
    import app
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    doc = Document()
    with set_curdoc(doc):
        page = app.create_app({"hours": 0.2})
    dash = next(cb for cb in doc.session_destroyed_callbacks).__closure__[0].cell_contents
    assert page is not None and isinstance(dash, app.Dashboard)
    dash.start()
    _upload(dash, "night.edf", edf_file.read_bytes())
    folder = dash.uploads.path
    assert folder.is_dir()
    for callback in doc.session_destroyed_callbacks:
        callback(None)
    assert not folder.exists()


def test_an_upload_never_follows_a_symlink(dashboard, edf_file, tmp_path):
    import hashlib

    import sources

    target = tmp_path / "victim.txt"
    target.write_text("untouched")
    content = edf_file.read_bytes()
    old_name = Path(tempfile.gettempdir()) / f"stqs-upload-{hashlib.sha1(content).hexdigest()[:16]}.edf"
    planted = not old_name.exists() and not old_name.is_symlink()
    if planted:  # the predictable name of the old shared upload path
        old_name.symlink_to(target)
    try:
        _upload(dashboard, "night.edf", content)
        assert target.read_text() == "untouched" and dashboard.night.name == "night"
    finally:
        if planted:
            old_name.unlink()
    # a link planted inside the session's own folder is refused, not written through
    folder = sources.UploadFolder()
    path, fd = folder.new_file("a.edf")
    os.close(fd)
    (path.parent / "upload-2.edf").symlink_to(target)
    with pytest.raises(OSError):
        folder.write("b.edf", b"overwrite")
    assert target.read_text() == "untouched"
    folder.remove()


def test_an_upload_over_the_limit_is_a_clear_message(monkeypatch, edf_file):
    import sources

    monkeypatch.setenv(sources.UPLOAD_ENV, "0.1")  # 0.1 MB
    dash = app_module().Dashboard(hours=0.2)
    night = dash.night
    assert dash.upload_input.max_file_size == "0MB" or dash.upload_input.limit == int(0.1 * 2**20)
    _upload(dash, "big.edf", edf_file.read_bytes(), chunk=40_000)  # 600 kB
    assert dash.alert.visible and "larger than the upload limit of 0 MB" in dash.alert.object
    assert dash.night is night and list(dash.uploads.path.iterdir()) == []  # the partial file is deleted
    _upload(dash, "notes.txt", b"hello")
    assert "not an .edf or .bdf file" in dash.alert.object
    dash.close()


def app_module():
    sys.path.insert(0, str(ROOT / "dashboards"))
    import app

    return app


# ---------------------------------------------------------------- caches


def test_a_changed_file_is_read_again(dashboard, data_dir, random_night):
    from stqs_core import EpochStore
    from stqs_core.edf import write_edf

    path = data_dir / "night.edf"
    write_edf(path, random_night(), SHHS_NAMES, 125, stages=np.array([0, 0, 1, 2, 2, 3, 4, -1]))
    dashboard.param.update(source="EDF file", edf_path="night.edf")
    dashboard.load_night()
    assert dashboard.night.true.tolist() == [0, 0, 1, 2, 2, 3, 4, -1]
    write_edf(path, random_night(seed=1), SHHS_NAMES, 125, stages=np.array([4, 4, 3, 2, 1, 0, 0, 0]))
    dashboard.load_night()
    assert dashboard.night.true.tolist() == [4, 4, 3, 2, 1, 0, 0, 0]

    rng = np.random.default_rng(0)
    for labels in ([0, 1, 2], [3, 3, 4]):
        with EpochStore(data_dir / "store.h5", "w") as store:
            store.append("a", rng.standard_normal((3, 5, 3750)).astype(np.float32), np.array(labels))
        dashboard.param.update(source="HDF5 store", store_path="store.h5")
        dashboard.load_night()
        assert dashboard.night.true.tolist() == labels


def test_a_replaced_model_file_is_loaded_again(dashboard, data_dir):
    import torch

    from stqs_core import STQS, STQSConfig, save_model

    probabilities = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_model(STQS(STQSConfig(variant="cnnlstm")).eval(), data_dir / "model.pt", {"name": f"seed {seed}"})
        dashboard.model_path = "model.pt"
        dashboard.load_night()
        assert not dashboard.alert.visible
        probabilities.append(dashboard.original())
    assert np.abs(probabilities[0] - probabilities[1]).max() > 1e-3  # other weights, other probabilities


def test_memo_is_bounded_in_bytes_and_computes_once():
    import sources

    memo = sources.Memo(max_bytes=3 * 800)
    for i in range(5):
        memo.get(i, lambda: np.zeros(100))  # 800 bytes each
    assert len(memo) == 3 and memo.nbytes == 2400 and memo.get(4, lambda: None) is not None
    calls, started = [], threading.Event()

    def slow():
        calls.append(1)
        started.wait(5)
        return np.ones(3)

    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(memo.get, "night", slow) for _ in range(5)]
        time.sleep(0.2)
        started.set()
        results = [f.result() for f in futures]
    assert len(calls) == 1 and all(r is results[0] for r in results)
    with pytest.raises(ZeroDivisionError):
        memo.get("bad", lambda: 1 / 0)
    assert memo.get("bad", lambda: 2) == 2  # failures are not cached


def test_many_demo_requests_keep_memory_bounded(monkeypatch):
    """Each new seed is a new night; the cache keeps only what fits its byte budget, derived results included."""
    import gc
    import weakref

    import sources

    budget = 2.5 * sources.demo_night(0.2, 99).nbytes  # 3.6 MB of signals and epochs each
    monkeypatch.setattr(sources, "NIGHTS", sources.Memo(max_bytes=budget))
    nights = []
    for seed in range(6):
        night = sources.demo_night(0.2, seed)
        sources.probabilities(night, sources.UNTRAINED)
        nights.append(weakref.ref(night))
        del night
    gc.collect()
    assert sources.NIGHTS.nbytes <= budget
    assert sum(ref() is not None for ref in nights) == 2  # evicted nights are freed with their probabilities
    assert nights[-1]() is not None


# ---------------------------------------------------------------- URL arguments


def test_url_settings():
    from app import Dashboard, url_settings

    args = {"hours": [b"1.5"], "band": [b"8,12"], "modalities": [b"eeg,emg"], "epoch": [b"7"], "mode": [b"pass"]}
    assert url_settings(args, environ={}) == (
        {"hours": 1.5, "band": (8.0, 12.0), "modalities": ["eeg", "emg"], "epoch": 7, "mode": "pass"},
        [],
    )
    assert url_settings({}, environ={"STQS_DASHBOARD_HOURS": "2"}) == ({"hours": 2.0}, [])
    assert url_settings({"method": [b"saliency"]}, environ={}) == ({"method": "saliency"}, [])
    assert Dashboard(defer=True).modalities == []  # opens with nothing occluded until a modality is picked


@pytest.mark.parametrize(
    "name, value",
    [
        ("hours", "1e9"),
        ("hours", "nan"),
        ("hours", "-1"),
        ("hours", "x"),
        ("seed", "-3"),
        ("seed", "99999999999"),
        ("seed", "1.5"),
        ("epoch", "-1"),
        ("epoch", "1e99"),
        ("band", "8"),
        ("band", "12,8"),
        ("band", "0,100"),
        ("band", "a,b"),
        ("modalities", "eeg,ecg"),
        ("mode", "<script>"),
        ("method", "lrp"),
    ],
)
def test_bad_url_arguments_are_reported_and_left_at_defaults(name, value):
    """A bad argument is a message and the default, never a traceback nor a costly night."""
    from app import Dashboard, url_settings

    settings, problems = url_settings(
        {name: [value.encode()], "hours": [b"0.2"]} if name != "hours" else {name: [value.encode()]}, environ={}
    )
    assert name not in settings and len(problems) == 1 and problems[0].startswith(name)
    dash = Dashboard(defer=True, **settings)
    assert getattr(dash, name) == dash.param[name].default


def test_an_epoch_past_the_night_is_clipped():
    from app import Dashboard, url_settings

    settings, problems = url_settings({"epoch": [b"5000"], "hours": [b"0.2"]}, environ={})
    assert problems == [] and Dashboard(**settings).epoch == 23


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
    from stqs_core.cli import dashboard_command

    port = _free_port()
    argv = ["--port", str(port), "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    cmd, env = dashboard_command([*argv, "--hours", "0.5"], app=ROOT / "dashboards" / "app.py")
    cmd += ["--log-level", "warning", "--check-unused-sessions", "1000", "--unused-session-lifetime", "1000"]
    # closed pages end in ~2 s
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
        page.wait_for_selector(".stqs-summary", timeout=90_000)
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
    assert page.locator("text=no occlusion (pick a modality)").count() == 1  # nothing occluded until picked
    assert page.locator(".stqs-changed").count() == 0 and _changed_in_hypnogram(page) == 0
    assert page.errors == []


def test_occlusion_slider_rescores_the_night(page):
    page.get_by_role("button", name="eeg", exact=True).click()  # the first modality picked: 12-16 Hz occluded
    assert _wait_for(lambda: page.locator("text=12-16 Hz removed from EEG").count() == 1)
    before = page.locator(".stqs-changed").get_attribute("data-changed")
    assert _wait_for(lambda: _changed_in_hypnogram(page) == int(before))
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


REVIEW_JS = """() => {
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values())
    if (m.constructor.__name__ === "DataTabulator" && m.source.data.why !== undefined)
      return Array.from(m.source.data.epoch);
  return null;
}"""
"""The epochs of the review queue's table, as the page holds them."""


def test_review_queue_lists_the_flagged_epochs_and_a_click_moves_the_viewer(page):
    sys.path.insert(0, str(ROOT / "dashboards"))
    import app
    import review

    dash = app.Dashboard(hours=0.5, defer=True)  # the server's night and model, computed here again
    night, key, proba = app._compute(dict(dash.param.values(), channels=dash._channels(), uploaded=None))
    expected = review.queue_table(review.triage(night, key).per_epoch, proba)
    assert _wait_for(lambda: page.locator(".stqs-review-count").count() == 1, 120)
    count = page.locator(".stqs-review-count")
    assert int(count.get_attribute("data-flagged")) == int(expected.why.str.contains("evidence").sum())
    assert _wait_for(lambda: page.evaluate(REVIEW_JS) is not None or expected.empty)
    if expected.empty:
        return
    assert page.evaluate(REVIEW_JS) == expected.epoch.tolist()  # the flagged and unsure epochs, in time order
    before = int(page.locator(".stqs-epoch").get_attribute("data-epoch"))
    rows = page.locator(".stqs-review .tabulator-row")
    pick = next((i for i in range(rows.count()) if int(expected.epoch.iloc[i]) != before), None)
    if pick is None:
        pytest.skip("the queue holds only the epoch already selected")
    target = int(expected.epoch.iloc[pick])
    assert rows.nth(pick).locator("[tabulator-field='epoch']").inner_text().strip() == str(target)
    rows.nth(pick).locator("[tabulator-field='time']").click()
    assert _wait_for(lambda: page.locator(f"[data-epoch='{target}']").count() == 1)
    assert _wait_for(lambda: max(target - 1, 0) * 30.0 in _epoch_viewer_starts(page))  # the viewer moved there
    assert page.errors == []


PLOTS_JS = """() => {
  const out = [];
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values())
    if (m.renderers !== undefined && m.y_range !== undefined && m.x_range !== undefined) {
      const glyphs = [];
      for (const r of m.renderers) {
        if (r.glyph === undefined || r.data_source === undefined) continue;
        const data = r.data_source.data, g = r.glyph, columns = {};
        for (const [k, v] of Object.entries(data)) if (k !== "image") columns[k] = Array.from(v);
        const alpha = g.global_alpha === undefined ? 1 : (g.global_alpha.value ?? g.global_alpha);
        glyphs.push({kind: g.constructor.__name__, columns, alpha, visible: r.visible});
      }
      out.push({y: [m.y_range.start, m.y_range.end], x: [m.x_range.start, m.x_range.end], glyphs});
    }
  return out;
}"""
"""Each Bokeh plot of the page: its x and y ranges and its glyphs (kind, data columns but images, alpha)."""


def _time_plots(page) -> tuple[dict[int, list[dict]], list[dict]]:
    """The time tab's plots: the channel plots by row (those drawn so far), and the importance plots."""
    rows, importance = {}, []
    for plot in page.evaluate(PLOTS_JS):
        for glyph in plot["glyphs"]:
            for i in range(5):
                if glyph["kind"] == "Line" and f"z {i}" in glyph["columns"]:
                    rows.setdefault(i, []).append(plot)
            if glyph["kind"] == "Line" and "importance" in glyph["columns"]:
                importance.append(glyph["columns"]["importance"])
    return rows, importance


def test_time_tab_draws_traces_on_their_own_axes_with_visible_shading_and_the_picked_attribution(page):
    """What a person sees in the time tab: each z-scored trace spans its axis (not a flat line on µV axes), the
    occlusion heat strip covers the plot with visible alpha, and the importance curve is the picked method's."""
    sys.path.insert(0, str(ROOT / "dashboards"))
    import app
    import sources

    page.locator(".bk-tab", has_text="Time attribution").click()
    epoch = int(page.locator(".stqs-epoch").get_attribute("data-epoch"))
    page.locator(".stqs-method select").select_option("saliency")
    assert _wait_for(lambda: _time_plots(page)[1], 120)
    dash = app.Dashboard(hours=0.5, defer=True)  # the server's night and model, computed here again
    night, key, _ = app._compute(dict(dash.param.values(), channels=dash._channels(), uploaded=None))
    expected = sources.attribution(night, key, epoch, "saliency").importance[0]
    scale = float(np.abs(expected).max())

    def drawn() -> bool:
        return any(
            len(y) == len(expected) and np.allclose(y, expected, atol=1e-4 * scale) for y in _time_plots(page)[1]
        )

    assert scale > 0 and _wait_for(drawn, 120)
    rows, _ = _time_plots(page)
    assert sorted(rows) == [0, 1, 2, 3, 4]
    for i, plots in rows.items():
        want = night.epochs[epoch, i]
        for plot in plots:
            line = next(g for g in plot["glyphs"] if g["kind"] == "Line")
            y = np.asarray(line["columns"][f"z {i}"])
            low, high = plot["y"]
            assert low <= y.min() and y.max() <= high  # the whole trace is visible
            assert np.ptp(y) >= 0.8 * (high - low)  # and spans its axis: no flat line on a µV axis
            assert plot["x"][0] <= 0.5 and plot["x"][1] >= 29.5  # the whole epoch
            image = next(g for g in plot["glyphs"] if g["kind"] == "Image")
            assert image["alpha"] >= 0.5 and image["visible"]  # the red/blue shading is seen
            assert image["columns"]["dh"][0] >= 0.95 * (high - low) and image["columns"]["dw"][0] >= 29.5
        assert any(
            np.allclose(
                np.asarray(next(g for g in p["glyphs"] if g["kind"] == "Line")["columns"][f"z {i}"]), want, atol=1e-4
            )
            for p in plots
        )  # the selected epoch's z-scored trace
    assert page.errors == []


def _quiz_state(page) -> tuple[dict, list[int]]:
    """The quiz's revealed answers (``data-`` attributes, empty before a pick) and its confusion counts."""
    reveal = page.locator(".stqs-quiz-reveal")
    answers = {k: reveal.get_attribute(f"data-{k}") for k in ("you", "expert", "model")} if reveal.count() == 1 else {}
    cells = page.locator(".stqs-quiz-confusion td").all_inner_texts()
    return answers, [int(c) for c in cells if c.strip().isdigit()]


def test_quiz_reveals_the_experts_and_the_models_answer_after_a_pick(page):
    """A student opens the quiz: a 30-s page with its grid; a pick reveals the expert's and the model's stage (those
    of the server's night) and the model's evidence, and the session's score and confusion count it."""
    import app

    from stqs_core.constants import STAGES

    page.locator(".bk-tab", has_text="Quiz: score it yourself").click()
    page.wait_for_selector(".stqs-quiz-question", timeout=60_000)
    assert _quiz_state(page) == ({}, []) and page.locator(".stqs-quiz-epoch").count() == 0  # nothing told yet

    def page_traces() -> list:
        return [first for kind, first, n in page.evaluate(GLYPHS_JS) if kind == "Line" and "quiz_uv" in first]

    assert _wait_for(lambda: len(page_traces()) == 5, 60)  # the five channels, stacked on one page
    page.get_by_role("button", name="N2", exact=True).click()
    assert _wait_for(lambda: _quiz_state(page)[0] != {}, 60)
    epoch = int(page.locator(".stqs-quiz-epoch").get_attribute("data-epoch"))
    dash = app.Dashboard(hours=0.5, defer=True)  # the server's night and model, computed here again
    night, key, proba = app._compute(dict(dash.param.values(), channels=dash._channels(), uploaded=None))
    expert, model = STAGES[night.true[epoch]], STAGES[proba[epoch].argmax()]
    answers, counts = _quiz_state(page)
    assert answers == {"you": "N2", "expert": expert, "model": model}
    assert _wait_for(lambda: _quiz_state(page)[1] != [] and sum(_quiz_state(page)[1]) == 1, 30)
    score = page.locator(".stqs-quiz-score")
    assert score.get_attribute("data-answered") == "1" and score.get_attribute("data-correct") == str(
        int(expert == "N2")
    )
    counts = np.array(_quiz_state(page)[1]).reshape(5, 5)
    assert counts[STAGES.index(expert), STAGES.index("N2")] == 1  # rows the expert, columns the student
    assert _wait_for(  # the time occlusion of the epoch, computed off the event loop, then drawn
        lambda: any(k == "Line" and "quiz_drop" in first and n > 1000 for k, first, n in page.evaluate(GLYPHS_JS)), 120
    )
    page.locator(".stqs-quiz-next button").click()
    assert _wait_for(lambda: page.locator(".stqs-quiz-reveal").count() == 0)
    assert page.locator(".stqs-quiz-question").get_attribute("data-position") == "1"  # the second question
    page.get_by_role("button", name="W", exact=True).click()
    assert _wait_for(lambda: page.locator(".stqs-quiz-score").get_attribute("data-answered") == "2", 30)
    assert _wait_for(lambda: sum(_quiz_state(page)[1]) == 2)
    assert page.errors == []


def _first_hypnograms(browser, url: str, n: int, timeout: float = 300.0) -> list[float]:
    """Seconds from opening ``n`` pages on ``url`` at once (own browser contexts) to each one's first hypnogram."""
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(n)]
    pages = [context.new_page() for context in contexts]
    start = time.perf_counter()
    for page in pages:
        page.goto(url, wait_until="commit", timeout=timeout * 1000)
    times, waiting = [float("inf")] * n, set(range(n))
    while waiting and time.perf_counter() - start < timeout:
        for i in sorted(waiting):
            if pages[i].locator(".stqs-summary").count():
                times[i] = time.perf_counter() - start
                waiting.discard(i)
        pages[0].wait_for_timeout(100)
    for context in contexts:
        context.close()
    return times


@pytest.mark.slow
@pytest.mark.browser
def test_five_sessions_at_once_are_served_side_by_side(page, server):
    """Five visitors opening the same new 8-hour night: timings of one session alone and of five at once.

    Each measurement opens a night no session has opened (a new seed): simulated, scored and drawn from scratch.
    The night is read once for the five, on a worker thread; each page is drawn on the event loop, one after the
    other. Every session must get its hypnogram; the timings are printed, and measured in
    benchmarks/bench_dashboard_sessions.py (a ratio on a shared 2-core machine is no test: 1.6-3.4x seen here).
    """
    browser = page.context.browser
    single = _first_hypnograms(browser, f"{server['url']}?hours=8&seed=101", 1)[0]
    five = _first_hypnograms(browser, f"{server['url']}?hours=8&seed=102", 5)
    print(
        f"first hypnogram of an 8-h night: one session {single:.1f} s; five at once "
        f"{', '.join(f'{t:.1f}' for t in five)} s ({max(five) / single:.2f}x; load average "
        f"{os.getloadavg()[0]:.1f})"
    )
    assert single < float("inf") and all(t < float("inf") for t in five)  # every session drew its hypnogram


@pytest.mark.slow
@pytest.mark.browser
def test_a_long_night_does_not_hold_up_other_visitors(page, server):
    """While one visitor's 12-hour night is simulated and scored, another visitor's page opens on a night already
    read: the work runs on a worker thread, not on the event loop that serves every page."""
    contexts = [page.context.browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    long_night, other = (context.new_page() for context in contexts)
    start = time.perf_counter()
    long_night.goto(f"{server['url']}?hours=12&seed=201&modalities=eeg", wait_until="commit", timeout=300_000)
    other.goto(server["url"], wait_until="commit", timeout=300_000)  # the served 30-minute night, read already
    other.wait_for_selector(".stqs-summary", timeout=300_000)
    other_done = time.perf_counter() - start
    long_night.wait_for_selector(".stqs-summary", timeout=300_000)
    long_done = time.perf_counter() - start
    print(f"other visitor's page {other_done:.1f} s, the 12-h night's {long_done:.1f} s")
    assert other_done < 0.6 * long_done
    for context in contexts:
        context.close()


def test_stqs_dashboard_passes_the_serving_options(tmp_path):
    from stqs_core.cli import dashboard_command, main

    cmd, env = dashboard_command(
        [
            "--data-dir",
            str(tmp_path),
            "--data-dir",
            str(ROOT),
            "--max-upload-mb",
            "500",
            "--basic-auth",
            "s3cret",
            "--address",
            "0.0.0.0",
            "--allow-websocket-origin",
            "sleeplab.example.org",
        ]
    )
    assert env["STQS_DASHBOARD_DATA_DIRS"] == f"{tmp_path.resolve()}{os.pathsep}{ROOT}"
    assert env["STQS_DASHBOARD_MAX_UPLOAD_MB"] == "500.0" and len(env["PANEL_COOKIE_SECRET"]) == 64
    assert cmd[2:4] == ["panel", "serve"] and cmd[cmd.index("--basic-auth") + 1] == "s3cret"
    assert "--allow-websocket-origin=sleeplab.example.org" in cmd and cmd[cmd.index("--address") + 1] == "0.0.0.0"
    cmd, env = dashboard_command()
    assert "--basic-auth" not in cmd and not any(c.startswith("--allow-websocket-origin") for c in cmd)
    assert main(["dashboard", "--data-dir", str(tmp_path / "absent")]) == 2  # a message, not a traceback


@pytest.mark.slow
@pytest.mark.browser
def test_a_real_size_upload_through_the_browser(page, server, tmp_path):
    """A 24-MB EDF (over the ~15 MB that a one-message upload could carry) arrives in chunks and is scored; its
    private folder goes when the page is closed."""
    from stqs_core.edf import write_edf

    rng = np.random.default_rng(0)
    path = write_edf(tmp_path / "big night.edf", rng.standard_normal((5, 40 * 60 * 1000)) * 30, SHHS_NAMES, 1000)
    assert path.stat().st_size > 20 * 2**20
    context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    visitor = context.new_page()
    errors = []
    visitor.on("pageerror", lambda e: errors.append(str(e)))
    visitor.goto(server["url"], timeout=90_000)
    visitor.wait_for_selector(".stqs-summary", timeout=120_000)
    before = set(Path(tempfile.gettempdir()).glob("stqs-upload-*"))
    visitor.locator("select").first.select_option("upload")
    visitor.locator("input[type=file]").set_input_files(str(path))
    assert _wait_for(lambda: visitor.locator("text=big night scored by").count() == 1, timeout=240)
    assert visitor.locator("text=80 epochs").count() == 1 and errors == []
    folders = [f for f in set(Path(tempfile.gettempdir()).glob("stqs-upload-*")) - before if f.is_dir()]
    assert len(folders) == 1 and [p.stat().st_size for p in folders[0].iterdir()] == [path.stat().st_size]
    context.close()  # the session ends: its upload folder goes
    assert _wait_for(lambda: not folders[0].exists(), timeout=60)
