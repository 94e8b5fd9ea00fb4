import copy

import h5py
import numpy as np
import pytest
import torch

from stqs_core import STQS, STQSConfig, load_model
from stqs_core.errors import ModelError
from stqs_core.model import VARIANTS, keep_modalities

from .conftest import CHECKPOINTS, REFERENCE, need

CHECKPOINT_STEMS = [
    "model2d_shhs1_4692_5213_allCh_cnn",
    "model2d_shhs1_4692_5213_allCh_oversampling_cnn",
    "model2d_shhs1_4692_5213_allCh_weightedloss1_cnn",
    "model2d_shhs1_4692_5213_allCh_weightedloss2_cnn",
    "model2d_shhs1_4692_5213_allCh_cnnlstm_ReturnAllChunk_seq_info",
    "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info",
    "model2d_shhs1_4692_5213_allCh_weightedloss1_cnnlstm_ReturnAllChunk_seq_info",
    "model2d_shhs1_4692_5213_allCh_weightedloss2_cnnlstm_ReturnAllChunk_seq_info",
    "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info_residual_con",
]
PARAMETERS = {"cnn": 15993, "cnnlstm": 81713, "cnnlstm-residual": 97833}


@pytest.mark.parametrize("stem", CHECKPOINT_STEMS)
def test_published_checkpoint_reproduces_reference_logits(stem):
    vectors = need(REFERENCE / "stqs_reference_vectors.h5")
    model = load_model(need(CHECKPOINTS / f"{stem}.tar"))
    with h5py.File(vectors) as f:
        x, expected = f["input"][:], f[f"logits/{stem}"][:]
    assert np.abs(model.predict_logits(x) - expected).max() < 1e-4
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[model.config.variant]


@pytest.mark.parametrize("variant", VARIANTS)
def test_fresh_model_has_published_size(variant):
    model = STQS(STQSConfig(variant=variant))
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[variant]
    assert model.classifier.out_features == 5


def _model(variant="cnnlstm", seed=0):
    torch.manual_seed(seed)
    return STQS(STQSConfig(variant=variant)).eval()


def test_sequence_windows_carry_state_and_keep_every_epoch():
    model = _model()
    x = np.random.default_rng(1).standard_normal((13, 5, 3750)).astype(np.float32)
    full = model.predict_logits(x)
    assert full.shape == (13, 5)  # 13 is not a multiple of 8: nothing dropped or duplicated
    np.testing.assert_allclose(model.predict_logits(x[:8]), full[:8], atol=1e-5)  # first window starts at zeros
    alone = model.predict_logits(x[8:])  # the second window read from a zero state differs: the state is carried
    assert np.abs(alone - full[8:]).max() > 1e-4


def test_cnn_epochs_are_independent():
    model = _model("cnn")
    x = np.random.default_rng(2).standard_normal((10, 5, 3750)).astype(np.float32)
    np.testing.assert_allclose(model.predict_logits(x)[3:7], model.predict_logits(x[3:7]), atol=1e-5)


def test_chunk_size_and_4d_input_do_not_change_results():
    model = _model("cnnlstm-residual")
    x = np.random.default_rng(3).standard_normal((20, 5, 3750)).astype(np.float32)
    np.testing.assert_allclose(model.predict_logits(x, batch_size=3), model.predict_logits(x[:, None]), atol=1e-5)


def test_predict_proba_is_a_distribution():
    p = _model().predict_proba(np.random.default_rng(4).standard_normal((9, 5, 3750)).astype(np.float32))
    assert p.shape == (9, 5) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 5, 3000), (4, 4, 3750), (5, 3750), (0, 5, 3750)])
def test_wrong_input_shape_is_refused(shape):
    with pytest.raises(ValueError, match="epoch"):
        _model().predict_logits(np.zeros(shape, np.float32))


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        STQSConfig(variant="transformer")


def _randomised(model: STQS) -> STQS:
    """Batch norms with non-trivial statistics and negative scales (max-pool must not commute naively)."""
    gen = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) * 2 - 1)
    return model


