"""Where the dashboard's nights and models come from, and the cached calls into ``stqs_core`` it makes.

Every function here is keyed by hashable arguments and cached per server process, so the preprocessed epochs
of a night and its original probabilities are computed once per night and model, whatever the number of
browser sessions. Nothing here computes what the library already does: it asks ``stqs_core`` and remembers.
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from stqs_core import STQS, STQSConfig, EpochStore, Recording, load_model, read_recording
from stqs_core.checkpoint import DEMO_MODEL, MODELS_DIR
from stqs_core.scoring import recording_epochs

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT.parent / "shared" / "reference" / "stqs_shhs_checkpoints" / \
    "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar"
"""The published SHHS checkpoint used when no model is shipped in ``trained_models/``."""

UNTRAINED = "untrained (seed 0)"


@dataclass(eq=False)
class Night:
    """One night ready for the views.

    ``epochs`` ``(n_epochs, 5, 3750)`` float32 preprocessed (z-scored); ``true`` ``(n_epochs,)`` expert stages
    (-1 unscored) or None; ``recording`` the signals in µV, or None for an HDF5 store (which holds only the
    preprocessed epochs).
    """

    name: str
    epochs: np.ndarray = field(repr=False)
    true: np.ndarray | None = field(default=None, repr=False)
    recording: Recording | None = field(default=None, repr=False)
    flags: dict = field(default_factory=dict, repr=False)


# ---------------------------------------------------------------- models

def model_choices() -> dict[str, str]:
    """Selectable models ``{label: path}``: the shipped ``trained_models/*.pt`` and the published checkpoint."""
    choices = {p.stem: str(p) for p in sorted(MODELS_DIR.glob("*.pt"))}
    if PUBLISHED.is_file():
        choices[f"published: {PUBLISHED.stem}"] = str(PUBLISHED)
    choices[UNTRAINED] = UNTRAINED
    return choices


def default_model() -> tuple[str, str]:
    """``(model key, warning)``: the shipped default, else any shipped model, the published one, or untrained.

    The warning is empty when the shipped default is there.
    """
    shipped = MODELS_DIR / f"{DEMO_MODEL}.pt"
    if shipped.is_file():
        return str(shipped), ""
    others = sorted(MODELS_DIR.glob("*.pt"))
    if others:
        return str(others[0]), f"The default model {DEMO_MODEL} is not in trained_models/; using {others[0].stem}."
    if PUBLISHED.is_file():
        return str(PUBLISHED), (f"No model in trained_models/; using the published SHHS checkpoint "
                                f"{PUBLISHED.name}, which was trained on real recordings, not simulated ones.")
    return UNTRAINED, ("No trained model found (trained_models/ is empty and the published checkpoints are "
                       "absent): this is an UNTRAINED network, its stages mean nothing. Train one with the "
                       "notebooks or pick a checkpoint file.")


@lru_cache(maxsize=4)
def get_model(key: str) -> STQS:
    """The model of ``key`` (a file path or shipped name; :data:`UNTRAINED` for a seeded random network)."""
    if key == UNTRAINED:
        torch.manual_seed(0)
        return STQS(STQSConfig(variant="cnnlstm")).eval()
    return load_model(key)


def model_label(key: str) -> str:
    if key == UNTRAINED:
        return UNTRAINED
    return Path(key).stem


# ---------------------------------------------------------------- nights

@lru_cache(maxsize=4)
def demo_night(hours: float = 8.0, seed: int = 0) -> Night:
    """A simulated night of ``hours`` with its true hypnogram (``stqs_core.simulate``)."""
    from stqs_core.simulate import simulate_night

    return _from_recording(simulate_night(hours=hours, seed=seed, name=f"demo ({hours:g} h, seed {seed})").recording)


@lru_cache(maxsize=4)
def edf_night(path: str, eeg: tuple[str, ...] | None = None, eog: tuple[str, ...] | None = None,
              emg: tuple[str, ...] | None = None, preset: str | None = None) -> Night:
    """An EDF/BDF recording, channels by name or preset (see :func:`stqs_core.read_recording`)."""
    listed = {role: list(names) if names else None for role, names in (("eeg", eeg), ("eog", eog), ("emg", emg))}
    return _from_recording(read_recording(path, preset=preset, **listed))


def upload_night(content: bytes, filename: str, **channels) -> Night:
    """An uploaded EDF: written once to a temporary file named by its content hash, then read like a path."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".edf", ".bdf"):
        raise ValueError(f"{filename} is not an .edf or .bdf file")
    digest = hashlib.sha1(content).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"stqs-upload-{digest}{suffix}"
    if not path.is_file():
        path.write_bytes(content)
    night = edf_night(str(path), **channels)
    night.name = Path(filename).stem
    return night


@lru_cache(maxsize=4)
def store_night(path: str, name: str) -> Night:
    """One recording of an HDF5 epoch store (preprocessed epochs and labels; no µV signals)."""
    with EpochStore(path) as store:
        names = store.recordings
        if name not in names:
            raise ValueError(f"{path} has no recording {name!r}; it holds: {', '.join(names[:20])}")
        epochs, labels = store.read(name)
    true = np.asarray(labels, dtype=np.int64)
    return Night(name, np.asarray(epochs, dtype=np.float32), true if (true >= 0).any() else None)


def store_recordings(path: str) -> list[str]:
    """The recording names in an HDF5 store."""
    with EpochStore(path) as store:
        return store.recordings


def _from_recording(recording: Recording) -> Night:
    epochs, true = recording_epochs(recording)
    return Night(recording.name, epochs.data, true, recording, epochs.flags)


# ---------------------------------------------------------------- scoring and interpretation

@lru_cache(maxsize=8)
def probabilities(night: Night, model_key: str) -> np.ndarray:
    """Stage probabilities ``(n_epochs, 5)`` of the unaltered night (once per night and model)."""
    return get_model(model_key).predict_proba(night.epochs)


@lru_cache(maxsize=16)
def occluded_stages(night: Night, model_key: str, band: tuple[float, float], modalities: tuple[str, ...],
                    mode: str) -> np.ndarray:
    """Stages ``(n_epochs,)`` after removing (``"stop"``) or keeping only (``"pass"``) ``band`` Hz in ``modalities``.

    :func:`stqs_core.interpret.frequency_occlusion` recomputes only the occluded modalities' CNN blocks.
    """
    from stqs_core.interpret import frequency_occlusion

    result = frequency_occlusion(get_model(model_key), night.epochs, bands={"band": band},
                                 modalities=(modalities,), mode=mode)
    return result.per_epoch["new_stage"].to_numpy()


@lru_cache(maxsize=64)
def time_occlusion(night: Night, model_key: str, index: int):
    """:func:`stqs_core.interpret.time_occlusion` of epoch ``index`` (5-s windows every second)."""
    from stqs_core.interpret import time_occlusion as occlude

    return occlude(get_model(model_key), night.epochs, index)


@lru_cache(maxsize=8)
def modality_importance(night: Night, model_key: str):
    """:func:`stqs_core.interpret.modality_importance` of the night (against the expert stages when known)."""
    from stqs_core.interpret import modality_importance as importance

    return importance(get_model(model_key), night.epochs, night.true)


@lru_cache(maxsize=8)
def aasm_report(night: Night, model_key: str):
    """:func:`stqs_core.interpret.aasm_report` of the night (15 band x modality occlusions)."""
    from stqs_core.interpret import aasm_report as report

    return report(get_model(model_key), night.epochs, night.true)


@lru_cache(maxsize=4)
def filters(model_key: str):
    """``(frequency responses, kernels, peaks)`` tables of :mod:`stqs_core.interpret` for the model's filters."""
    from stqs_core.interpret import filter_peaks, kernels, temporal_filters

    model = get_model(model_key)
    return temporal_filters(model), kernels(model), filter_peaks(model)
