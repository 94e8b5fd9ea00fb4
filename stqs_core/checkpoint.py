"""Save and load models: our single-file format, and the original published STQS ``.tar`` checkpoints.

Both load with ``torch.load(..., weights_only=True)``: a checkpoint never runs code.
Our format is a dict ``{"format", "config", "state_dict", "info"}``; ``info`` holds the channel roles and
names, sampling rate, preprocessing, class names and the model card.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from ._atomic import atomic_path
from .constants import BANDPASS, FILTER_ORDER, SFREQ, STAGES
from .model import STQS, STQSConfig
from .resources import models_dir

logger = logging.getLogger(__name__)

FORMAT = "stqs-checkpoint/1"
MODELS_DIR = models_dir()
"""The shipped models (:func:`stqs_core.resources.models_dir`); ``load_model("name")`` looks here for ``name.pt``."""

DEFAULT_MODEL = "stqs-cnnlstm-sim"

SHHS_CHANNELS = {"eeg": ["EEG(sec)", "EEG"], "eog": ["EOG(L)", "EOG(R)"], "emg": ["EMG"]}


def default_info() -> dict:
    """``info`` of a fresh model: the published channel layout and preprocessing."""
    return {
        "channels": {role: list(names) for role, names in SHHS_CHANNELS.items()},
        "sfreq": SFREQ,
        "preprocessing": {"bandpass_hz": {r: list(b) for r, b in BANDPASS.items()}, "butterworth_order": FILTER_ORDER,
                          "zero_phase": True, "zscore": "per epoch and channel"},
        "class_names": list(STAGES),
        "model_card": {},
    }


def save_model(model: STQS, path: str | Path, model_card: dict | None = None) -> Path:
    """Write ``model`` with its config and ``info`` to ``path`` atomically; ``model_card`` updates the card."""
    info = {**default_info(), **model.info}
    info["model_card"] = {**info.get("model_card", {}), **(model_card or {})}
    payload = {"format": FORMAT, "config": model.config.to_dict(), "state_dict": model.state_dict(), "info": info}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_model(path: str | Path = DEFAULT_MODEL) -> STQS:
    """Load a model in eval mode: our ``.pt`` format, an original STQS ``.tar``, or a shipped model's name."""
    path = resolve_model_path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a bad file
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({err})") from err
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        model = STQS(STQSConfig(**payload["config"]), payload["info"])
        model.load_state_dict(payload["state_dict"])
    elif isinstance(payload, dict) and "state_dict" in payload:
        model = _from_original(payload, path)
    else:
        raise ValueError(f"{path} is neither an STQS checkpoint of ours nor an original STQS .tar checkpoint")
    logger.info("loaded %s (%s)", path.name, model.config.variant)
    return model.eval()


def resolve_model_path(path: str | Path) -> Path:
    """A model file's path: ``path`` itself if it exists, else ``trained_models/<path>.pt``."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    shipped = MODELS_DIR / f"{path}.pt"
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in MODELS_DIR.glob("*.pt"))
    raise FileNotFoundError(f"no model file {path!s} and no shipped model of that name; shipped models: {names}")


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
    info["model_card"] = {"source": "Pathak et al. 2021, published SHHS-1 checkpoint", "file": path.name,
                          "trained_epochs": payload.get("epoch"), "training_data": "SHHS-1 (4,692 training nights)"}
    model = STQS(STQSConfig(variant=variant), info)
    target = model.state_dict()
    mapped = {}
    for key, tensor in original.items():
        new = key
        for pattern, repl in _RENAMES:
            new = re.sub(pattern, repl, new)
        if new not in target:
            raise ValueError(f"{path.name}: unexpected weight {key!r}; is this an STQS checkpoint?")
        mapped[new] = tensor.reshape(target[new].shape)  # Conv2d (.., 1, k) kernels become Conv1d (.., k)
    model.load_state_dict(mapped)
    return model
