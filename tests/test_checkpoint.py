import numpy as np
import pytest
import torch

from stqs_core import STQS, STQSConfig, load_model, save_model
from stqs_core.checkpoint import FORMAT
from stqs_core.errors import ModelError

from .conftest import CHECKPOINTS, need


def test_round_trip_keeps_weights_config_and_card(tmp_path):
    torch.manual_seed(1)
    model = STQS(STQSConfig(variant="cnnlstm-residual", lstm_hidden=12)).eval()
    path = save_model(model, tmp_path / "m.pt", {"training_data": "test", "command": "pytest"})
    payload = torch.load(path, weights_only=True)  # never unpickles code
    assert payload["format"] == FORMAT
    assert payload["info"]["channels"]["eog"] == ["EOG(L)", "EOG(R)"]
    assert payload["info"]["class_names"] == ["W", "N1", "N2", "N3", "REM"]
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.info["model_card"]["command"] == "pytest"
    x = np.random.default_rng(0).standard_normal((9, 5, 3750)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))


def test_original_checkpoint_converts_to_our_format(tmp_path):
    original = load_model(need(CHECKPOINTS / "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar"))
    assert original.info["model_card"]["trained_epochs"] == 37
    ours = load_model(save_model(original, tmp_path / "shhs.pt"))
    x = np.random.default_rng(1).standard_normal((4, 5, 3750)).astype(np.float32)
    np.testing.assert_array_equal(ours.predict_logits(x), original.predict_logits(x))


def test_missing_and_bad_files_say_what_is_wrong(tmp_path):
    with pytest.raises(ModelError, match="no model file .* stqs-cnnlstm-sim"):
        load_model(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_model(junk)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="neither"):
        load_model(tmp_path / "other.pt")


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda p: p["state_dict"].__setitem__("classifier.weight", torch.zeros(3, 3)),
            "wrong shapes: classifier.weight",
        ),
        (lambda p: p["state_dict"].pop("classifier.bias"), "missing: classifier.bias"),
        (lambda p: p["config"].__setitem__("colour", "red"), "unknown config keys \\['colour'\\]"),
        (lambda p: p["config"].__setitem__("n_filters", 10**9), "n_filters = 1000000000 is not an integer"),
        (lambda p: p["config"].__setitem__("variant", "gru"), "does not describe an STQS network"),
        (lambda p: p.pop("config"), "lacks \\['config'\\]"),
        (lambda p: p.__setitem__("state_dict", [1]), "lacks \\['state_dict'\\]"),
    ],
)
def test_malformed_checkpoints_are_model_errors(tmp_path, model_file, change, message):
    payload = torch.load(model_file, weights_only=True)
    change(payload)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match=message):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="is a folder"):
        load_model(tmp_path)


def _poisoned(model_file, key, value):
    model = load_model(model_file)
    with torch.no_grad():
        model.state_dict()[key].view(-1)[0] = value
    return model


@pytest.mark.parametrize(
    "key, value",
    [
        ("classifier.weight", float("nan")),
        ("classifier.bias", float("inf")),
        ("blocks.eeg.temporal1.1.running_var", float("inf")),
        ("blocks.eeg.temporal1.1.running_var", -1.0),
    ],
)
def test_non_finite_weights_are_neither_saved_nor_loaded(tmp_path, model_file, key, value):
    model = _poisoned(model_file, key, value)
    with pytest.raises(ModelError, match=f"not saving .*{key}.* hold NaN or inf"):
        save_model(model, tmp_path / "diverged.pt")
    assert not (tmp_path / "diverged.pt").exists()
    payload = torch.load(model_file, weights_only=True)
    payload["state_dict"][key].view(-1)[0] = value
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match=f"{key} hold NaN or inf or a negative variance; it cannot score"):
        load_model(tmp_path / "bad.pt")


def test_an_original_checkpoint_with_non_finite_weights_is_refused(tmp_path):
    path = need(CHECKPOINTS / "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar")
    original = torch.load(path, map_location="cpu", weights_only=True)
    original["state_dict"]["linear.weight"][0, 0] = float("nan")
    torch.save(original, tmp_path / "nan.tar")
    with pytest.raises(ModelError, match="classifier.weight hold NaN"):
        load_model(tmp_path / "nan.tar")


@pytest.mark.parametrize("card", ["a card", ["a", "card"], 3])
def test_a_model_card_that_is_not_a_dict_is_a_model_error(tmp_path, model_file, card):
    payload = torch.load(model_file, weights_only=True)
    payload["info"]["model_card"] = card
    torch.save(payload, tmp_path / "card.pt")
    with pytest.raises(ModelError, match=f"model card .* is a {type(card).__name__}, not a dict"):
        load_model(tmp_path / "card.pt")