@pytest.mark.parametrize("kernel_size, pool_size, n_samples", [(64, 16, 3750), (5, 3, 100), (7, 4, 64)])
def test_fast_temporal_layers_match_the_nn_layers_in_eval_mode(kernel_size, pool_size, n_samples):
    config = STQSConfig(variant="cnn", kernel_size=kernel_size, pool_size=pool_size, n_samples=n_samples)
    model = _randomised(STQS(config)).eval()
    x = torch.randn(3, 5, n_samples, generator=torch.Generator().manual_seed(0))
    results = []
    for reference in (False, True):  # outputs, and input gradients (saliency)
        inputs = x.clone().requires_grad_()
        out = model.features(inputs, reference=reference)
        out.sum().backward()
        results.append((out.detach(), inputs.grad))
    (fast, fast_grad), (plain, plain_grad) = results
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel_size, pool_size, n_samples", [(64, 16, 3750), (5, 3, 100), (7, 4, 64)])
def test_fast_temporal_layers_match_the_nn_layers_in_training(kernel_size, pool_size, n_samples):
    """Outputs, every gradient and the batch-norm running statistics (which count the unpooled tail too)."""
    torch.manual_seed(0)
    config = STQSConfig(variant="cnn", kernel_size=kernel_size, pool_size=pool_size, n_samples=n_samples)
    fast = _randomised(STQS(config)).train().double()
    slow = copy.deepcopy(fast)
    x = torch.randn(4, 5, n_samples, dtype=torch.float64)
    for model in (fast, slow):
        torch.manual_seed(1)  # same dropout masks
        out = model.features(x, reference=model is slow)
        (out * torch.linspace(-1, 1, out.shape[1], dtype=torch.float64)).sum().backward()
    for (name, a), b in zip(fast.named_parameters(), slow.parameters()):
        if a.grad is None:  # unused (the classifier), or a convolution bias that batch norm cancels
            assert b.grad is None or (name.endswith(".0.bias") and b.grad.abs().max() < 1e-9), name
            continue
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-9, msg=lambda m: f"{name}: {m}")
    for (name, a), b in zip(fast.named_buffers(), slow.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=lambda m: f"{name}: {m}")


def test_predict_restores_each_modules_training_mode():
    model = STQS(STQSConfig(variant="cnnlstm-residual")).train()
    model.blocks.emg.eval()  # a mixed state, as during batch-norm adaptation
    modes = [m.training for m in model.modules()]
    x = np.random.default_rng(5).standard_normal((9, 5, 3750)).astype(np.float32)
    assert np.allclose(model.predict_proba(x), model.eval().predict_proba(x), atol=1e-6)  # predictions in eval mode
    model.train()
    model.blocks.emg.eval()
    model.predict_logits(x)
    assert [m.training for m in model.modules()] == modes


SUBSETS = [("eeg",), ("eeg", "eog"), ("eeg", "emg"), ("eog",), ("eog", "emg")]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kept", SUBSETS)
def test_a_kept_subset_scores_as_the_full_model_without_the_absent_blocks(variant, kept):
    torch.manual_seed(0)
    model = STQS(STQSConfig(variant=variant)).eval()
    x = torch.randn(12, 5, 3750)
    rows = {"eeg": [0, 1], "eog": [2, 3], "emg": [4]}
    columns = {"eeg": slice(0, 160), "eog": slice(160, 320), "emg": slice(320, 400)}
    with torch.no_grad():
        features = model.features(x)
        for role in set(rows) - set(kept):
            features[:, columns[role]] = 0  # what an absent block contributes: nothing
        expected = model.classify(features)
        subset = keep_modalities(model, kept)
        got = subset(x[:, [r for role in kept for r in rows[role]]])
    assert subset.config.modalities == kept and set(subset.blocks) == set(kept)
    assert subset.info["model_card"]["modalities"] == list(kept)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)  # float32 sums of <= 400 terms


def test_a_subset_config_keeps_the_network_order_and_is_not_empty():
    assert STQSConfig(n_channels={"eeg": 1, "emg": 1}).modalities == ("eeg", "emg")
    for wrong in ({}, {"emg": 1, "eeg": 2}, {"ecg": 1}):
        with pytest.raises(ModelError, match="n_channels"):
            STQSConfig(n_channels=wrong)
    with pytest.raises(ModelError, match="blocks for"):
        keep_modalities(keep_modalities(STQS(STQSConfig(variant="cnn")), ["eeg"]), ["eog"])


def test_a_subset_model_saves_and_loads(tmp_path):
    from stqs_core import save_model

    model = keep_modalities(STQS(STQSConfig(variant="cnnlstm")), ["eeg", "emg"])
    loaded = load_model(save_model(model, tmp_path / "eeg-emg.pt"))
    x = np.random.default_rng(0).normal(size=(9, 3, 3750)).astype(np.float32)
    assert loaded.config.modalities == ("eeg", "emg")
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))
