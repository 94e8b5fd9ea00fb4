"""Teaching: quiz epochs, hard epochs, scoring a student's answers, the scorer's page."""

from __future__ import annotations

import numpy as np
import pytest

from stqs_core.constants import EPOCH_SEC
from stqs_core.errors import StqsError
from stqs_core.recording import Recording
from stqs_core.teaching import (
    SLOW_WAVE_UV,
    answer_table,
    hard_epochs,
    page_rows,
    parse_answers,
    quiz_epochs,
    score_answers,
    scoring_page,
)

TRUE = np.array([0, 0, 1, 2, 2, 2, 3, 3, -1, 4, 4])


def _proba(stages: np.ndarray, confident: float = 0.9) -> np.ndarray:
    proba = np.full((len(stages), 5), (1 - confident) / 4)
    proba[np.arange(len(stages)), np.clip(stages, 0, 4)] = confident
    return proba


def test_hard_epochs_are_transitions_and_low_confidence():
    proba = _proba(TRUE)
    proba[4] = 0.2  # the middle N2 epoch: the model cannot tell
    hard = hard_epochs(TRUE, proba)
    # transitions 0|1 (W->N1), 2 (N1->N2), 3, 5|6 (N2->N3), 7|9 (N3->REM across the unscored epoch); 4 unsure
    assert np.flatnonzero(hard).tolist() == [1, 2, 3, 4, 5, 6, 7, 9]
    assert not hard[8]  # unscored: never asked


def test_quiz_epochs_filter_and_a_seeded_order():
    proba = _proba(TRUE)
    all_epochs = quiz_epochs(TRUE, seed=3)
    assert sorted(all_epochs.tolist()) == [0, 1, 2, 3, 4, 5, 6, 7, 9, 10]
    np.testing.assert_array_equal(all_epochs, quiz_epochs(TRUE, seed=3))  # the seed decides the order
    assert any(not np.array_equal(all_epochs, quiz_epochs(TRUE, seed=s)) for s in range(4, 8))
    assert sorted(quiz_epochs(TRUE, stage="N2").tolist()) == [3, 4, 5]
    assert sorted(quiz_epochs(TRUE, proba, stage="REM", hard=True).tolist()) == [9]
    with pytest.raises(StqsError, match="proba"):
        quiz_epochs(TRUE, hard=True)
    with pytest.raises(StqsError, match="stage"):
        quiz_epochs(TRUE, stage="N4")


def test_score_answers_counts_right_answers_and_the_confusion():
    expert = np.array([2, 2, 3, 0, 4])
    answers = parse_answers("N2 N3, N3 ? REM")
    assert answers.tolist() == [2, 3, 3, -1, 4]
    score = score_answers(expert, answers)
    assert score["answered"] == 4 and score["correct"] == 3 and score["accuracy"] == pytest.approx(0.75)
    assert score["confusion"][2, 3] == 1 and score["confusion"][2, 2] == 1 and score["confusion"].sum() == 4
    assert score_answers(expert, np.full(5, -1))["accuracy"] is None
    assert score_answers(expert, parse_answers("N2 W"))["answered"] == 2  # the rest not answered yet
    with pytest.raises(StqsError, match="at most one answer"):
        score_answers(expert, np.zeros(6, dtype=int))
    table = answer_table(np.array([3, 9]), parse_answers("N2"), TRUE, _proba(TRUE))
    assert table.you.tolist() == ["N2", "?"] and table.expert.tolist() == ["N2", "REM"]
    assert table.right.tolist() == [True, False] and table.model.tolist() == ["N2", "REM"]


def test_scoring_page_is_the_epoch_through_the_display_filters():
    sfreq, n_epochs = 100.0, 3
    t = np.arange(int(n_epochs * EPOCH_SEC * sfreq)) / sfreq
    slow = 40 * np.sin(2 * np.pi * 1.0 * t)  # a 1-Hz, 80-µV peak-to-peak wave: passes the EEG filter
    data = np.stack([slow + 500, slow, slow, slow, slow + 20 * np.sin(2 * np.pi * 30 * t)]).astype(np.float32)
    times, page = scoring_page(Recording(data, sfreq, ["C3", "C4", "E1", "E2", "chin"]), 1)
    assert times.shape == (3000,) and page.shape == (5, 3000) and times[-1] == pytest.approx(29.99)
    inside = slice(200, -200)
    np.testing.assert_allclose(page[0, inside], slow[3000:6000][inside], atol=2.0)  # the 500-µV offset is gone
    assert np.ptp(page[4]) == pytest.approx(40, abs=4)  # the EMG keeps its 30 Hz and loses the 1-Hz wave
    rows = page_rows(["C3", "C4", "E1", "E2", "chin"])
    assert [r.references for r in rows[:2]] == [(-SLOW_WAVE_UV / 2, SLOW_WAVE_UV / 2)] * 2 and rows[2].references == ()
    assert [r.baseline for r in rows] == sorted((r.baseline for r in rows), reverse=True)  # EEG on top
    with pytest.raises(StqsError, match="epoch"):
        scoring_page(Recording(data, sfreq, ["C3", "C4", "E1", "E2", "chin"]), 3)
