"""Save and load models: our single-file format, and the original published STQS ``.tar`` checkpoints.

Both load with ``torch.load(..., weights_only=True)``: a checkpoint never runs code, and weights holding NaN or
inf (or a negative batch-norm variance) are refused when saving and when loading.
Our format is a dict ``{"format", "config", "state_dict", "info"}``; ``info`` holds the channel roles and
names, sampling rate, preprocessing, class names and the model card.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from . import registry
from ._atomic import atomic_path
from .constants import SFREQ, STAGES, preprocessing_info
from .errors import ModelError
from .model import STQS, STQSConfig
from .resources import models_dir

logger = logging.getLogger(__name__)

FORMAT = "stqs-checkpoint/1"
MODELS_DIR = models_dir()
"""The shipped models (:func:`stqs_core.resources.models_dir`); ``load_model("name")`` looks here for ``name.pt``
(see :mod:`stqs_core.registry`)."""

DEFAULT_MODEL = "shhs-oversampling-cnn"
"""The model for real recordings (``stqs score``, :func:`~stqs_core.scoring.score_file`): the authors' SHHS-1
CNN trained with oversampling, fetched on first use. On a real 50 Hz clinical PSG it did best of the published
checkpoints without adaptation and far better than the simulated-data models (issue 14); it is also the published
checkpoint that reads simulated stages best (``benchmarks/realism.py``: 93.6%, N1 84%; kappa 0.912 on 3 nights
against 0.910 residual, 0.907 oversampling_cnnlstm, 0.869 cnnlstm, 0.560 cnn), and it scores epoch by epoch, so
short recordings lose no sequence context."""

DEMO_MODEL = "stqs-cnnlstm-sim"
"""The model for simulated nights: the demo, the dashboard's demo night and the teaching notebooks (shipped)."""

SHHS_CHANNELS = {"eeg": ["EEG(sec)", "EEG"], "eog": ["EOG(L)", "EOG(R)"], "emg": ["EMG"]}


def default_info() -> dict:
    """``info`` of a fresh model: the published channel layout and preprocessing.

    Returns
    -------
    dict
    """
    return {
        "channels": {role: list(names) for role, names in SHHS_CHANNELS.items()},
        "sfreq": SFREQ,
        "preprocessing": preprocessing_info(),
        "class_names": list(STAGES),
        "model_card": {},
    }


def save_model(model: STQS, path: str | Path, model_card: dict | None = None) -> Path:
    """Write a model with its config and ``info`` to a file, atomically.

    Parameters
    ----------
    model : STQS
        The model.
    path : str or Path
        The ``.pt`` file to write.
    model_card : dict or None
        Entries that update the model card in ``model.info["model_card"]``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ModelError
        When a weight or buffer holds NaN or inf, or a batch-norm variance is negative (nothing is written).
    """
    state_dict = model.state_dict()
    bad = nonfinite_weights(state_dict)
    if bad:
        raise ModelError(
            f"not saving {path}: {_listed(bad)} hold NaN or inf or a negative variance (a diverged training); "
            "train again with a smaller learning rate (--lr), after checking the data"
        )
    info = {**default_info(), **model.info}
    card = info.get("model_card", {})
    info["model_card"] = {**(card if isinstance(card, dict) else {}), **(model_card or {})}
    payload = {"format": FORMAT, "config": model.config.to_dict(), "state_dict": state_dict, "info": info}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_model(path: str | Path = DEFAULT_MODEL) -> STQS:
    """Load a model in eval mode: our ``.pt`` format, an original STQS ``.tar``, or a registry name.

    Parameters
    ----------
    path : str or Path
        A model file, or a name of :mod:`stqs_core.registry` (``shhs-oversampling-cnn``, fetched on first use;
        ``stqs-cnnlstm-sim``, shipped).

    Returns
    -------
    STQS
        With ``info`` (channel names, sampling rate, model card).

    Raises
    ------
    ModelError
        For an unknown name, a missing or unreadable file, or a checkpoint whose config or weights do not
        describe an STQS network (unknown or out-of-range config values, missing keys, wrong tensor shapes,
        weights holding NaN or inf, a negative batch-norm variance, a model card that is not a dict); the
        config is checked before the network is built, so a malformed file cannot size an allocation.

    Examples
    --------
    >>> from stqs_core import load_model
    >>> model = load_model("stqs-cnnlstm-sim")  # shipped; a published name is fetched once
    >>> model.config.variant
    'cnnlstm'
    """
    if Path(path).is_dir():
        raise ModelError(f"model {path} is a folder; give a .pt/.tar file or a model name (stqs models list)")
    path = resolve_model_path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a bad file
        raise ModelError(
            f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {str(err)[:200]})"
        ) from err
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        model = _from_ours(payload, path)
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        model = _from_original(payload, path)
    else:
        raise ModelError(f"{path} is neither an STQS checkpoint of ours nor an original STQS .tar checkpoint")
    logger.info("loaded %s (%s)", path.name, model.config.variant)
    return model.eval()


