"""The built-in demo: a run that fails leaves none of its outputs behind (a night.edf is 37 MB)."""

from __future__ import annotations

import pytest

from stqs_core import demo


def test_a_bad_model_fails_before_anything_is_written(tmp_path):
    with pytest.raises((FileNotFoundError, ValueError), match="no-such-model"):
        demo.run_demo(tmp_path / "out", hours=0.1, model="no-such-model")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("existed", [False, True])
def test_a_failure_after_writing_removes_what_this_run_wrote(model_file, tmp_path, monkeypatch, existed):
    out = tmp_path / "out"
    if existed:
        out.mkdir()
        (out / "notes.txt").write_text("mine")

    def crash(recording, model):
        assert (out / "night.edf").is_file() and (out / "night.events.csv").is_file()  # written by then
        raise RuntimeError("scoring crashed")

    monkeypatch.setattr(demo, "score_recording", crash)
    with pytest.raises(RuntimeError, match="scoring crashed"):
        demo.run_demo(out, hours=0.1, model=model_file)
    if existed:
        assert [p.name for p in out.iterdir()] == ["notes.txt"]  # what was there before stays
    else:
        assert not out.exists()
