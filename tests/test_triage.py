"""Evidence triage: the deciding band x modality of each epoch against the AASM rule of its stage; its outputs
(scoring, CLI, cohort reliance profiles) and the check that removing a rule's evidence raises the flag rate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from stqs_core.cli import main
from stqs_core.cohort import RELIANCE_COLUMNS, RELIANCE_Z, reliance_outliers, score_cohort
from stqs_core.constants import ROLES, STAGES
from stqs_core.errors import StqsError
from stqs_core.interpret import DEFAULT_BANDS, RULES, evidence_table, evidence_triage, frequency_occlusion
from stqs_core.scoring import score_recording
from stqs_core.simulate import simulate_night

from .conftest import CHECKPOINTS, need

OCCLUSIONS = [(band, modality) for modality in ROLES for band in DEFAULT_BANDS]
N2, N3 = STAGES.index("N2"), STAGES.index("N3")


def _drops(**named) -> np.ndarray:
    """One epoch's drops ``(15,)``: 0 except the named occlusions, e.g. ``eog_theta=0.4``."""
    row = np.zeros(len(OCCLUSIONS))
    for key, value in named.items():
        modality, band = key.split("_")
        row[OCCLUSIONS.index((band, modality))] = value
    return row


def test_deciding_evidence_and_rule_check_on_known_drops():
    drops = np.stack(
        [
            _drops(eog_theta=0.40, eeg_sigma=0.01, eeg_delta=0.02),  # N2 on EOG theta, spindles barely count
            _drops(eeg_delta=0.50, eog_beta=0.30, eeg_sigma=0.20),  # sigma third but 40% of the top: kept
            _drops(eeg_delta=0.50, eeg_sigma=0.30),  # sigma second (among the top 2): kept
            _drops(eog_theta=0.01),  # no band matters: nothing to contradict
            _drops(eeg_delta=0.90, eog_delta=0.20, eeg_theta=0.10),  # N3 on its rule's evidence
            _drops(eeg_beta=0.60, eog_beta=0.50, eeg_delta=0.40, eeg_theta=-0.05),  # N1: theta raises p(N1)
        ]
    )
    stages = np.array([N2, N2, N2, N2, N3, 1])
    table = evidence_table(drops, OCCLUSIONS, stages)
    deciding = ["EOG theta", "EEG delta", "EEG delta", "EOG theta", "EEG delta", "EEG beta"]
    assert table.deciding_evidence.tolist() == deciding
    np.testing.assert_allclose(table.deciding_drop, drops.max(1))
    assert table.rule_evidence.tolist() == ["EEG sigma"] * 4 + ["EEG delta", "EEG theta"]
    assert table.rule_rank.tolist() == [3, 3, 2, 2, 1, 15]
    assert table.rule_ok.tolist() == [False, True, True, True, True, False]
    strict = evidence_table(drops, OCCLUSIONS, stages, top_k=1, share=0.7, min_drop=0.005)
    assert strict.rule_ok.tolist() == [False, False, False, False, True, False]
    assert table.reason[table.rule_ok].eq("").all()
    assert table.reason[0] == (
        "N2 decided on EOG theta (4-8 Hz), p(N2) -0.40; not on what the AASM rule names (sleep spindles (11-16 Hz) "
        "in the EEG): removing EEG sigma (12-16 Hz) lowers it by 0.01 only (rank 3 of 15)"
    )
    assert "N1 decided on EEG beta" in table.reason[5] and "raises it by 0.05" in table.reason[5]


def test_evidence_table_refuses_what_it_cannot_check():
    with pytest.raises(StqsError, match="shape"):
        evidence_table(np.zeros((3, 15)), OCCLUSIONS, np.zeros(2, int))
    without_sigma = [o for o in OCCLUSIONS if o != ("sigma", "eeg")]
    with pytest.raises(StqsError, match="sigma"):
        evidence_table(np.zeros((2, 14)), without_sigma, np.zeros(2, int))


@pytest.fixture(scope="module")
def small_night():
    """A seeded untrained CNN and 16 epochs of a simulated night (preprocessed)."""
    from stqs_core import STQS, STQSConfig
    from stqs_core.scoring import recording_epochs

    torch.manual_seed(0)
    model = STQS(STQSConfig(variant="cnn")).eval()
    epochs, _ = recording_epochs(simulate_night(hours=8 / 60, seed=3).recording)
    return model, epochs.data


