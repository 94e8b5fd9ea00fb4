"""Interpretation of a model with fewer modalities: an EEG-only model on the EEG rows of a simulated night is
occluded, triaged and checked against the AASM rules over the modalities it has; the absent ones are reported as
absent (not testable), never as zero rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from stqs_core import STQS, STQSConfig
from stqs_core.errors import StqsError
from stqs_core.interpret import (
    DEFAULT_BANDS,
    BaselinePass,
    aasm_report,
    evidence_triage,
    frequency_occlusion,
    modality_importance,
    occlude_band,
    render_markdown,
    rule_table,
    time_occlusion,
)
from stqs_core.interpret.bands import absent_modalities, modality_rows, row_labels
from stqs_core.model import keep_modalities


@pytest.fixture(scope="module")
def eeg_night():
    """A seeded EEG-only CNN (from a full one) and the EEG rows of 24 epochs of a simulated night."""
    from stqs_core import make_epochs
    from stqs_core.simulate import simulate_night

    torch.manual_seed(0)
    model = keep_modalities(STQS(STQSConfig(variant="cnn")), ["eeg"])
    night = simulate_night(np.repeat([0, 2, 3, 4], 6), seed=2)
    epochs = make_epochs(night.recording.data, night.recording.sfreq).data[:, :2]
    return model, np.ascontiguousarray(epochs), night.stages[: len(epochs)]


def test_rows_come_from_the_model():
    assert modality_rows() == {"eeg": [0, 1], "eog": [2, 3], "emg": [4]}
    assert modality_rows({"eeg": 2, "emg": 1}) == {"eeg": [0, 1], "emg": [2]}
    assert row_labels(STQSConfig(n_channels={"eeg": 2})) == ["eeg", "eeg"]
    assert absent_modalities(STQSConfig(n_channels={"eeg": 2})) == ("eog", "emg")


def test_occlude_band_on_eeg_only_epochs(eeg_night):
    _, x, _ = eeg_night
    out = occlude_band(x, DEFAULT_BANDS["alpha"], n_channels={"eeg": 2})
    assert out.shape == x.shape and not np.allclose(out, x)
    with pytest.raises(StqsError, match="no EOG block"):
        occlude_band(x, DEFAULT_BANDS["alpha"], modalities=("eog",), n_channels={"eeg": 2})


def test_frequency_occlusion_and_modality_importance_list_only_eeg(eeg_night):
    model, x, y = eeg_night
    baseline = BaselinePass(model, x)
    assert baseline.absent == ("eog", "emg")
    occlusion = frequency_occlusion(model, x, y, baseline=baseline)
    assert set(occlusion.per_epoch.modalities) == {"eeg"}
    assert set(occlusion.per_epoch.band) == set(DEFAULT_BANDS)
    expected = model.predict_proba(occlude_band(x, DEFAULT_BANDS["delta"], n_channels={"eeg": 2}))
    delta = occlusion.per_epoch[occlusion.per_epoch.band == "delta"]
    np.testing.assert_allclose(delta.d_W.to_numpy(), expected[:, 0] - occlusion.proba[:, 0], atol=1e-5)
    importance = modality_importance(model, x, y, baseline=baseline)
    assert set(importance.occluded) == {"eeg"} and len(importance) == 6
    with pytest.raises(StqsError, match="no EMG block"):
        frequency_occlusion(model, x, modalities=(("emg",),), baseline=baseline)


def test_time_occlusion_on_eeg_only(eeg_night):
    model, x, _ = eeg_night
    result = time_occlusion(model, x, 3, window_s=5, stride_s=2.5)
    assert len(result.per_sample) == 3750 and np.isfinite(result.per_sample.importance).all()
    with pytest.raises(StqsError, match="no EOG block"):
        time_occlusion(model, x, 3, modalities="eog")


def test_aasm_rules_needing_absent_modalities_are_not_testable(eeg_night):
    model, x, y = eeg_night
    report = aasm_report(model, x, y).set_index("stage")
    assert report.agrees["REM"] is None
    assert "Not testable: no EOG/EMG" in report.explanation["REM"]
    assert all(isinstance(report.agrees[s], bool) for s in ("N1", "N2", "N3"))
    assert "EMG evidence is not testable: no EMG" in report.explanation["W"]
    assert report.evidence_rank.dropna().le(5).all()  # ranked among the 5 EEG occlusions
    text = render_markdown(report.reset_index())
    assert "not testable: no EOG/EMG" in text and "of 4 AASM rules agree" in text
    occlusion = frequency_occlusion(model, x, y)
    with pytest.raises(StqsError, match="lack"):  # without saying which modalities are absent
        rule_table(occlusion.per_epoch)


def test_triage_on_eeg_only(eeg_night):
    model, x, _ = eeg_night
    result = evidence_triage(model, x, seconds="none")
    assert result.drops.shape == (len(x), 5)
    assert {m for _, m in result.occlusions} == {"eeg"}
    rem = result.per_epoch[result.per_epoch.stage == 4]
    assert rem.rule_ok.all() and rem.rule_evidence.eq("not testable: no EOG/EMG").all()
    assert set(result.per_epoch.deciding_modality) == {"eeg"}
    assert list(result.reliance().columns) == [f"eeg {band}" for band in DEFAULT_BANDS]


def test_evidence_table_does_not_flag_rules_it_cannot_test():
    from stqs_core.interpret import evidence_table

    occlusions = [(band, "eeg") for band in DEFAULT_BANDS]
    drops = np.array([[0.0, 0.0, 0.0, 0.0, 0.5], [0.0, 0.5, 0.0, 0.0, 0.0]])  # W on EEG beta, REM on EEG theta
    table = evidence_table(drops, occlusions, np.array([0, 4]), absent=("eog", "emg"))
    assert table.rule_ok.all()
    assert table.rule_evidence[1] == "not testable: no EOG/EMG" and np.isnan(table.rule_rank[1])
    assert table.rule_evidence[0] == "EEG beta" and table.rule_rank[0] == 1


def test_plots_draw_only_the_present_modalities(eeg_night):
    from stqs_core.interpret.aasm import stage_drops
    from stqs_core.plots import plot_filters, plot_frequency_occlusion, plot_time_occlusion

    model, x, y = eeg_night
    fig = plot_filters(model, title="eeg-only")
    assert len(fig.axes) == 2 and "no EOG, EMG" in fig._suptitle.get_text()
    result = time_occlusion(model, x, 2, window_s=5, stride_s=5)
    fig = plot_time_occlusion(result, x[2], n_channels=model.config.n_channels)
    assert len(fig.axes) == 2 and [a.get_ylabel() for a in fig.axes][0].startswith("EEG")
    assert "no EOG, EMG" in fig._suptitle.get_text()
    drops = stage_drops(frequency_occlusion(model, x, y).per_epoch)
    fig = plot_frequency_occlusion(drops, modalities=model.config.modalities)
    assert "no EOG, EMG" in fig.axes[0].get_title()


def test_cli_interpret_on_an_eeg_only_file(tmp_path, model_file):
    from stqs_core.cli import main
    from stqs_core.edf import write_edf

    rng = np.random.default_rng(0)
    path = tmp_path / "eeg_only.edf"
    write_edf(path, rng.standard_normal((2, 10 * 60 * 125)) * 30, ["EEG C3-A2", "EEG C4-A1"], 125)
    out = tmp_path / "explained"
    assert main(["interpret", str(path), "--model", str(model_file), "--epoch", "1", "--out", str(out)]) == 0
    importance = pd.read_csv(out / "modality_importance.csv")
    assert set(importance.occluded) == {"eeg"}
    assert set(pd.read_csv(out / "frequency_occlusion.csv").modalities) == {"eeg"}
    report = (out / "aasm_report.md").read_text()
    assert "not testable: no EOG/EMG" in report and "of 4 AASM rules agree" in report
    assert (out / "time_occlusion_1.csv").stat().st_size > 0 and (out / "filters.png").stat().st_size > 0


def test_a_scoring_page_has_the_rows_the_recording_has():
    from stqs_core.teaching import page_rows

    rows = page_rows(["C3-A2", "C4-A1", "Chin"], ["eeg", "eeg", "emg"])
    assert [r.name for r in rows] == ["C3-A2", "C4-A1", "Chin"]
    assert [bool(r.references) for r in rows] == [True, True, False]  # no slow-wave lines on the EMG
    assert [bool(r.references) for r in page_rows(["a", "b", "c", "d", "e"])] == [True, True, False, False, False]


def test_triage_columns_of_an_eeg_only_night_are_json_ready(eeg_night):
    import json

    from stqs_core.scoring import triage_columns

    model, x, _ = eeg_night
    per_epoch = evidence_triage(model, x, seconds="none").per_epoch.copy()
    per_epoch.loc[0, ["rule_drop", "rule_evidence"]] = [np.nan, "not testable: no EOG/EMG"]
    columns = triage_columns(per_epoch)
    assert columns["rule_drop"][0] is None
    json.dumps(columns, allow_nan=False)
