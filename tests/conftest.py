"""Shared fixtures: paths to ../shared, a small synthetic EDF, a seeded untrained model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
CHECKPOINTS = REFERENCE / "stqs_shhs_checkpoints"
HYPNOGRAMS = SHARED / "data" / "hypnograms"
SHHS_NAMES = ["EEG(sec)", "EEG", "EOG(L)", "EOG(R)", "EMG"]


def need(path: Path) -> Path:
    """Skip the test with a clear message where the shared material is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent (the read-only ../shared material next to the repository)")
    return path


@pytest.fixture
def random_night():
    """A function making ``(5, n)`` µV of noise with an EEG-like scale, ``minutes`` long at ``sfreq``."""
    def make(minutes: float = 4.0, sfreq: float = 125.0, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.standard_normal((5, int(minutes * 60 * sfreq))) * np.array([[30], [30], [40], [40], [5]])
    return make


@pytest.fixture
def edf_file(tmp_path, random_night):
    """A 4-minute SHHS-named EDF with an 8-epoch embedded hypnogram."""
    from stqs_core.recording import write_edf

    path = tmp_path / "night.edf"
    write_edf(path, random_night(), SHHS_NAMES, 125, stages=np.array([0, 0, 1, 2, 2, 3, 4, -1]))
    return path


@pytest.fixture
def model_file(tmp_path):
    """An untrained, seeded ``cnnlstm`` model saved in our format."""
    from stqs_core import STQS, STQSConfig, save_model

    torch.manual_seed(0)
    return save_model(STQS(STQSConfig(variant="cnnlstm")).eval(), tmp_path / "model.pt", {"name": "test-model"})
