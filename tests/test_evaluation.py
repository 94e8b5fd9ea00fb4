"""Evaluation report: keys and sanity, split selection from the model card, files; CLI train/evaluate end to end."""

import csv
import json
import shlex
from datetime import date

import numpy as np
import pytest
import torch

from stqs_core import STQS, EpochStore, STQSConfig, save_model
from stqs_core.cli import _IMBALANCE, _SPLITS, _VARIANTS, build_parser, main
from stqs_core.errors import StqsError
from stqs_core.evaluation import SPLITS, evaluate, read_human_reference, write_report
from stqs_core.model import VARIANTS
from stqs_core.sampling import IMBALANCE

from .conftest import HYPNOGRAMS, need, write_synthetic_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_synthetic_store(tmp_path_factory.mktemp("eval") / "tiny.h5", n_nights=4, n_epochs=16)


@pytest.fixture(scope="module")
def carded_model(store, tmp_path_factory):
    """An untrained cnn whose card says it was tested on night02 and night03."""
    torch.manual_seed(0)
    card = {
        "name": "carded",
        "data": [{"path": str(store)}],
        "split": {"train": ["night00"], "validation": ["night01"], "test": ["night02", "night03"]},
    }
    return save_model(STQS(STQSConfig(variant="cnn")), tmp_path_factory.mktemp("model") / "m.pt", card)


def test_report_keys_and_sanity(store, carded_model, tmp_path):
    report = evaluate(carded_model, store, "test", human_reference=None)
    assert report["recordings"] == ["night02", "night03"] and report["n_recordings"] == 2
    with EpochStore(store) as s:
        scored = sum(int((s.labels(r) >= 0).sum()) for r in report["recordings"])
    assert report["n_scored"] == scored == np.sum(report["confusion"]["counts"])
    for value in report["overall"].values():
        assert -1 <= value <= 1
    assert all(0 <= v <= 1 for k, v in report["overall"].items() if k != "kappa")
    np.testing.assert_allclose(
        np.sum(report["confusion"]["normalised"], axis=1)[np.sum(report["confusion"]["counts"], axis=1) > 0],
        1,
        atol=1e-3,
    )
    assert {r["recording"] for r in report["per_recording"]} == set(report["recordings"])
    assert set(report["per_recording_spread"]["kappa"]) == {"mean", "sd", "min", "max"}
    assert report["human_reference"] is None
    assert len(report["hypnograms"]["night02"]["pred"]) == 16
    files = write_report(report, tmp_path / "report")
    assert set(files) == {"json", "csv", "agreement", "hypnograms", "confusion"}
    assert all(p.is_file() for p in files.values())
    assert json.loads(files["json"].read_text())["files"]["csv"] == str(files["csv"])
    assert len(files["csv"].read_text().splitlines()) == 3


def test_sleep_statistics_agreement_is_the_mean_difference_of_tst(store, carded_model, tmp_path):
    report = evaluate(carded_model, store, "all", human_reference=None)
    rows = {r["recording"]: r for r in report["per_recording"]}
    # TST by hand: 30-s epochs of sleep (codes 1-4), the model's only where the expert scored
    diffs = []
    for rid, hyp in report["hypnograms"].items():
        true, pred = np.array(hyp["true"]), np.array(hyp["pred"])
        expert_tst, model_tst = (true > 0).sum() / 2, ((pred > 0) & (true >= 0)).sum() / 2
        assert rows[rid]["expert_TST"] == pytest.approx(expert_tst)
        assert rows[rid]["model_TST"] == pytest.approx(model_tst)
        diffs.append(model_tst - expert_tst)
    table = {r["statistic"]: r for r in report["sleep_statistics_agreement"]}
    assert table["TST"]["n"] == 4
    assert table["TST"]["bias"] == pytest.approx(np.mean(diffs), abs=1e-9)
    assert table["TST"]["sd"] == pytest.approx(np.std(diffs, ddof=1), abs=1e-9)
    assert table["TST"]["loa_high"] - table["TST"]["loa_low"] == pytest.approx(2 * 1.96 * table["TST"]["sd"], abs=1e-9)
    files = write_report(report, tmp_path)
    assert json.loads(files["json"].read_text())["sleep_statistics_agreement"][0]["statistic"] == "TST"
    with open(files["agreement"]) as f:
        assert [r["statistic"] for r in csv.DictReader(f)] == list(table)
    with open(files["csv"]) as f:
        assert float(next(csv.DictReader(f))["expert_TST"]) == pytest.approx(rows["night00"]["expert_TST"])


