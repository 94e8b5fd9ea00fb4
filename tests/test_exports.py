"""Every hypnogram export is read back by its own reader: ours, MNE's and YASA's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stqs_core.annotations import read_hypnogram
from stqs_core.constants import STAGES
from stqs_core.edf import write_edf
from stqs_core.exports import events_frame, to_annotations, to_yasa, write_events_tsv, write_nsrr_xml
from stqs_core.hypnogram import runs
from stqs_core.scoring import ScoredNight


@pytest.fixture
def night():
    rng = np.random.default_rng(3)
    stages = np.repeat(rng.integers(-1, 5, 120), rng.integers(1, 6, 120))  # runs of 1-5 epochs, some unscored
    proba = rng.dirichlet(np.ones(5), len(stages)).astype(np.float32)
    return stages, proba


def test_nsrr_xml_reads_back(tmp_path, night):
    stages, _ = night
    path = write_nsrr_xml(tmp_path / "night-nsrr.xml", stages)
    np.testing.assert_array_equal(read_hypnogram(path, len(stages)), stages)


def test_events_tsv(tmp_path, night):
    stages, proba = night
    path = write_events_tsv(tmp_path / "sub-01_task-sleep_events.tsv", stages, proba)
    table = pd.read_csv(path, sep="\t", keep_default_na=False)
    assert list(table.columns[:3]) == ["onset", "duration", "stage"]
    np.testing.assert_allclose(table.onset, np.arange(len(stages)) * 30.0)
    assert (table.duration == 30).all()
    assert table.stage.tolist() == [STAGES[s] if s >= 0 else "n/a" for s in stages]
    np.testing.assert_allclose(table[[f"prob_{s}" for s in STAGES]], proba, atol=5e-6)  # rounded to 5 decimals
    assert events_frame(stages).shape[1] == 3


def test_edf_annotations_read_by_mne_including_annotation_only_file(tmp_path, night):
    mne = pytest.importorskip("mne")
    stages, _ = night
    path = write_edf(tmp_path / "night.edf", stages=stages)  # no signal: an annotation-only EDF+
    ann = mne.read_annotations(path)
    expected = runs(stages)
    assert len(ann) == len(expected.stage)
    np.testing.assert_allclose(ann.onset, expected.start * 30.0)
    np.testing.assert_allclose(ann.duration, expected.length * 30.0)
    np.testing.assert_array_equal(read_hypnogram(path, len(stages)), stages)
    direct = to_annotations(stages)
    assert list(direct.description) == list(ann.description)


def test_scored_night_writes_every_format(tmp_path, night):
    _, proba = night
    scored = ScoredNight("night", proba, model="m")
    for suffix in (".edf", ".xml"):
        np.testing.assert_array_equal(read_hypnogram(scored.write(tmp_path / f"out{suffix}")), scored.stages)
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        table = pd.read_csv(scored.write(tmp_path / f"out{suffix}"), sep=sep)
        np.testing.assert_array_equal(table.stage.map(STAGES.index), scored.stages)
        np.testing.assert_allclose(table[[f"prob_{s}" for s in STAGES]], proba, atol=5e-6)
    written = json.loads(scored.write(tmp_path / "out.json").read_text())
    assert written["stage"] == [STAGES[s] for s in scored.stages]
    np.testing.assert_array_equal(read_hypnogram(tmp_path / "out.json"), scored.stages)  # usable as --annotations


def test_to_yasa_carries_stages_and_probabilities(night):
    pytest.importorskip("yasa")
    stages, proba = night
    hyp = to_yasa(stages, proba)
    names = {-1: "UNS", 0: "WAKE", 1: "N1", 2: "N2", 3: "N3", 4: "REM"}
    assert hyp.hypno.astype(str).tolist() == [names[s] for s in stages]
    np.testing.assert_allclose(hyp.proba.to_numpy(), proba, rtol=1e-6, atol=1e-6)
    assert hyp.n_epochs == len(stages)
