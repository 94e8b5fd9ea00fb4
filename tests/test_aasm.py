"""The AASM correspondence report: recovers the rules on simulated nights, and works without expert stages."""

import pytest

from stqs_core import load_model
from stqs_core.constants import STAGES
from stqs_core.interpret import aasm_report, frequency_occlusion, render_markdown, rule_table

from .conftest import CHECKPOINTS, fresh_model, need

OVERSAMPLING_CNN = "model2d_shhs1_4692_5213_allCh_oversampling_cnn"


def test_aasm_report_recovers_the_rules_on_simulated_nights(simulated_night):
    model = load_model(need(CHECKPOINTS / f"{OVERSAMPLING_CNN}.tar"))
    report = aasm_report(model, simulated_night[0], simulated_night[1])
    assert list(report.stage) == list(STAGES)
    assert report.agrees.sum() >= 4, report[["stage", "evidence_occlusion", "evidence_rank", "top_occlusion"]]
    assert report.explanation.str.len().min() > 50
    text = render_markdown(report)
    assert text.count("\n| ") == 1 + len(STAGES)


def test_aasm_report_without_labels_uses_the_model_stages(noise_night):
    x, _ = noise_night
    model = fresh_model("cnn")
    report = aasm_report(model, [x[:10], x[10:]])
    predicted = set(STAGES[s] for s in model.predict_proba(x).argmax(1))
    assert list(report.stage) == list(STAGES)
    assert set(report.stage[report.n_epochs > 0]) == predicted
    assert not report.agrees[report.n_epochs == 0].any()
    assert "model-scored" in " ".join(report.explanation[report.n_epochs > 0])
    assert "no epochs" in render_markdown(report) or len(predicted) == 5
    only_eeg = frequency_occlusion(model, x, modalities=(("eeg",),)).per_epoch
    with pytest.raises(ValueError, match="lack"):
        rule_table(only_eeg)