def test_split_all_and_errors(store, carded_model):
    assert evaluate(carded_model, store, "all", human_reference=None)["n_recordings"] == 4
    bare = save_model(STQS(STQSConfig(variant="cnn")), carded_model.with_name("bare.pt"))
    with pytest.raises(ValueError, match="--split all"):
        evaluate(bare, store, "test", human_reference=None)
    with pytest.raises(ValueError, match="split must be"):
        evaluate(carded_model, store, "held-out", human_reference=None)


def test_human_reference_beside_the_report(store, carded_model):
    folder = need(HYPNOGRAMS / "dod-h")
    ref = evaluate(carded_model, store, "test", human_reference=folder)["human_reference"]
    assert ref["n_nights"] == 25 and 0.6 < ref["summary"]["vs_consensus"]["kappa"]["mean"] < 0.9


def test_stored_human_reference_is_the_default_and_says_where_it_comes_from(store, carded_model):
    ref = evaluate(carded_model, store, "test")["human_reference"]
    assert ref == read_human_reference() and ref["n_nights"] == 25 and len(ref["scorers"]) == 5
    assert len(ref["pairwise"]) == 10 and 0.6 < ref["summary"]["pairwise"]["kappa"]["mean"] < 0.8
    provenance = ref["provenance"]
    assert "DOD-H" in provenance["source"] and provenance["n_files"] == 125
    assert provenance["script"] == "scripts/derive_human_reference.py" and date.fromisoformat(provenance["date"])


def test_stored_human_reference_matches_the_hypnograms():
    """What scripts/derive_human_reference.py stored is what the DOD-H folder gives today."""
    recomputed = read_human_reference(need(HYPNOGRAMS / "dod-h"))
    stored = read_human_reference()
    assert {k: v for k, v in recomputed.items() if k != "provenance"} == {
        k: v for k, v in stored.items() if k != "provenance"
    }
    assert recomputed["provenance"]["n_files"] == stored["provenance"]["n_files"]


def test_a_missing_human_reference_folder_is_an_error(tmp_path):
    with pytest.raises(StqsError, match="stored DOD-H reference"):
        read_human_reference(tmp_path / "none")


def test_cli_choices_match_the_library():
    assert (_VARIANTS, _IMBALANCE, _SPLITS) == (VARIANTS, IMBALANCE, SPLITS)


def test_cli_train_then_evaluate(tmp_path, capsys):
    store = write_synthetic_store(tmp_path / "cli.h5", n_nights=4, n_epochs=16)
    model = tmp_path / "cli.pt"
    assert (
        main(
            [
                "train",
                "--data",
                str(store),
                "--variant",
                "cnnlstm",
                "--imbalance",
                "weighted-balanced",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--fractions",
                "0.5,0.25,0.25",
                "--seed",
                "3",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "test: accuracy" in out and model.is_file()
    assert main(["evaluate", "--model", str(model), "--data", str(store), "--out", str(tmp_path / "rep")]) == 0
    assert "human reference (25 nights, 5 scorers)" in capsys.readouterr().out
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    card = torch.load(model, weights_only=True)["info"]["model_card"]
    assert report["recordings"] == card["split"]["test"] and report["model"]["variant"] == "cnnlstm"
    assert card["command"].split()[:2] == ["stqs", "train"] and "--imbalance weighted-balanced" in card["command"]
    args = build_parser().parse_args(shlex.split(card["command"])[1:])  # the card's command parses back
    assert (args.variant, args.imbalance, args.seed, args.epochs, args.fractions) == (
        "cnnlstm",
        "weighted-balanced",
        3,
        1,
        (0.5, 0.25, 0.25),
    )
    assert (
        main(["evaluate", "--model", str(model), "--data", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "x")])
        == 2
    )
    assert "stqs evaluate: error" in capsys.readouterr().err