_CONFIG_RANGES = {
    "n_samples": (64, 100_000),
    "n_filters": (1, 512),
    "kernel_size": (1, 10_000),
    "pool_size": (1, 10_000),
    "lstm_hidden": (1, 4096),
    "window": (1, 4096),
    "n_classes": (2, 64),
}


def _from_ours(payload: dict, path: Path) -> STQS:
    """Build our format's network after checking every config value that sizes it, then load its weights."""
    fix = "save it again with stqs_core.save_model, or use a shipped model"
    missing = [k for k in ("config", "state_dict", "info") if not isinstance(payload.get(k), dict)]
    if missing:
        raise ModelError(f"{path}: the checkpoint lacks {missing} (or they are not dicts); {fix}")
    card = payload["info"].get("model_card", {})
    if not isinstance(card, dict):
        raise ModelError(f"{path}: its model card (info['model_card']) is a {type(card).__name__}, not a dict; {fix}")
    config = payload["config"]
    known = set(STQSConfig.__dataclass_fields__)
    if set(config) - known:
        raise ModelError(
            f"{path}: unknown config keys {sorted(set(config) - known)}; known: {sorted(known)}. Was "
            f"it saved by a newer STQS? Upgrade stqs or {fix}"
        )
    for key, (low, high) in _CONFIG_RANGES.items():
        if key in config and (
            not isinstance(config[key], int) or isinstance(config[key], bool) or not low <= config[key] <= high
        ):
            raise ModelError(f"{path}: config {key} = {config[key]!r:.40} is not an integer in [{low}, {high}]; {fix}")
    channels = config.get("n_channels", {})
    if not (isinstance(channels, dict) and all(isinstance(v, int) and 1 <= v <= 64 for v in channels.values())):
        raise ModelError(f"{path}: config n_channels = {channels!r:.80} is not {{role: 1-64 channels}}; {fix}")
    if not isinstance(config.get("dropout", 0.0), (int, float)) or not 0 <= config.get("dropout", 0.0) <= 1:
        raise ModelError(f"{path}: config dropout = {config.get('dropout')!r:.40} is not in [0, 1]; {fix}")
    try:
        with torch.device("meta"):  # shapes only, no memory: the file's own tensors then bound the real network
            skeleton = STQS(STQSConfig(**config), payload["info"])
    except (ValueError, TypeError, RuntimeError) as err:
        raise ModelError(f"{path}: the config does not describe an STQS network ({err}); {fix}") from err
    _check_weights(skeleton, payload["state_dict"], path)
    _check_finite(payload["state_dict"], path)
    model = STQS(STQSConfig(**config), payload["info"])
    model.load_state_dict(payload["state_dict"])
    return model


