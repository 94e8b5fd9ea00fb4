"""The dashboard's data-source layer with fewer modalities: an EEG-only recording is read, scored and interpreted
with the model's EEG block only, and the absent modalities are named, not drawn as flat rows."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from .conftest import ROOT


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """The dashboard's ``sources`` module with a data folder in ``tmp_path``."""
    sys.path.insert(0, str(ROOT / "dashboards"))
    import sources

    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv(sources.DATA_DIRS_ENV, str(folder))
    return sources


@pytest.fixture
def eeg_only_edf(tmp_path):
    """A 10-minute EDF with two EEG channels only and a hypnogram."""
    from stqs_core.edf import write_edf

    rng = np.random.default_rng(0)
    path = tmp_path / "data" / "eeg_only.edf"
    path.parent.mkdir(exist_ok=True)
    stages = np.tile([0, 1, 2, 2, 3], 4)
    return write_edf(path, rng.standard_normal((2, 10 * 60 * 125)) * 30, ["EEG C3-A2", "EEG C4-A1"], 125, stages=stages)


def test_an_eeg_only_recording_is_scored_and_interpreted_with_eeg_only(sources, eeg_only_edf):
    night = sources.edf_night(eeg_only_edf.name)
    assert night.modalities == ("eeg",) and night.epochs.shape[1:] == (2, 3750)
    assert night.roles == ["eeg", "eeg"] and night.recording.data.shape[0] == 2
    assert sources.absent_note(night) == "No EOG, EMG in this recording: shown as absent, not as flat lines."
    key = sources.UNTRAINED  # a full cnnlstm: its EOG and EMG blocks are left out for this night
    model = sources.night_model(night, key)
    assert model.config.modalities == ("eeg",)
    assert sources.probabilities(night, key).shape == (len(night.epochs), 5)
    importance = sources.modality_importance(night, key)
    assert set(importance.occluded) == {"eeg"}
    report = sources.aasm_report(night, key).set_index("stage")
    assert report.agrees["REM"] is None and "no EOG/EMG" in report.explanation["REM"]
    assert len(sources.time_occlusion(night, key, 3).per_sample) == 3750


def test_a_subset_model_on_a_full_night_reads_its_rows_only(sources, tmp_path, monkeypatch):
    from stqs_core import STQS, STQSConfig, save_model
    from stqs_core.model import keep_modalities

    torch.manual_seed(0)
    path = save_model(keep_modalities(STQS(STQSConfig(variant="cnn")), ["eeg"]), tmp_path / "data" / "eeg.pt")
    night = sources.demo_night(hours=0.1, seed=1)
    key = sources.resolve_model(str(path))
    assert sources.model_epochs(night, key).shape[1] == 2
    assert sources.absent_note(night, key) == "The model has no EOG, EMG blocks: the EOG, EMG are not scored."
    assert sources.aasm_report(night, key).set_index("stage").agrees["REM"] is None
    assert sources.probabilities(night, key).shape == (len(night.epochs), 5)


def test_the_dashboard_shows_an_eeg_only_recording_without_empty_rows(sources, eeg_only_edf):
    import app

    dash = app.Dashboard(hours=0.2)
    try:
        dash.param.update(source="EDF file", edf_path=eeg_only_edf.name, epoch=3)
        dash.load_night()
        assert not dash.alert.visible, dash.alert.object
        assert len(dash.channels().object) == 2  # one trace per EEG row, none for EOG or EMG
        assert "No EOG, EMG in this recording" in dash.absent().object
        views = dash.importance()
        text = " ".join(str(getattr(p, "object", p)) for p in views)
        assert "1 not testable" in text and "not testable: no EOG/EMG" in text
        assert dash.filters() is not None and dash.time_plot() is not None
        assert dash.param.modalities.objects == ["eeg"]  # occlusion is offered in the modalities read only
    finally:
        dash.close()
