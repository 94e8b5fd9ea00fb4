"""Training: split by recording, imbalance options, streaming, two-stage recipe, resume, saved model and card."""

import json

import numpy as np
import pytest
import torch

from stqs_core import load_model
from stqs_core.sampling import EpochSource, class_weights, epoch_batches, epoch_indices, n_indices, split_recordings
from stqs_core.training import TrainConfig, train

from .conftest import write_synthetic_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """4 nights of 16 epochs (2 train, 1 validation, 1 test): a training pass takes a fraction of a second."""
    return write_synthetic_store(tmp_path_factory.mktemp("train") / "tiny.h5", n_nights=4, n_epochs=16)


def _config(**kw):
    base = dict(
        variant="cnn", imbalance="none", epochs=1, patience=1, lr=1e-3, batch_size=32, seed=0, fractions=(0.6, 0.2, 0.2)
    )
    return TrainConfig(**{**base, **kw})


def test_split_is_by_recording_seeded_and_complete():
    names = [f"n{i}" for i in range(20)]
    split = split_recordings(names, (0.7, 0.15, 0.15), seed=1)
    parts = [set(split[k]) for k in ("train", "validation", "test")]
    assert sum(map(len, parts)) == 20 and set.union(*parts) == set(names)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert (len(parts[1]), len(parts[2])) == (3, 3)
    assert split == split_recordings(names[::-1], (0.7, 0.15, 0.15), seed=1)
    assert split != split_recordings(names, (0.7, 0.15, 0.15), seed=2)
    explicit = split_recordings(names, validation=["n1"], test=["n2", "n3"])
    assert explicit["validation"] == ["n1"] and explicit["test"] == ["n2", "n3"] and len(explicit["train"]) == 17
    with pytest.raises(ValueError, match="not in the data"):
        split_recordings(names, test=["nope"])
    assert all(split_recordings(["a", "b", "c"], seed=0).values())  # three recordings: no empty set


def test_class_weights_hand_computed():
    labels = np.array([0, 0, 2, 2, 2, 2, 3, 4, -1, -1])  # 8 scored: counts 2, 0, 4, 1, 1
    np.testing.assert_allclose(class_weights(labels, "weighted-inverse"), [0.75, 1.0, 0.5, 0.875, 0.875])
    np.testing.assert_allclose(class_weights(labels, "weighted-balanced"), [0.8, 1.0, 0.4, 1.6, 1.6])
    assert class_weights(labels, "none") is None and class_weights(labels, "oversampling") is None
    with pytest.raises(ValueError, match="imbalance"):
        class_weights(labels, "smote")


def test_oversampling_balances_each_recording_and_skips_unscored():
    labels = np.array([-1, 0, 2, 2, 2, 2, 2, 2, 3, 3])
    rows = epoch_indices(labels, oversample=True, rng=np.random.default_rng(0))
    counts = np.bincount(labels[rows], minlength=5)
    assert counts.tolist() == [6, 0, 6, 6, 0] and len(rows) == n_indices(labels, True)
    assert 0 not in rows  # the unscored epoch
    assert sorted(epoch_indices(labels, False, np.random.default_rng(0))) == list(range(1, 10))


def test_oversampling_changes_the_class_balance_of_batches(tiny_store):
    with EpochSource([tiny_store]) as source:
        names = source.recordings
        shares = {}
        for oversample in (False, True):
            ys = np.concatenate([y for _, y in epoch_batches(source, names, 16, np.random.default_rng(0), oversample)])
            assert ys.min() >= 0
            shares[oversample] = np.bincount(ys, minlength=5) / len(ys)
    spread_plain, spread_over = (np.ptp(shares[k][shares[k] > 0]) for k in (False, True))
    assert spread_over < 0.6 * spread_plain  # not 0: a stage absent from a night stays absent
    rarest = np.where(shares[False] > 0, shares[False], np.inf).argmin()
    assert shares[True][rarest] > shares[False][rarest]


def test_streamed_batches_cover_each_scored_epoch_once(tiny_store):
    with EpochSource([tiny_store], cache_bytes=0) as source:
        assert not any(source._cached)
        batches = list(epoch_batches(source, source.recordings, 10, np.random.default_rng(3), buffer_recordings=2))
        expected = np.concatenate([source.read(r)[source.labels(r) >= 0] for r in source.recordings])
    x = np.concatenate([b[0] for b in batches])
    assert all(len(b[1]) == 10 for b in batches[:-1])
    assert len(x) == len(expected)
    key = lambda a: np.sort(a[:, 0, :4].round(5).view([("", a.dtype)] * 4).ravel())  # noqa: E731
    assert np.array_equal(key(x), key(expected))


def test_weighted_options_change_the_loss(tiny_store, tmp_path):
    losses = {}
    for option in ("none", "weighted-inverse", "weighted-balanced"):
        result = train(tiny_store, tmp_path / f"{option}.pt", _config(imbalance=option), progress=False)
        losses[option] = result.history[0]["train_loss"]
        assert result.card["imbalance"] == option
    assert len({round(v, 6) for v in losses.values()}) == 3