def _check_weights(model: STQS, state_dict: dict, path: Path) -> None:
    """Raise a :class:`ModelError` naming the tensors of ``state_dict`` that do not fit ``model``."""
    target = model.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} (expected {tuple(target[k].shape)})"
        for k, v in state_dict.items()
        if k in target and (not isinstance(v, torch.Tensor) or v.shape != target[k].shape)
    ]
    missing, unexpected = sorted(set(target) - set(state_dict)), sorted(set(state_dict) - set(target))
    if wrong or missing or unexpected:
        details = "; ".join(
            f"{what}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
            for what, items in (("wrong shapes", wrong), ("missing", missing), ("unexpected", unexpected))
            if items
        )
        raise ModelError(
            f"{path}: the weights do not fit the network its config describes ({details}); is the file "
            "complete and unmodified?"
        )


def nonfinite_weights(state_dict: dict) -> list[str]:
    """The names of the tensors of ``state_dict`` holding NaN or inf, and of the negative batch-norm variances.

    Parameters
    ----------
    state_dict : dict of str to torch.Tensor
        A network's weights and buffers.

    Returns
    -------
    list of str
        Empty when every tensor is usable.
    """
    bad = []
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            continue
        if not torch.isfinite(value).all() or (key.endswith("running_var") and (value < 0).any()):
            bad.append(key)
    return bad


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _check_finite(state_dict: dict, path: Path) -> None:
    """Raise a :class:`ModelError` naming the tensors of ``state_dict`` that hold NaN, inf or negative variances."""
    bad = nonfinite_weights(state_dict)
    if bad:
        raise ModelError(
            f"{path}: {_listed(bad)} hold NaN or inf or a negative variance; it cannot score. It was saved from a "
            "diverged training or damaged: use another model or train it again"
        )


def resolve_model_path(path: str | Path) -> Path:
    """A model file's path: the argument itself if it exists, else the file of a model name (fetched if needed).

    Parameters
    ----------
    path : str or Path
        A model file or a registry name.

    Returns
    -------
    Path

    Raises
    ------
    ModelError
        Neither a file nor a known name, or a published checkpoint cannot be fetched (see
        :func:`stqs_core.registry.resolve`).
    """
    return registry.resolve(path)


_RENAMES = [
    (r"^channelBlocks\.(\w+)\.layer1\.", r"blocks.\1.spatial."),
    (r"^channelBlocks\.(\w+)\.layer2\.", r"blocks.\1.temporal1."),
    (r"^channelBlocks\.(\w+)\.layer3\.", r"blocks.\1.temporal2."),
    (r"^lstm\.lstm\.", "head.lstm."),
    (r"^lstm\.residual_connection\.", "head.residual."),
    (r"^linear\.", "classifier."),
]


def _from_original(payload: dict, path: Path) -> STQS:
    """Build the published network for an original checkpoint and map its weights onto ours."""
    original = payload["state_dict"]
    variant = "cnn"
    if "lstm.lstm.weight_ih_l0" in original:
        variant = "cnnlstm-residual" if "lstm.residual_connection.0.weight" in original else "cnnlstm"
    info = default_info()
    info["model_card"] = {
        "name": registry.published_name(path.name) or path.stem,
        "source": "Pathak et al. 2021, published SHHS-1 checkpoint",
        "file": path.name,
        "trained_epochs": payload.get("epoch"),
        "training_data": "SHHS-1 (4,692 training nights)",
    }
    model = STQS(STQSConfig(variant=variant), info)
    target = model.state_dict()
    mapped = {}
    for key, tensor in original.items():
        new = key
        for pattern, repl in _RENAMES:
            new = re.sub(pattern, repl, new)
        if new not in target:
            raise ModelError(f"{path.name}: unexpected weight {key!r}; is this an STQS checkpoint?")
        if not isinstance(tensor, torch.Tensor) or tensor.numel() != target[new].numel():
            raise ModelError(
                f"{path.name}: weight {key!r} has shape {tuple(getattr(tensor, 'shape', ()))}, expected "
                f"{tuple(target[new].shape)}; is the file complete and unmodified?"
            )
        mapped[new] = tensor.reshape(target[new].shape)  # Conv2d (.., 1, k) kernels become Conv1d (.., k)
    _check_weights(model, mapped, path)
    _check_finite(mapped, path)
    model.load_state_dict(mapped)
    return model
