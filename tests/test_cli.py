import json
import subprocess
import sys

import numpy as np
import pandas as pd

from stqs_core.cli import main
from stqs_core.store import EpochStore


def test_score_writes_one_row_per_epoch_with_probabilities(edf_file, model_file, tmp_path, capsys):
    out = tmp_path / "hyp.csv"
    assert main(["score", str(edf_file), "--model", str(model_file), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "epoch",
        "onset_s",
        "stage",
        "prob_W",
        "prob_N1",
        "prob_N2",
        "prob_N3",
        "prob_REM",
        "confidence",
        "entropy",
        "true_stage",
    ]
    assert len(table) == 8 and table.onset_s.tolist() == [30.0 * i for i in range(8)]
    np.testing.assert_allclose(table.filter(like="prob_").sum(axis=1), 1, atol=1e-3)
    assert table.true_stage.tolist() == ["W", "W", "N1", "N2", "N2", "N3", "REM", "?"]
    printed = capsys.readouterr().out
    assert "8 epochs scored" in printed and "accuracy" in printed and "kappa" in printed


def test_score_json_and_edf_outputs(edf_file, model_file, tmp_path):
    from stqs_core.annotations import read_hypnogram

    assert main(["score", str(edf_file), "--model", str(model_file), "--out", str(tmp_path / "h.json")]) == 0
    report = json.loads((tmp_path / "h.json").read_text())
    assert report["n_epochs"] == 8 and len(report["prob_N2"]) == 8 and report["n_scored"] == 7
    assert main(["score", str(edf_file), "--model", str(model_file), "--out", str(tmp_path / "h.edf")]) == 0
    assert [("W", "N1", "N2", "N3", "REM")[s] for s in read_hypnogram(tmp_path / "h.edf")] == report["stage"]


def test_bad_input_gives_a_message_and_leaves_no_file(edf_file, model_file, tmp_path, capsys):
    out = tmp_path / "hyp.csv"
    assert main(["score", str(edf_file), "--model", str(model_file), "--eeg", "C3-A2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "C3-A2" in err and "EEG(sec)" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".hyp*"))


def test_a_crash_while_writing_leaves_no_half_file(edf_file, model_file, tmp_path, monkeypatch):
    import csv

    out = tmp_path / "hyp.csv"
    out.write_text("previous result\n")

    real_writer = csv.writer

    class HalfWriter:  # writes the header and one row, then the disk is full
        def __init__(self, f):
            self.inner = real_writer(f)
            self.writerow = self.inner.writerow

        def writerows(self, rows):
            self.inner.writerow(next(iter(rows)))
            raise OSError("disk full")

    monkeypatch.setattr(csv, "writer", HalfWriter)
    assert main(["score", str(edf_file), "--model", str(model_file), "--out", str(out)]) == 2
    assert out.read_text() == "previous result\n" and len(list(tmp_path.iterdir())) == 3  # edf, model, old csv


def test_prepare_skips_bad_files_and_reports_them(edf_file, tmp_path, capsys):
    folder = tmp_path / "psg"
    folder.mkdir()
    (folder / "good.edf").write_bytes(edf_file.read_bytes())
    (folder / "cut.edf").write_bytes(edf_file.read_bytes()[:3000])
    out = tmp_path / "data.h5"
    assert main(["prepare", str(folder), "--out", str(out)]) == 1
    assert "skipped" in capsys.readouterr().err
    with EpochStore(out) as store:
        assert store.recordings == ["good"] and store.labels().tolist() == [0, 0, 1, 2, 2, 3, 4, -1]
    assert not (tmp_path / "data.h5.part").exists()


def test_the_stqs_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "stqs_core.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "score" in result.stdout and "prepare" in result.stdout


def test_score_as_a_process_exits_fast_with_everything_written(edf_file, model_file, tmp_path):
    """``stqs score`` leaves with os._exit: its output, messages and exit codes must all be complete."""
    out = tmp_path / "hyp.csv"
    cmd = [sys.executable, "-m", "stqs_core.cli", "score", str(edf_file), "--model", str(model_file)]
    result = subprocess.run(cmd + ["--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0 and "8 epochs scored" in result.stdout and "kappa" in result.stdout
    assert len(pd.read_csv(out)) == 8
    result = subprocess.run(cmd + ["--eeg", "nope", "--out", str(tmp_path / "bad.csv")], capture_output=True, text=True)
    assert result.returncode == 2 and "nope" in result.stderr and not (tmp_path / "bad.csv").exists()


def test_demo_writes_a_scored_simulated_night_that_scores_again(model_file, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--hours", "0.5", "--model", str(model_file)]) == 0
    assert "accuracy" in capsys.readouterr().out
    table = pd.read_csv(out / "hypnogram.csv")
    assert len(table) == 60 and set(table.true_stage) <= {"W", "N1", "N2", "N3", "REM"}
    assert (out / "hypnogram.png").stat().st_size > 10_000
    events = pd.read_csv(out / "night.events.csv")
    assert {"type", "onset_s", "duration_s"} <= set(events.columns) and len(events) > 0
    again = tmp_path / "again.csv"  # the demo EDF carries its hypnogram and channel names: plain `stqs score` works
    assert main(["score", str(out / "night.edf"), "--model", str(model_file), "--out", str(again)]) == 0
    assert pd.read_csv(again).true_stage.tolist() == table.true_stage.tolist()


def test_cli_interpret_writes_tables_and_report(edf_file, model_file, tmp_path):
    out = tmp_path / "explained"
    assert main(["interpret", str(edf_file), "--model", str(model_file), "--epoch", "2", "--out", str(out)]) == 0
    for name in (
        "frequency_occlusion.csv",
        "modality_importance.csv",
        "filter_peaks.csv",
        "spatial_filters.csv",
        "filters.png",
        "aasm_report.csv",
        "aasm_report.md",
        "time_occlusion_2.csv",
    ):
        assert (out / name).stat().st_size > 0, name
    assert "AASM rules agree" in (out / "aasm_report.md").read_text()


def test_scoring_a_file_with_a_model_trained_on_simulated_nights_warns(edf_file, caplog):
    from stqs_core import score_file

    with caplog.at_level("WARNING"):
        score_file(edf_file, "stqs-cnn-oversampling-sim")
    assert "trained on simulated nights only" in caplog.text


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(edf_file, model_file, tmp_path, capsys):
    before = edf_file.read_bytes()
    hyp = tmp_path / "h.csv"
    hyp.write_text("W\n")
    model = tmp_path / "model.json"  # a model file of any name
    model.write_bytes(model_file.read_bytes())
    for out, extra in ((edf_file, []), (hyp, ["--annotations", str(hyp)]), (model, [])):
        code = main(["score", str(edf_file), "--model", str(model), *extra, "--out", str(out)])
        assert code == 2 and "destroy the input" in capsys.readouterr().err
    assert edf_file.read_bytes() == before and hyp.read_text() == "W\n"
    assert main(["simulate", "--hypnogram", str(edf_file), "--out", str(edf_file)]) == 2
    assert main(["prepare", str(tmp_path), "--out", str(edf_file)]) == 2
    assert main(["train", "--data", str(edf_file), "--out", str(edf_file)]) == 2
    assert edf_file.read_bytes() == before


def test_an_output_in_a_missing_folder_is_a_clear_error(edf_file, model_file, tmp_path, capsys):
    out = tmp_path / "nope" / "h.csv"
    assert main(["score", str(edf_file), "--model", str(model_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not exist; create it first" in err and "Traceback" not in err and not out.parent.exists()


def test_bugs_keep_their_traceback_and_bad_input_gets_one_line(monkeypatch, edf_file, tmp_path, capsys):
    import pytest

    from stqs_core import scoring

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(scoring, "score_file", broken)
    with pytest.raises(ZeroDivisionError):
        main(["score", str(edf_file), "--out", str(tmp_path / "h.csv")])
    monkeypatch.undo()
    assert main(["score", str(tmp_path / "absent.edf"), "--out", str(tmp_path / "h.csv")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["-v", "score", str(tmp_path / "absent.edf"), "--out", str(tmp_path / "h.csv")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "does not exist" in err.splitlines()[-1]


def test_prepare_never_pairs_a_recording_with_another_nights_hypnogram(edf_file, tmp_path, capsys):
    folder, scores = tmp_path / "psg", tmp_path / "scores"
    folder.mkdir()
    scores.mkdir()
    for name in ("shhs1-200001.edf", "shhs1-200002.edf"):
        (folder / name).write_bytes(edf_file.read_bytes())
    (scores / "shhs1-200002-hypnogram.csv").write_text("N2\n" * 8)
    out = tmp_path / "data.h5"
    assert main(["prepare", str(folder), "--annotations", str(scores), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "shhs1-200001.edf: no hypnogram file matches its name" in err
    with EpochStore(out) as store:
        assert store.recordings == ["shhs1-200002"] and store.labels().tolist() == [2] * 8
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("recording,hypnogram\nshhs1-200001.edf,scores/shhs1-200002-hypnogram.csv\n")
    assert main(["prepare", str(folder), "--pairs", str(pairs), "--out", str(out)]) == 1
    assert "shhs1-200002.edf is not listed in the --pairs CSV" in capsys.readouterr().err
    with EpochStore(out) as store:
        assert store.recordings == ["shhs1-200001"] and store.labels().tolist() == [2] * 8


def test_score_removes_temporaries_left_by_a_killed_run(edf_file, model_file, tmp_path):
    import os
    import time

    stale = tmp_path / ".hyp.csv.k1ll3d.part.csv"
    stale.write_text("epoch,onset_s\n0,0")
    os.utime(stale, (time.time() - 86400, time.time() - 86400))  # older than this (long-running) test process
    assert main(["score", str(edf_file), "--model", str(model_file), "--out", str(tmp_path / "hyp.csv")]) == 0
    assert not stale.exists() and len(pd.read_csv(tmp_path / "hyp.csv")) == 8