def test_triage_reads_the_frequency_occlusion_of_the_night(small_night):
    model, x = small_night
    occlusion = frequency_occlusion(model, x)
    result = evidence_triage(model, x, occlusion=occlusion, seconds="all", method="saliency")
    table = result.per_epoch
    assert len(table) == len(x) and result.drops.shape == (len(x), 15) and result.occlusions == OCCLUSIONS
    per = occlusion.per_epoch.assign(occ=lambda d: list(zip(d.band, d.modalities)))
    for k, occ in enumerate(OCCLUSIONS):  # the drops are frequency occlusion's, column by column
        np.testing.assert_allclose(result.drops[:, k], per[per.occ == occ].sort_values("epoch")["drop"], atol=0)
    np.testing.assert_array_equal(table.stage, occlusion.proba.argmax(1))
    profile = result.reliance(min_epochs=3)
    for code, stage in enumerate(STAGES):
        chosen = result.drops[table.stage == code]
        expect = chosen.mean(0) if len(chosen) >= 3 else np.full(15, np.nan)
        np.testing.assert_allclose(profile.loc[stage], expect, rtol=1e-12)
    assert result.seconds.shape == (len(x), 30) and np.isfinite(result.seconds).all()
    np.testing.assert_array_equal(table.key_second, result.seconds.argmax(1))
    assert result.method == "saliency"
    summary = result.summary()
    assert summary["n_flagged"] == len(result.flagged) == int((~table.rule_ok).sum())
    assert sum(summary["flagged_by_stage"].values()) == summary["n_flagged"]
    none = evidence_triage(model, x, occlusion=occlusion, seconds="none")
    assert none.method is None and none.per_epoch.key_second.isna().all() and np.isnan(none.seconds).all()
    pd.testing.assert_frame_equal(none.per_epoch.drop(columns="key_second"), table.drop(columns="key_second"))
    with pytest.raises(StqsError, match="seconds"):
        evidence_triage(model, x, occlusion=occlusion, seconds="some")


def test_key_seconds_only_for_flagged_epochs_by_default(small_night):
    model, x = small_night
    result = evidence_triage(model, x, min_drop=0.0, share=0.0, top_k=1, method="saliency")
    flagged = ~result.per_epoch.rule_ok.to_numpy()
    assert flagged.any()
    assert np.isfinite(result.seconds[flagged]).all() and np.isnan(result.seconds[~flagged]).all()
    assert result.per_epoch.key_second[flagged].between(0, 29).all()


def test_triage_needs_every_band_on_every_modality(small_night):
    model, x = small_night
    partial = frequency_occlusion(model, x, bands={"sigma": DEFAULT_BANDS["sigma"]})
    with pytest.raises(StqsError, match="every default band"):
        evidence_triage(model, x, occlusion=partial)


def test_removing_the_rules_evidence_raises_the_flag_rate():
    """Spindles and K-complexes taken out of half the N2 epochs of simulated nights: with the published SHHS CNN
    (it reads each epoch on its own), the flag rate on those epochs rises well above the rest of the night's.

    Measured (benchmarks/triage.py): about 0.5 on the stripped N2 epochs against 0.02-0.05 on the rest."""
    from stqs_core import load_model
    from stqs_core.scoring import recording_epochs

    model = load_model(need(CHECKPOINTS / "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar"))
    removed_flags, other_flags = [], []
    for seed in (5, 6):
        stages = simulate_night(hours=1, seed=seed).stages
        removed = np.flatnonzero(stages == N2)[::2]
        epochs, _ = recording_epochs(simulate_night(hours=1, seed=seed, remove_evidence=removed).recording)
        flags = ~evidence_triage(model, epochs.data, seconds="none").per_epoch.rule_ok.to_numpy()
        mask = np.zeros(len(stages), bool)
        mask[removed] = True
        removed_flags += flags[mask].tolist()
        other_flags += flags[~mask].tolist()
    assert len(removed_flags) > 40
    assert np.mean(removed_flags) >= max(0.25, 3 * np.mean(other_flags) + 0.1)


# ---------------------------------------------------------------- outputs


@pytest.fixture(scope="module")
def recording():
    return simulate_night(hours=0.25, seed=5).recording  # 30 epochs


