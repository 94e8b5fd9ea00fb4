"""Scoring with adaptation, confidence, review marks, the out-of-domain score and the hypnodensity figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import cohen_kappa_score

from stqs_core import load_model, read_hypnogram, score_recording
from stqs_core.adapt import DEFAULT_METHOD
from stqs_core.cli import main
from stqs_core.constants import STAGES
from stqs_core.errors import ChannelError, StqsError
from stqs_core.model import keep_modalities
from stqs_core.scoring import MODEL_FOR, recording_epochs
from stqs_core.simulate import simulate_night

from .conftest import CHECKPOINTS, SHARED, need


@pytest.fixture(scope="module")
def recording():
    return simulate_night(hours=0.25, seed=5).recording  # 30 epochs


def test_adapt_scores_with_a_copy_and_says_so(recording, one_torch_thread):
    model = load_model("stqs-cnn-oversampling-sim")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = score_recording(recording, model)
    adapted = score_recording(recording, model, adapt=True)
    named = score_recording(recording, model, adapt="adabn")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert plain.summary()["adaptation"] is None and adapted.summary()["adaptation"] == DEFAULT_METHOD
    assert named.adaptation == "adabn" and not np.allclose(named.proba, plain.proba, atol=1e-3)
    assert plain.ood_score == pytest.approx(adapted.ood_score, abs=1e-9)  # measured on the unadapted model
    assert 0 <= plain.summary()["ood_score"] < 1
    with pytest.raises(StqsError, match="adapt"):
        score_recording(recording, model, adapt="bn")


def test_confidence_entropy_and_review_columns(recording):
    night = score_recording(recording, "stqs-cnn-oversampling-sim", review_below=0.9)
    table = night.to_frame()
    assert {"confidence", "entropy", "review"} <= set(table.columns)
    np.testing.assert_allclose(table.confidence, night.proba.max(1), atol=1e-5)
    assert table.confidence.between(0.2, 1).all() and table.entropy.between(0, 1).all()
    assert (table.review == (night.proba.max(1) < 0.9)).all()
    # more confident epochs have lower entropy (rank agreement over the night)
    assert np.corrcoef(table.confidence.rank(), table.entropy.rank())[0, 1] < -0.5
    summary = night.summary()
    assert summary["n_review"] == int(table.review.sum()) and summary["review_below"] == 0.9
    assert summary["mean_confidence"] == pytest.approx(table.confidence.mean(), abs=1e-4)
    assert "review" not in score_recording(recording, "stqs-cnn-oversampling-sim").to_frame()


def test_short_recordings_score_without_an_ood_score(recording):
    short = type(recording)(recording.data[:, : 8 * 30 * 125], recording.sfreq, recording.channel_names, name="short")
    night = score_recording(short, "stqs-cnn-oversampling-sim", adapt=True)
    assert night.ood_score is None and night.adaptation is None and night.summary()["ood_score"] is None


def test_cli_score_adapt_review_and_figure(recording, tmp_path, capsys):
    from stqs_core.edf import write_edf

    edf = write_edf(
        tmp_path / "n.edf", recording.data, recording.channel_names, recording.sfreq, stages=recording.hypnogram
    )
    out, figure = tmp_path / "n.json", tmp_path / "n.png"
    assert (
        main(
            [
                "score",
                str(edf),
                "--model",
                "stqs-cnn-oversampling-sim",
                "--adapt-method",
                "adabn",
                "--review-below",
                "0.95",
                "--figure",
                str(figure),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["adaptation"] == "adabn" and 0 <= report["ood_score"] < 1
    assert len(report["confidence"]) == len(report["entropy"]) == len(report["review"]) == report["n_epochs"]
    printed = capsys.readouterr().out
    assert f"{report['n_review']} of {report['n_epochs']} epochs to review" in printed
    assert "adapted to the recording: adabn" in printed and "out-of-domain score" in printed
    assert figure.stat().st_size > 10_000
    assert main(["score", str(edf), "--model", "stqs-cnn-oversampling-sim", "--out", str(tmp_path / "n.csv")]) == 0
    assert "review" not in pd.read_csv(tmp_path / "n.csv").columns


def test_edf_output_carries_confidence_annotations(recording, tmp_path):
    import mne

    from stqs_core.annotations import read_hypnogram

    night = score_recording(recording, "stqs-cnn-oversampling-sim", review_below=0.99)
    path = night.write(tmp_path / "n.edf")
    notes = [d for d in mne.read_annotations(path).description if d.startswith("STQS confidence")]
    assert len(notes) == len(night.proba) and sum(n.endswith("review") for n in notes) == night.review.sum()
    np.testing.assert_array_equal(read_hypnogram(path), night.stages)  # stage annotations read back unchanged


ROWS = {"eeg": [0, 1], "eog": [2, 3], "emg": [4]}


def only(recording, modalities):
    """The recording as a file with only these modalities would read."""
    rows = [r for role in modalities for r in ROWS[role]]
    names = [recording.channel_names[r] for r in rows]
    return type(recording)(
        recording.data[rows], recording.sfreq, names, recording.hypnogram, recording.name, modalities=modalities
    )


@pytest.mark.parametrize("modalities", [("eeg",), ("eeg", "eog"), ("eeg", "emg"), ("eeg", "eog", "emg")])
def test_each_subset_of_modalities_is_scored_by_the_model_chosen_for_it(recording, modalities):
    need(CHECKPOINTS)
    night = score_recording(only(recording, modalities))
    name, _ = MODEL_FOR[modalities]
    summary = night.summary()
    assert summary["model"] == name and summary["why"].startswith(name)
    assert summary["modalities"] == list(modalities)
    assert summary["missing"] == [r for r in ("eeg", "eog", "emg") if r not in modalities]
    assert set(summary["channels"]) == set(modalities)
    full = score_recording(recording, keep_modalities(load_model(name), modalities))
    np.testing.assert_allclose(night.proba, full.proba, atol=1e-6)  # the same blocks, the same rows


def test_a_full_model_scores_an_eeg_only_recording_without_its_other_blocks(recording):
    model = load_model("stqs-cnn-oversampling-sim")
    night = score_recording(only(recording, ("eeg",)), model)
    expected = keep_modalities(model, ["eeg"]).predict_proba(recording_epochs(recording, ("eeg",))[0].data)
    np.testing.assert_allclose(night.proba, expected, atol=1e-6)
    assert "without its EOG and EMG blocks" in night.summary()["why"]
    eeg_only = keep_modalities(model, ["eeg"])
    both = score_recording(recording, eeg_only)  # a full PSG scored by an EEG-only model: EOG and EMG unused
    assert both.summary()["modalities"] == ["eeg"] and "EOG and EMG not scored" in both.summary()["why"]
    with pytest.raises(ChannelError, match="reads EOG"):
        score_recording(only(recording, ("eeg",)), keep_modalities(model, ["eog"]))


def test_the_real_eeg_excerpts_score_with_no_options(tmp_path, capsys):
    """The default command on real single-EEG recordings (C3-A1 at 100 Hz, Cz-A1 at 200 Hz) from another lab."""
    need(CHECKPOINTS)
    folder = need(SHARED / "data" / "real" / "dreams")
    kappas = []
    for edf in sorted(folder.glob("excerpt*.edf")):
        assert main(["score", str(edf), "--out", str(tmp_path / f"{edf.stem}.json")]) == 0
        assert "scored EEG (missing: EOG, EMG) with shhs-cnn" in capsys.readouterr().out
        stages = json.loads((tmp_path / f"{edf.stem}.json").read_text())["stage"]
        predicted = np.array([STAGES.index(s) for s in stages])
        true = read_hypnogram(edf.with_suffix(".stages.csv"))[: len(predicted)]
        kappas.append(cohen_kappa_score(true, predicted))
    assert len(kappas) == 4 and np.mean(kappas) > 0.45  # measured 0.51 (benchmarks/real_eeg.py)
    assert main(["score", str(folder), "--out", str(tmp_path / "cohort")]) == 0
    table = pd.read_csv(tmp_path / "cohort" / "cohort.csv")
    assert (table.modalities == "eeg").all() and (table.status == "ok").all() and len(table) == 4


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("classifier.weight", float("nan"), "gives NaN or inf stage scores for 30 of 30 finite epochs"),
        ("blocks.eeg.temporal1.1.running_var", float("inf"), "out-of-domain score is nan"),
    ],
)
def test_scoring_refuses_non_finite_probabilities(recording, model_file, key, value, message):
    from stqs_core.errors import ModelError

    model = load_model(model_file)
    with torch.no_grad():
        model.state_dict()[key].view(-1)[0] = value  # in memory: a file with it no longer loads
    with pytest.raises(ModelError, match=message):
        score_recording(recording, model)


def test_non_finite_epochs_are_refused_before_scoring(model_file, noise_night):
    epochs = noise_night[0].copy()
    epochs[[3, 7], 4, 10] = [np.nan, np.inf]
    with pytest.raises(StqsError, match="2 of 20 epochs hold NaN or inf values \\(first: epoch 3\\).*make_epochs"):
        load_model(model_file).predict_proba(epochs)
