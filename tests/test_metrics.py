"""Metrics against hand-computed values, and the DOD-H human reference."""

import numpy as np
import pytest

from stqs_core.metrics import (
    agreement,
    classification_metrics,
    confusion,
    consensus,
    inter_scorer_agreement,
    per_recording,
    spread,
)

from .conftest import HYPNOGRAMS, need

# six scored epochs (the -1 is left out): W W N1 N1 N2 N2 scored as W N1 N1 N1 N2 W
TRUE = np.array([0, 0, 1, 1, 2, 2, -1])
PRED = np.array([0, 1, 1, 1, 2, 0, 3])


def test_metrics_match_hand_computed_values():
    m = classification_metrics(TRUE, PRED)
    assert m["n_scored"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # kappa: po = 2/3, pe = (2*2 + 2*3 + 2*1) / 36 = 1/3 -> (2/3 - 1/3) / (2/3) = 0.5
    assert m["kappa"] == pytest.approx(0.5)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    f1 = {"W": 0.5, "N1": 0.8, "N2": 2 / 3}  # P/R: W 1/2, 1/2; N1 2/3, 1; N2 1, 1/2
    for stage, value in f1.items():
        assert m["per_stage"][stage]["f1"] == pytest.approx(value)
    assert m["per_stage"]["N1"]["precision"] == pytest.approx(2 / 3)
    assert m["per_stage"]["N3"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    assert m["weighted_f1"] == pytest.approx(np.mean(list(f1.values())))  # equal supports
    assert m["confusion"] == [[1, 1, 0, 0, 0], [0, 2, 0, 0, 0], [1, 0, 1, 0, 0], [0] * 5, [0] * 5]


def test_confusion_normalised_rows_and_unscored():
    cm = confusion(TRUE, PRED, normalise=True)
    np.testing.assert_allclose(cm.sum(axis=1), [1, 1, 1, 0, 0])
    assert confusion(TRUE, PRED).sum() == 6
    assert agreement(TRUE, PRED) == {"n_scored": 6, "accuracy": round(4 / 6, 4), "kappa": 0.5}
    assert agreement([-1, -1], [0, 1])["n_scored"] == 0
    with pytest.raises(ValueError, match="length"):
        classification_metrics([0, 1], [0])


def test_per_recording_and_spread():
    rows = per_recording(
        {"a": (np.array([0, 1, 2, 2]), np.array([0, 1, 2, 2])), "b": (np.array([0, 1, 2, 2]), np.array([0, 1, 2, 0]))}
    )
    assert [r["accuracy"] for r in rows] == [1.0, 0.75]
    s = spread(rows)["accuracy"]
    assert s["mean"] == pytest.approx(0.875)
    assert s["sd"] == pytest.approx(np.std([1.0, 0.75], ddof=1))
    assert (s["min"], s["max"]) == (0.75, 1.0)


def test_consensus_majority_ties_and_unscored():
    votes = np.array([[2, 2, 1, -1], [2, 3, 3, -1], [3, 3, 1, -1], [2, 1, 3, -1]])
    # epoch 0: majority N2; 1: N3 two votes vs one each; 2: tie N1/N3 -> the highest-priority voter of a tied stage
    assert consensus(votes, priority=np.array([0.9, 0.1, 0.2, 0.3])).tolist() == [2, 3, 1, -1]
    assert consensus(votes, priority=np.array([0.1, 0.9, 0.2, 0.3])).tolist() == [2, 3, 3, -1]


def test_inter_scorer_agreement_dod_h_is_plausible():
    ref = inter_scorer_agreement(need(HYPNOGRAMS / "dod-h"))
    assert ref["n_nights"] == 25 and len(ref["scorers"]) == 5
    assert len(ref["pairwise"]) == 10 and len(ref["vs_consensus"]) == 5
    for part in ("pairwise", "vs_consensus"):
        kappa = ref["summary"][part]["kappa"]
        assert 0.6 <= kappa["min"] <= kappa["mean"] <= kappa["max"] <= 0.9
    # a scorer agrees better with the consensus of the others than with a single other scorer, on average
    assert ref["summary"]["vs_consensus"]["kappa"]["mean"] > ref["summary"]["pairwise"]["kappa"]["mean"]


@pytest.mark.parametrize("seed", range(5))
def test_agreement_equals_scikit_learn(seed):
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    rng = np.random.default_rng(seed)
    true = rng.integers(-1, 5, 300)
    pred = np.where(rng.random(300) < 0.6, true.clip(0), rng.integers(0, 5, 300))
    keep = true >= 0
    result = agreement(true, pred)
    assert result["accuracy"] == round(accuracy_score(true[keep], pred[keep]), 4)
    assert result["kappa"] == round(cohen_kappa_score(true[keep], pred[keep]), 4)
    assert agreement([2, 2, 2], [2, 2, 2])["kappa"] == 1.0