def test_tiny_training_lowers_the_loss_and_saves_a_loadable_model(tiny_store, tmp_path):
    out = tmp_path / "model.pt"
    result = train(
        tiny_store, out, _config(epochs=3, patience=3, imbalance="oversampling"), progress=False, card={"name": "tiny"}
    )
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    model = load_model(out)
    card = model.info["model_card"]
    for key in ("variant", "imbalance", "split", "command", "date", "metrics", "data", "stages"):
        assert key in card
    assert card["name"] == "tiny" and card["command"].startswith("stqs train --data")
    assert set(card["split"]["test"]) == set(result.split["test"]) and "test" in card["metrics"]
    x = np.random.default_rng(0).standard_normal((3, 5, 3750)).astype(np.float32)
    np.testing.assert_allclose(model.predict_logits(x), result.model.predict_logits(x), atol=1e-5)
    assert not out.with_name("model.pt.resume").exists()
    assert len(out.with_suffix(".history.csv").read_text().splitlines()) == 4
    assert json.loads(out.with_suffix(".training.json").read_text())["split"] == result.split
    # a sequence variant on top of this CNN: stage 1 skipped, the CNN copied and kept frozen
    seq = train(tiny_store, tmp_path / "seq.pt", _config(variant="cnnlstm", init_cnn=str(out)), progress=False)
    assert [r["stage"] for r in seq.history] == ["sequence"] and "--init-cnn" in seq.card["command"]
    for key, value in model.blocks.state_dict().items():
        assert torch.equal(value, seq.model.blocks.state_dict()[key]), key


class _Kill(Exception):
    pass


@pytest.mark.parametrize("variant, epochs", [("cnn", 2), ("cnnlstm", 1)])
def test_killed_run_resumes_to_the_same_result(tiny_store, tmp_path, variant, epochs):
    config = _config(variant=variant, epochs=epochs, patience=5, imbalance="oversampling")
    full = train(tiny_store, tmp_path / "full.pt", config, progress=False)

    def kill(row, model):
        raise _Kill

    out = tmp_path / "resumed.pt"
    with pytest.raises(_Kill):
        train(tiny_store, out, config, progress=False, on_epoch_end=kill)  # dies after its first pass
    assert out.with_name("resumed.pt.resume").is_file() and not out.exists()
    resumed = train(tiny_store, out, config, progress=False, resume=True)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    with pytest.raises(ValueError, match="other settings"):
        with pytest.raises(_Kill):
            train(tiny_store, out, config, progress=False, on_epoch_end=kill)
        train(tiny_store, out, _config(variant=variant, epochs=epochs, seed=1), progress=False, resume=True)


@pytest.mark.parametrize("fine_tune", [False, True])
def test_two_stage_recipe_freezes_the_cnn_unless_fine_tuning(tiny_store, tmp_path, fine_tune):
    after_stage_1 = {}

    def snapshot(row, model):
        if row["stage"] == "cnn":
            after_stage_1.update({k: v.clone() for k, v in model.blocks.state_dict().items()})

    result = train(
        tiny_store,
        tmp_path / "m.pt",
        _config(variant="cnnlstm-residual", fine_tune_cnn=fine_tune),
        progress=False,
        on_epoch_end=snapshot,
    )
    assert [r["stage"] for r in result.history] == ["cnn", "sequence"]
    final = result.model.blocks.state_dict()
    unchanged = all(torch.equal(after_stage_1[k], final[k]) for k in final)
    assert unchanged != fine_tune
    assert result.card["stages"]["sequence"]["done"]


def test_single_stage_trains_everything_and_runs_without_validation(tiny_store, tmp_path):
    torch.manual_seed(0)
    from stqs_core import STQS, STQSConfig

    initial = STQS(STQSConfig(variant="cnnlstm")).blocks.state_dict()  # train() seeds the same initialisation
    result = train(
        tiny_store, tmp_path / "m.pt", _config(variant="cnnlstm", two_stage=False, fractions=(1, 0, 0)), progress=False
    )
    assert [r["stage"] for r in result.history] == ["sequence"] and "val_loss" not in result.history[0]
    assert result.card["metrics"] == {} and "--single-stage" in result.card["command"]
    assert not all(torch.equal(v, result.model.blocks.state_dict()[k]) for k, v in initial.items())


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_store_with_nan_or_inf_epochs_stops_train_and_finetune_naming_the_epoch(tmp_path, capsys, model_file, bad):
    import h5py

    from stqs_core.cli import main
    from stqs_core.errors import StoreError
    from stqs_core.finetune import finetune

    store = write_synthetic_store(tmp_path / "lab.h5", n_nights=4, n_epochs=16)
    with h5py.File(store, "a") as f:
        f["epochs"][2 * 16 + 5, 4, 100] = bad  # night02, epoch 5, the EMG row
    out = tmp_path / "trained.pt"
    assert main(["train", "--data", str(store), "--variant", "cnn", "--epochs", "1", "--out", str(out)]) == 2
    assert "'night02' epoch 5 row 4 (emg) holds NaN or inf values" in capsys.readouterr().err
    with pytest.raises(StoreError, match="'night02' epoch 5 row 4"):
        finetune(model_file, store, tmp_path / "ft.pt", nights=1, epochs=1, progress=False)
    assert not out.exists() and not (tmp_path / "ft.pt").exists()


@pytest.mark.parametrize(
    "variant, options, message",
    [
        (
            "cnn",
            dict(batch_size=4),
            r"training loss became nan in stage cnn, pass 1, first at recording 'night\d\d' epoch \d+",
        ),
        (
            "cnnlstm",
            dict(two_stage=False, nights_per_batch=1, bptt_windows=1),
            r"training loss became nan in stage sequence, pass 1, first at recording 'night\d\d' epoch \d+",
        ),
        ("cnn", dict(batch_size=32), r"scores became NaN or inf in stage cnn, pass 1, on validation recording 'night"),
    ],
)
def test_a_diverging_training_stops_naming_the_recording_and_epoch(tiny_store, tmp_path, variant, options, message):
    from stqs_core.errors import TrainingError

    out = tmp_path / "diverged.pt"
    with pytest.raises(TrainingError, match=message):
        train(tiny_store, out, _config(variant=variant, lr=1e30, epochs=2, patience=2, **options), progress=False)
    assert not out.exists()
