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

from . import registry
from ._atomic import atomic_path
from .constants import BANDPASS, FILTER_ORDER, SFREQ, STAGES
from .model import STQS, STQSConfig

logger = logging.getLogger(__name__)

FORMAT = "stqs-checkpoint/1"
MODELS_DIR = Path(__file__).resolve().parents[1] / "trained_models"
"""The shipped models; ``load_model("name")`` looks here for ``name.pt`` (see :mod:`stqs_core.registry`)."""

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
    """Load a model in eval mode: our ``.pt`` format, an original STQS ``.tar``, or a model name of
    :mod:`stqs_core.registry` (``shhs-oversampling-cnn``, fetched on first use; ``stqs-cnnlstm-sim``, shipped)."""
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
    """A model file's path: ``path`` itself if it exists, else the file of a model name (fetched if needed).

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
    info["model_card"] = {"name": registry.published_name(path.name) or path.stem,
                          "source": "Pathak et al. 2021, published SHHS-1 checkpoint", "file": path.name,
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
