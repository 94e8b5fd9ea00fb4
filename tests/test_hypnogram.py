"""The hypnogram vocabulary: names and codes both ways, runs, trimming wake, plot levels, and the Hypnogram class."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stqs_core.errors import HypnogramError
from stqs_core.hypnogram import (
    LEVELS,
    STAGES,
    STYLES,
    UNSCORED,
    Hypnogram,
    check_stages,
    fill_unscored,
    is_stage_label,
    levels,
    runs,
    stage_code,
    stage_name,
    stage_names,
    trim_wake,
)
from stqs_core.sleepstats import sleep_statistics

NIGHTS = arrays(np.int8, st.integers(0, 300), elements=st.integers(-1, 4))
"""Random hypnograms: codes -1..4, up to 300 epochs (empty included)."""


@pytest.mark.parametrize(
    "label, code",
    [
        ("W", 0),
        ("Sleep stage W", 0),
        ("Sleep stage 1", 1),
        ("N2", 2),
        ("Sleep stage 3", 3),
        ("Sleep stage 4", 3),
        ("Sleep stage R", 4),
        ("Sleep stage N3", 3),
        ("REM", 4),
        ("4", 4),
        (4, 4),
        ("0", 0),
        ("Sleep stage ?", -1),
        ("Movement time", -1),
        ("Stage 4 sleep|4", 3),
        ("REM sleep|5", 4),
        ("Wake|0", 0),
        ("Unscored|9", -1),
        ("-1", -1),
    ],
)
def test_stage_vocabulary(label, code):
    assert stage_code(label) == code


@pytest.mark.parametrize("label", ["N5", "deep", "7", "Sleep stage X"])
def test_unknown_stage_is_an_error(label):
    with pytest.raises(ValueError, match="unknown sleep stage"):
        stage_code(label)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_names_read_back_as_their_codes_in_every_style(style):
    codes = [UNSCORED, *range(len(STAGES))]
    names = stage_names(codes, style)
    assert [stage_code(name) for name in names] == codes
    assert len(set(names)) == len(codes)  # no two codes share a spelling
    if style != "nsrr":  # NSRR XML marks stages by event type; "Unscored|9" alone is no annotation of a stage
        assert all(is_stage_label(name) for name in names)
    assert [stage_name(c, style) for c in codes] == names


def test_the_spellings_of_each_convention():
    assert stage_names([0, 1, 2, 3, 4, -1]) == ["W", "N1", "N2", "N3", "REM", "?"]
    assert stage_names([4, -1], "edf") == ["Sleep stage R", "Sleep stage ?"]
    assert stage_names([0, 4, -1], "yasa") == ["WAKE", "REM", "UNS"]
    assert stage_names([4, -1], "bids") == ["REM", "n/a"]
    assert stage_names([4, 3, -1], "nsrr") == ["REM sleep|5", "Stage 3 sleep|3", "Unscored|9"]
    assert not is_stage_label("Lights off") and not is_stage_label(3)
    with pytest.raises(HypnogramError, match="style"):
        stage_names([0], "rk")
    with pytest.raises(HypnogramError, match="stage codes"):
        stage_names([0, 5])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(NIGHTS)
def test_runs_round_trip(stages):
    found = runs(stages)
    np.testing.assert_array_equal(np.repeat(found.stage, found.length), stages)
    assert (found.length >= 1).all()
    assert (found.stage[1:] != found.stage[:-1]).all()  # maximal runs: neighbours differ
    np.testing.assert_array_equal(found.start, np.r_[0, np.cumsum(found.length)[:-1]][: len(found.length)])


def test_runs_of_a_hand_written_night():
    found = runs([0, 0, 2, 2, 2, -1, 4])
    assert found.stage.tolist() == [0, 2, -1, 4]
    assert found.start.tolist() == [0, 2, 5, 6] and found.length.tolist() == [2, 3, 1, 1]
    empty = runs([])
    assert len(empty.stage) == len(empty.start) == len(empty.length) == 0


def test_trim_wake_keeps_the_sleep_period_and_the_wake_around_it():
    night = np.r_[[-1] * 5, [0] * 100, [2, 0, 3], [0] * 70, [-1] * 3]
    trimmed = trim_wake(night, keep_min=30.0)  # 60 epochs of 30 s each side
    np.testing.assert_array_equal(trimmed, np.r_[[0] * 60, [2, 0, 3], [0] * 60])
    np.testing.assert_array_equal(trim_wake(night, keep_min=1.0, epoch_sec=20.0), np.r_[[0] * 3, [2, 0, 3], [0] * 3])
    assert len(trim_wake(np.r_[[0] * 10, [-1] * 3])) == 0
    short = np.r_[[0] * 3, [1, 2], [0] * 2]
    np.testing.assert_array_equal(trim_wake(short), short)  # less wake than kept: nothing dropped


@settings(max_examples=200, deadline=None, derandomize=True)
@given(NIGHTS, st.integers(0, 60))
def test_trim_wake_drops_only_wake_outside_the_sleep_period(stages, keep):
    trimmed = trim_wake(stages, keep_min=keep / 2)  # keep epochs of 30 s
    asleep = np.flatnonzero(stages > 0)
    if not len(asleep):
        assert len(trimmed) == 0
        return
    first = max(asleep[0] - keep, 0)
    np.testing.assert_array_equal(trimmed, stages[first : asleep[-1] + 1 + keep])
    assert np.sum(trimmed > 0) == len(asleep)


def test_levels_draw_rem_between_wake_and_n1_and_unscored_as_a_gap():
    height = dict(zip(STAGES, LEVELS))
    assert height["W"] > height["REM"] > height["N1"] > height["N2"] > height["N3"]
    assert sorted(LEVELS.tolist()) == list(range(len(STAGES)))
    drawn = levels([0, 4, 1, 2, 3, -1])
    np.testing.assert_array_equal(drawn[:5], [4, 3, 2, 1, 0])
    assert np.isnan(drawn[5])


def test_fill_unscored_takes_the_previous_scored_stage():
    np.testing.assert_array_equal(fill_unscored([-1, -1, 2, -1, 3, -1]), [2, 2, 2, 2, 3, 3])
    with pytest.raises(HypnogramError, match="no scored epoch"):
        fill_unscored([-1, -1])


@pytest.mark.parametrize("bad", [[[0, 1]], [0, 5], [0, -2], [0, 1.5]])
def test_check_stages_refuses_what_is_not_a_hypnogram(bad):
    with pytest.raises(HypnogramError):
        check_stages(bad)


def test_check_stages_empty_only_when_allowed():
    with pytest.raises(HypnogramError, match="non-empty"):
        check_stages([])
    assert check_stages([], allow_empty=True).shape == (0,)
    assert check_stages([0, 4, -1]).dtype == np.int8


@settings(max_examples=100, deadline=None, derandomize=True)
@given(NIGHTS.filter(len), st.sampled_from([20.0, 30.0]))
def test_statistics_are_those_of_sleepstats(stages, epoch_sec):
    got = Hypnogram(stages, epoch_sec).statistics(persistent_min=5.0)
    want = sleep_statistics(stages, epoch_sec=epoch_sec, persistent_min=5.0)
    assert got.keys() == want.keys()
    for key in want:  # the same function on the same codes: equal, NaN where undefined
        assert got[key] == want[key] or (np.isnan(got[key]) and np.isnan(want[key])), key


def test_the_hypnogram_class():
    hyp = Hypnogram.from_names(["W", "Sleep stage 1", "N2", "N2", "R", "?", "W"])
    assert len(hyp) == 7 and hyp.epoch_sec == 30.0 and hyp.stages.dtype == np.int8
    assert hyp.names() == ["W", "N1", "N2", "N2", "REM", "?", "W"]
    assert hyp.names("yasa")[-3:] == ["REM", "UNS", "WAKE"]
    assert hyp.runs().length.tolist() == [1, 1, 2, 1, 1, 1]
    np.testing.assert_array_equal(hyp.levels()[:5], [4, 2, 1, 1, 3])
    np.testing.assert_array_equal(hyp.fill_unscored().stages, [0, 1, 2, 2, 4, 4, 0])
    trimmed = Hypnogram(np.r_[[0] * 10, 2, [0] * 10], epoch_sec=60.0).trim_wake(keep_min=2.0)
    assert trimmed.epoch_sec == 60.0 and trimmed.stages.tolist() == [0, 0, 2, 0, 0]
    with pytest.raises(ValueError):
        hyp.stages[0] = 2  # read-only
    source = np.array([0, 2, 2])
    copy = Hypnogram(source)
    source[0] = 3
    assert copy.stages[0] == 0  # a copy, not a view of the caller's array
    with pytest.raises(HypnogramError):
        Hypnogram([0, 9])
    with pytest.raises(HypnogramError, match="epoch_sec"):
        Hypnogram([0], epoch_sec=0)
