"""Sleep statistics: hand-checked nights, invariants on random nights, and YASA on every real hypnogram."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stqs_core.annotations import read_hypnogram
from stqs_core.errors import HypnogramError
from stqs_core.sleepstats import sleep_statistics, statistics_agreement

from .conftest import HYPNOGRAMS, need

W, N1, N2, N3, R, U = 0, 1, 2, 3, 4, -1


def test_a_hand_scored_night():
    # 2 min awake, then N1 N2 N2 W(awakening) N2 N3 N3 REM REM, unscored, W W at the end: 30-s epochs
    night = [W, W, W, W, N1, N2, N2, W, N2, N3, N3, R, R, U, W, W]
    s = sleep_statistics(night)
    assert s["TIB"] == 8.0 and s["unscored"] == 0.5
    assert s["SOL"] == 2.0  # 4 wake epochs before the first N1
    assert s["SPT"] == 4.5  # epochs 4..12
    assert s["TST"] == 4.0 and s["WASO"] == 0.5
    assert s["SE"] == pytest.approx(50.0) and s["SME"] == pytest.approx(400 / 4.5)
    assert s["REM_latency"] == 3.5  # epoch 11 - epoch 4
    assert s["n_awakenings"] == 1
    assert s["n_transitions"] == 5  # inside the sleep period: N1>N2, N2>W, W>N2, N2>N3, N3>R
    assert s["SFI"] == pytest.approx(1 / (4.0 / 60))
    assert s["N3"] == 1.0 and s["%N3"] == pytest.approx(25.0)
    assert np.isnan(s["LPS"])  # never 10 min of uninterrupted sleep


def test_persistent_sleep_and_no_sleep():
    night = [W] * 6 + [N2] * 4 + [W] + [N2] * 20 + [W] * 3
    s = sleep_statistics(night)
    assert s["SOL"] == 3.0 and s["LPS"] == 5.5  # the first run of 4 is too short, the run of 20 counts
    awake = sleep_statistics([W, W, U, W])
    assert awake["TST"] == 0 and awake["SE"] == 0 and np.isnan(awake["SOL"]) and np.isnan(awake["WASO"])
    with pytest.raises(HypnogramError):
        sleep_statistics([0, 7])
    with pytest.raises(HypnogramError):
        sleep_statistics([])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.integers(-1, 4), min_size=1, max_size=300))
def test_invariants(night):
    s = sleep_statistics(night)
    assert s["TST"] + s["W"] + s["unscored"] == pytest.approx(s["TIB"])
    assert sum(s[k] for k in ("N1", "N2", "N3", "REM")) == pytest.approx(s["TST"])
    assert 0 <= s["SE"] <= 100
    if s["TST"] > 0:
        assert s["SE"] <= s["SME"] + 1e-9 and s["SOL"] + s["SPT"] <= s["TIB"]
        assert s["WASO"] + s["TST"] <= s["SPT"] + 1e-9
        assert sum(s[f"%{k}"] for k in ("N1", "N2", "N3", "REM")) == pytest.approx(100)
        assert s["n_awakenings"] <= s["n_transitions"] and (np.isnan(s["LPS"]) or s["LPS"] >= s["SOL"])


def _real_hypnograms():
    root = need(HYPNOGRAMS)
    files = sorted(root.glob("sleep-edf-20/*.edf")) + sorted(root.glob("hmc/*.edf"))
    files += sorted(root.glob("dod-h/scorer_*/*.json")) + sorted(root.glob("yasa/*.txt"))
    return files


@pytest.mark.needs_shared
def test_matches_yasa_on_every_real_hypnogram():
    yasa = pytest.importorskip("yasa")
    files = _real_hypnograms()
    assert len(files) >= 140  # 20 Sleep-EDF + 1 HMC + 5 x 25 DOD-H + YASA's
    names = {-1: "UNS", 0: "WAKE", 1: "N1", 2: "N2", 3: "N3", 4: "REM"}
    same = {
        "TIB": "TIB",
        "SPT": "SPT",
        "TST": "TST",
        "WASO": "WASO",
        "SE": "SE",
        "SME": "SME",
        "SOL": "SOL",
        "SFI": "SFI",
        "N1": "N1",
        "N2": "N2",
        "N3": "N3",
        "REM": "REM",
        "W": "WAKE",
        "%N1": "%N1",
        "%N3": "%N3",
        "%REM": "%REM",
    }
    for path in files:
        stages = read_hypnogram(path)
        ours = sleep_statistics(stages)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = yasa.Hypnogram(np.array([names[int(s)] for s in stages]), freq="30s", n_stages=5)
            theirs = theirs.sleep_statistics()
        for key, their_key in same.items():  # YASA rounds to 4 decimals
            np.testing.assert_allclose(ours[key], theirs[their_key], atol=1e-4, err_msg=f"{path.name} {key}")
        # Different on purpose: YASA's Lat_REM counts from lights out, the AASM's REM latency from sleep onset
        np.testing.assert_allclose(ours["REM_latency"], theirs["Lat_REM"] - theirs["SOL"], atol=1e-4)
        # and its SOL_5min is our latency to persistent sleep with a 5-min run
        np.testing.assert_allclose(sleep_statistics(stages, persistent_min=5)["LPS"], theirs["SOL_5min"], atol=1e-4)


def test_agreement_bias_and_limits():
    rng = np.random.default_rng(0)
    nights = [rng.integers(0, 5, 200) for _ in range(6)]
    ref = [sleep_statistics(n) for n in nights]
    shifted = [sleep_statistics(np.where(n == 2, 0, n)) for n in nights]  # every N2 epoch called wake
    table = statistics_agreement(ref, shifted).set_index("statistic")
    n2 = np.array([r["N2"] for r in ref])
    assert table.loc["TST", "bias"] == pytest.approx(-n2.mean())
    assert table.loc["TST", "sd"] == pytest.approx(n2.std(ddof=1))
    assert table.loc["TST", "loa_low"] < table.loc["TST", "bias"] < table.loc["TST", "loa_high"]
    assert table.loc["N3", "bias"] == 0 and table.loc["N3", "sd"] == 0
    with pytest.raises(HypnogramError):
        statistics_agreement(ref, shifted[:2])
