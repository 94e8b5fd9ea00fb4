"""The model registry: names, fetching through a local HTTP server or folder, hashes, cache, offline errors."""

import functools
import hashlib
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from stqs_core import load_model, registry, score_file
from stqs_core.checkpoint import DEFAULT_MODEL, DEMO_MODEL, MODELS_DIR
from stqs_core.cli import main
from stqs_core.errors import ModelError

from .conftest import CHECKPOINTS, need

CNN = "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own (STQS_MODELS_DIR)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("STQS_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving ``served/`` as STQS_MODELS_URL; ``hits`` lists the paths asked."""
    folder = tmp_path / "served"
    folder.mkdir()
    hits = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STQS_MODELS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/models")
    (folder / "models").mkdir()
    yield folder / "models", hits
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_one_name_per_published_file_and_the_shipped_models():
    entries = registry.entries()
    published = {e.file: e.name for e in entries.values() if e.kind == "published"}
    assert set(published) == set(registry.PUBLISHED) and len(set(published.values())) == 9
    assert published[CNN] == "shhs-oversampling-cnn" == DEFAULT_MODEL
    assert published[CNN.replace("cnn.tar", "cnnlstm_ReturnAllChunk_seq_info.tar")] == "shhs-oversampling-cnnlstm"
    assert entries["shhs-oversampling-cnnlstm-residual"].variant == "cnnlstm-residual"
    assert entries["shhs-weightedloss2-cnnlstm"].variant == "cnnlstm"
    shipped = {e.name for e in entries.values() if e.kind == "shipped"}
    assert shipped == {p.stem for p in MODELS_DIR.glob("*.pt")} and DEMO_MODEL in shipped
    assert "simulated" in entries[DEMO_MODEL].trained_on


def test_pinned_hashes_and_sizes_are_those_of_the_published_copies():
    for file, (sha256, size) in registry.PUBLISHED.items():
        path = need(CHECKPOINTS / file)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256 and path.stat().st_size == size


def test_fetch_downloads_once_verifies_and_caches(server, cache):
    served, hits = server
    shutil.copyfile(need(CHECKPOINTS / CNN), served / CNN)
    path = registry.fetch("shhs-oversampling-cnn")
    assert path == cache / CNN and path.read_bytes() == (served / CNN).read_bytes()
    assert registry.fetch("shhs-oversampling-cnn") == path  # a cache hit: no second request
    assert hits == [f"/models/{CNN}"]
    listed = {m["name"]: m for m in registry.list_models()}
    assert listed["shhs-oversampling-cnn"]["cached"] and not listed["shhs-cnn"]["cached"]
    assert listed["shhs-oversampling-cnn"]["path"] == str(path)


def test_a_download_with_the_wrong_hash_is_refused_and_not_kept(server, cache):
    served, hits = server
    (served / CNN).write_bytes(b"not the published weights")
    with pytest.raises(ModelError, match="SHA-256 differs"):
        registry.fetch("shhs-oversampling-cnn")
    assert hits and not (cache / CNN).exists()
    assert not cache.exists() or not any(cache.iterdir())  # no temporary file left either


def test_a_corrupt_cached_file_is_fetched_again(server, cache):
    served, hits = server
    shutil.copyfile(need(CHECKPOINTS / CNN), served / CNN)
    cache.mkdir()
    (cache / CNN).write_bytes(b"truncated")
    assert registry.fetch("shhs-oversampling-cnn").read_bytes() == (served / CNN).read_bytes()
    assert len(hits) == 1


def test_offline_error_names_the_file_the_folder_and_the_url(cache, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STQS_MODELS_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(ModelError) as err:
        registry.fetch("shhs-oversampling-cnn")
    message = str(err.value)
    assert str(cache / CNN) in message and registry.PUBLISHED_URL + CNN in message
    assert "STQS_MODELS_URL" in message and "stqs models fetch shhs-oversampling-cnn" in message


def test_a_local_folder_or_file_url_is_a_mirror(tmp_path, cache, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copyfile(need(CHECKPOINTS / CNN), mirror / CNN)
    for url in (str(mirror), mirror.as_uri()):
        monkeypatch.setenv("STQS_MODELS_URL", url)
        shutil.rmtree(cache, ignore_errors=True)
        assert registry.fetch("shhs-oversampling-cnn") == cache / CNN
    monkeypatch.setenv("STQS_MODELS_URL", str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="shhs-cnn"):
        registry.fetch("shhs-cnn")


def test_unknown_names_and_missing_files_list_the_names(tmp_path):
    with pytest.raises(ModelError, match="shhs-oversampling-cnn.*stqs-cnnlstm-sim"):
        registry.resolve("shhs-nope")
    with pytest.raises(ModelError, match="no model file"):
        load_model(tmp_path / "absent.pt")
    assert registry.resolve(DEMO_MODEL) == MODELS_DIR / f"{DEMO_MODEL}.pt"


def test_names_work_in_load_model_score_file_and_the_cli(edf_file, tmp_path, capsys):
    need(CHECKPOINTS / CNN)  # conftest points STQS_MODELS_URL at the ../shared copies
    model = load_model("shhs-oversampling-cnn")
    assert model.config.variant == "cnn" and model.info["model_card"]["name"] == "shhs-oversampling-cnn"
    night = score_file(edf_file)  # the default model for a recording: the published SHHS CNN
    assert night.model == DEFAULT_MODEL and night.proba.shape == (8, 5)
    out = tmp_path / "h.csv"
    assert main(["score", str(edf_file), "--model", "shhs-oversampling-cnnlstm", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 8
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert "shhs-oversampling-cnnlstm-residual" in table and "stqs-cnnlstm-sim" in table and "cached" in table


def test_score_without_a_reachable_default_model_says_how_to_get_it(edf_file, tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setenv("STQS_MODELS_URL", str(tmp_path / "no-mirror"))
    assert main(["score", str(edf_file), "--out", str(tmp_path / "h.csv")]) == 2
    err = capsys.readouterr().err
    assert f"stqs models fetch {DEFAULT_MODEL}" in err and str(cache / CNN) in err
    assert not (tmp_path / "h.csv").exists()


def test_models_fetch_all_from_a_mirror(cache, capsys):
    need(CHECKPOINTS)
    assert main(["models", "fetch", "all"]) == 0
    assert sorted(p.name for p in cache.iterdir()) == sorted(registry.PUBLISHED)
    assert all(m["cached"] for m in registry.list_models())
