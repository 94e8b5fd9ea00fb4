"""Few-label fine-tuning: split by recording, frozen CNN, model card, resume, learning curve, CLI."""

import json

import numpy as np
import pytest
import torch

from stqs_core import STQS, STQSConfig, load_model, save_model
from stqs_core.errors import StqsError
from stqs_core.finetune import finetune, finetune_split, learning_curve

from .conftest import write_synthetic_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(epochs=2, patience=2, progress=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab of 6 scored synthetic nights of 16 epochs."""
    return write_synthetic_store(tmp_path_factory.mktemp("lab") / "lab.h5", n_nights=6, n_epochs=16, seed=3)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Seeded untrained source models of the cnn and cnnlstm variants, by variant."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for variant in ("cnn", "cnnlstm"):
        torch.manual_seed(1)
        out[variant] = save_model(STQS(STQSConfig(variant=variant)).eval(), folder / f"{variant}.pt", {"name": variant})
    return out


def test_split_is_by_recording_seeded_and_keeps_test_nights_fixed():
    names = [f"n{i}" for i in range(10)]
    split = finetune_split(names, nights=2, seed=4, test_nights=3)
    parts = [set(split[k]) for k in ("train", "validation", "test", "unused")]
    assert [len(p) for p in parts] == [2, 1, 3, 4] and set.union(*parts) == set(names)
    assert sum(map(len, parts)) == 10  # no night on two sides
    assert split == finetune_split(names[::-1], nights=2, seed=4, test_nights=3)
    for nights, draw in ((1, 0), (4, 0), (2, 1), (6, 3)):
        other = finetune_split(names, nights=nights, seed=4, test_nights=3, draw=draw)
        assert (other["test"], other["validation"]) == (split["test"], split["validation"])
        assert len(other["train"]) == nights
    assert set(finetune_split(names, 1, seed=4, test_nights=3)["train"]) < set(split["train"])  # nested
    draws = [set(finetune_split(names, 2, seed=4, test_nights=3, draw=d)["train"]) for d in range(3)]
    assert not (draws[0] & draws[1] or draws[1] & draws[2])  # a pool of 6: three disjoint draws of 2
    default = finetune_split(names, nights=3, seed=0)
    assert len(default["test"]) == 6 and not default["unused"]
    assert len(finetune_split(names, seed=0)["train"]) == 8  # nights None: all but 1 validation and 1 test
    with pytest.raises(StqsError, match="too few"):
        finetune_split(names, nights=9)


@pytest.mark.parametrize("variant", ["cnn", "cnnlstm"])
def test_freeze_cnn_keeps_the_cnn_bit_identical_and_trains_the_head(lab, sources, tmp_path, variant):
    source = load_model(sources[variant])
    result = finetune(sources[variant], lab, tmp_path / "ft.pt", nights=2, freeze="cnn", lr=1e-2, **FAST)
    tuned = result.model.state_dict()
    for key, value in source.blocks.state_dict().items():  # weights and batch-norm statistics
        assert torch.equal(value, tuned[f"blocks.{key}"]), key
    head = [k for k in tuned if not k.startswith("blocks.")]
    assert head and not all(torch.equal(source.state_dict()[k], tuned[k]) for k in head)
    assert len(result.split["train"]) == 2 and set(result.card["split"]["train"]) == set(result.split["train"])


def test_freeze_none_trains_the_cnn_and_card_holds_the_fine_tuning(lab, sources, tmp_path):
    out = tmp_path / "lab-model.pt"
    result = finetune(sources["cnn"], lab, out, nights=3, freeze="none", seed=2, **FAST)
    key = "blocks.eeg.temporal1.0.weight"
    assert not torch.equal(load_model(sources["cnn"]).state_dict()[key], result.model.state_dict()[key])
    card = load_model(out).info["model_card"]
    info = card["finetune"]
    assert info["source_model"] == str(sources["cnn"]) and info["source_card"]["name"] == "cnn"
    assert info["freeze"] == "none" and info["nights"] == 3 and len(info["train_nights"]) == 3
    assert set(info["train_nights"]) | set(info["validation_nights"]) | set(info["test_nights"]) == {
        f"night{i:02d}" for i in range(6)
    }
    for when in ("before", "after"):
        m = info["metrics"][when]
        assert set(m) == {"n_scored", "accuracy", "macro_f1", "kappa"} and m["n_scored"] == 2 * 15
        assert 0 <= m["accuracy"] <= 1 and -1 <= m["kappa"] <= 1
    assert info["metrics"]["after"] == pytest.approx({k: card["metrics"]["test"][k] for k in info["metrics"]["after"]})
    assert card["command"].startswith("stqs finetune --model") and "--freeze none" in card["command"]
    assert card["training"]["lr"] == 1e-4  # the smaller default of freeze none
    assert json.loads(out.with_suffix(".training.json").read_text())["split"]["train"] == info["train_nights"]


def test_freeze_none_of_a_sequence_model_keeps_its_batch_norm_statistics(lab, sources, tmp_path):
    source = load_model(sources["cnnlstm"]).state_dict()
    tuned = finetune(
        sources["cnnlstm"], lab, tmp_path / "seq.pt", nights=2, freeze="none", lr=1e-3, **FAST
    ).model.state_dict()
    stats = [k for k in source if k.startswith("blocks.") and ("running" in k or "num_batches" in k)]
    assert stats and all(torch.equal(source[k], tuned[k]) for k in stats)
    assert not torch.equal(source["blocks.eeg.temporal1.0.weight"], tuned["blocks.eeg.temporal1.0.weight"])


class _Kill(Exception):
    pass


@pytest.mark.parametrize("variant, freeze", [("cnn", "none"), ("cnnlstm", "cnn")])
def test_killed_fine_tuning_resumes_to_the_same_model(lab, sources, tmp_path, variant, freeze):
    options = dict(nights=2, freeze=freeze, epochs=3, patience=3, progress=False)
    full = finetune(sources[variant], lab, tmp_path / "full.pt", **options)

    def kill(row, model):
        if row["epoch"] == 2:
            raise _Kill

    out = tmp_path / "resumed.pt"
    with pytest.raises(_Kill):
        finetune(sources[variant], lab, out, on_epoch_end=kill, **options)
    assert out.with_name("resumed.pt.resume").is_file() and not out.exists()
    resumed = finetune(sources[variant], lab, out, resume=True, **options)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    again = finetune(sources[variant], lab, out, resume=True, **options)  # finished: returned, not retrained
    assert again.after == resumed.after and len(again.history) == len(resumed.history)


def test_learning_curve_writes_rows_per_night_count_and_draw(lab, sources, tmp_path):
    calls = []

    def spy(model, epochs):  # stands in for label-free adaptation: one more condition
        calls.append(len(epochs))
        return model

    rows = learning_curve(
        sources["cnn"], lab, tmp_path, nights=(0, 1, 2, 8), draws=2, adapters={"off": None, "spy": spy}, **FAST
    )
    # 6 nights, 1 validation: 8 is dropped, 2 is the largest count, which leaves 3 test nights and a pool of 2
    assert sorted({r["nights"] for r in rows}) == [0, 1, 2]
    counts = {(r["nights"], r["adapt"]): 0 for r in rows}
    for r in rows:
        counts[r["nights"], r["adapt"]] += 1
    assert counts == {(0, "off"): 1, (0, "spy"): 1, (1, "off"): 2, (1, "spy"): 2, (2, "off"): 1, (2, "spy"): 1}
    assert {r["test_nights"] for r in rows} == {3} and len(calls) == 4 * 3  # 4 models, each on the test nights
    off = {(r["nights"], r["draw"]): r for r in rows if r["adapt"] == "off"}
    spied = {(r["nights"], r["draw"]): r for r in rows if r["adapt"] == "spy"}
    assert all(off[k]["kappa"] == spied[k]["kappa"] for k in off)  # the identity adapter changes nothing
    assert off[1, 0]["train_nights"] != off[1, 1]["train_nights"]
    csv = (tmp_path / "curve.csv").read_text().splitlines()
    assert len(csv) == 1 + len(rows) and csv[0].startswith("nights,draw,adapt")
    md = (tmp_path / "curve.md").read_text().splitlines()
    assert sum(line.startswith("| ") and line[2].isdigit() for line in md) == 6
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    stamp = (tmp_path / "models" / "n1-d0.pt").stat().st_mtime_ns
    learning_curve(sources["cnn"], lab, tmp_path, nights=(1, 2), draws=1, **FAST)  # the same test nights
    assert (tmp_path / "models" / "n1-d0.pt").stat().st_mtime_ns == stamp  # reused, not retrained


def test_cli_finetune_prints_before_and_after(lab, sources, tmp_path, capsys):
    from stqs_core.cli import main

    out = tmp_path / "m.pt"
    assert (
        main(
            [
                "finetune",
                "--model",
                str(sources["cnnlstm"]),
                "--data",
                str(lab),
                "--nights",
                "1",
                "--epochs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "before: accuracy" in text and "after: accuracy" in text and out.is_file()
    assert (
        main(["finetune", "--model", str(sources["cnnlstm"]), "--data", str(lab), "--nights", "9", "--out", str(out)])
        == 2
    )
    assert "too few" in capsys.readouterr().err
    size = lab.stat().st_size  # an output that is an input is refused before anything is written
    assert main(["finetune", "--model", str(sources["cnnlstm"]), "--data", str(lab), "--out", str(lab)]) == 2
    assert "would destroy the input" in capsys.readouterr().err and lab.stat().st_size == size
    with pytest.raises(StqsError, match="freeze"):
        finetune(sources["cnn"], lab, out, nights=1, freeze="lstm")
    with pytest.raises(StqsError, match="nothing to fine-tune"):
        finetune(sources["cnn"], lab, out, nights=0)
    assert np.isfinite(load_model(out).predict_logits(np.zeros((8, 5, 3750), np.float32))).all()


@pytest.mark.slow
def test_training_notebook_fine_tunes_and_draws_the_curve(lab, sources, tmp_path):
    from stqs_core.notebooks import chain_paths, run_chain

    run_chain(
        tmp_path,
        {"store": str(lab), "finetune_from": str(sources["cnn"]), "finetune_nights": 2, "curve": True, "epochs": 1},
        notebooks=("02_train",),
        progress=False,
    )
    paths = chain_paths(tmp_path)
    card = load_model(paths["model"]).info["model_card"]
    assert card["finetune"]["nights"] == 2 and "after" in card["finetune"]["metrics"]
    assert (paths["02_train"] / "curve" / "curve.png").is_file()
    assert len((paths["02_train"] / "curve" / "curve.csv").read_text().splitlines()) > 3