def test_score_recording_with_triage_adds_columns_and_a_count(recording, tmp_path):
    night = score_recording(recording, "stqs-cnn-oversampling-sim", triage=True)
    table = night.to_frame()
    columns = ["deciding_evidence", "deciding_drop", "rule_evidence", "rule_drop", "rule_ok", "key_second"]
    assert set(columns + ["triage_reason"]) <= set(table.columns)
    flagged = ~table.rule_ok
    assert night.summary()["n_flagged"] == int(flagged.sum())
    assert (table.triage_reason[flagged] != "").all() and (table.triage_reason[~flagged] == "").all()
    assert table.key_second[flagged].notna().all() and table.key_second[~flagged].isna().all()
    assert table.deciding_evidence.str.fullmatch(r"(EEG|EOG|EMG) (delta|theta|alpha|sigma|beta)").all()
    back = pd.read_csv(night.write(tmp_path / "n.csv"), keep_default_na=False, na_values=[""])
    assert back.rule_ok.tolist() == table.rule_ok.tolist() and back.triage_reason.fillna("").tolist() == list(
        table.triage_reason
    )
    report = json.loads(night.write(tmp_path / "n.json").read_text())
    assert report["n_flagged"] == night.summary()["n_flagged"] and len(report["rule_ok"]) == len(table)
    plain = score_recording(recording, "stqs-cnn-oversampling-sim")
    assert "rule_ok" not in plain.to_frame() and "n_flagged" not in plain.summary()


def test_cli_score_triage(recording, tmp_path, capsys):
    from stqs_core.edf import write_edf

    edf = write_edf(tmp_path / "n.edf", recording.data, recording.channel_names, recording.sfreq)
    out = tmp_path / "n.csv"
    assert main(["score", str(edf), "--model", "stqs-cnn-oversampling-sim", "--triage", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    n_flagged = int((~table.rule_ok).sum())
    assert f"{n_flagged} of {len(table)} epochs flagged" in capsys.readouterr().out


def test_reliance_outliers_flag_the_night_that_departs():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.3, len(RELIANCE_COLUMNS))

    def row(name, profile, without=()):
        values = dict(zip(RELIANCE_COLUMNS, profile + rng.normal(0, 0.01, profile.shape)))
        return {"name": name, **{k: (np.nan if k.split("_")[1] in without else v) for k, v in values.items()}}

    rows = [row(f"n{i}", base, without=("REM",) if i % 3 == 0 else ()) for i in range(8)]  # some nights lack REM
    odd = base.copy()
    odd[RELIANCE_COLUMNS.index("reliance_N2_eog_theta")] += 0.4  # e.g. the EOG carrying the EEG of a wrong montage
    rows.append(row("odd", odd, without=("N3",)))
    rows.append({"name": "failed", "status": "error"})
    marked = reliance_outliers(rows)
    assert [r["name"] for r in marked if r.get("reliance_outlier")] == ["odd"]
    assert marked[-2]["reliance_z"] > RELIANCE_Z > max(r["reliance_z"] for r in marked[:8])
    assert "reliance_z" not in marked[-1] and "reliance_z" not in rows[0]  # the input rows are left alone
    assert reliance_outliers(rows[:2]) == rows[:2]  # too few nights to tell
    swapped = [dict(r) for r in rows[:8]]  # another stage mix does not make a night odd: profiles are by stage
    swapped[1].update({c: np.nan for c in RELIANCE_COLUMNS if c.split("_")[1] in ("N1", "N3")})
    assert not any(r["reliance_outlier"] for r in reliance_outliers(swapped))


def test_cohort_with_triage_writes_reliance_profiles(tmp_path):
    folder = tmp_path / "edf"
    for seed in range(3):
        simulate_night(hours=0.25, seed=seed).write_edf(folder / f"night{seed}.edf")
    result = score_cohort(folder, tmp_path / "out", "stqs-cnn-oversampling-sim", workers=1, triage=True)
    table = result.table
    assert set(RELIANCE_COLUMNS) <= set(table.columns) and table[list(RELIANCE_COLUMNS)].notna().any(axis=1).all()
    assert {"n_flagged", "flagged_share", "reliance_distance", "reliance_z", "reliance_outlier"} <= set(table.columns)
    assert (table.n_flagged == (table.flagged_share * table.n_epochs).round()).all()
    hypnogram = pd.read_csv(tmp_path / "out" / "night0.csv")
    assert "rule_ok" in hypnogram and int((~hypnogram.rule_ok).sum()) == table.n_flagged[0]


def test_rules_cover_every_stage_once():
    assert [rule.stage for rule in RULES] == list(STAGES)
