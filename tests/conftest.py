"""Shared fixtures: paths to ../shared, a small synthetic EDF, seeded untrained models, nights to interpret;
markers by need.

Markers (registered in pyproject.toml): ``slow`` (tens of seconds or more: ``pytest -m "not slow"`` is the quick
loop), ``browser`` (drives Chromium; every test using the ``page`` fixture, slow too) and ``needs_shared`` (reads
the read-only ../shared material, or ``$STQS_SHARED``; every test that calls :func:`need`). The last two are
applied here, at collection.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STQS_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "reference"
CHECKPOINTS = REFERENCE / "stqs_shhs_checkpoints"
HYPNOGRAMS = SHARED / "data" / "hypnograms"
SHHS_NAMES = ["EEG(sec)", "EEG", "EOG(L)", "EOG(R)", "EMG"]


def need(path: Path) -> Path:
    """Skip the test with a clear message where the shared material is absent (a test calling it is marked
    ``needs_shared``)."""
    if not path.exists():
        pytest.skip(
            f"{path} is absent (the read-only ../shared material next to the repository; "
            "STQS_SHARED=DIR points elsewhere)"
        )
    return path


@pytest.fixture(autouse=True)
def models_offline(monkeypatch, tmp_path_factory):
    """No test reaches the internet or the user's cache: named published models come from the ../shared copies
    (a local mirror, see stqs_core.registry) into a per-session cache, or fail with a ModelError without them."""
    monkeypatch.setenv("STQS_MODELS_DIR", str(tmp_path_factory.getbasetemp() / "models-cache"))
    monkeypatch.setenv("STQS_MODELS_URL", str(CHECKPOINTS if CHECKPOINTS.is_dir() else ROOT / "no-models-here"))


def pytest_collection_modifyitems(items):
    """Mark ``needs_shared`` the tests whose function calls :func:`need`, ``browser`` and ``slow`` those using the
    ``page`` fixture (a served dashboard in Chromium: tens of seconds)."""
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and need.__name__ in function.__code__.co_names:
            item.add_marker(pytest.mark.needs_shared)
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


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
    from stqs_core.edf import write_edf

    path = tmp_path / "night.edf"
    write_edf(path, random_night(), SHHS_NAMES, 125, stages=np.array([0, 0, 1, 2, 2, 3, 4, -1]))
    return path


@pytest.fixture
def model_file(tmp_path):
    """An untrained, seeded ``cnnlstm`` model saved in our format."""
    from stqs_core import STQS, STQSConfig, save_model

    torch.manual_seed(0)
    return save_model(STQS(STQSConfig(variant="cnnlstm")).eval(), tmp_path / "model.pt", {"name": "test-model"})


def write_synthetic_store(
    path: Path, n_nights: int = 6, n_epochs: int = 48, seed: int = 0, unscored: bool = True
) -> Path:
    """An epoch store of learnable synthetic nights: each stage a sinusoid of its own frequency plus noise,
    z-scored per epoch and channel; stages in runs, N2 the most frequent; the first epoch unscored."""
    from stqs_core import EpochStore

    rng = np.random.default_rng(seed)
    t = np.arange(3750) / 125.0
    freqs = np.array([10.0, 6.0, 13.0, 1.5, 4.0])  # W, N1, N2, N3, REM
    with EpochStore(path, "w") as store:
        for night in range(n_nights):
            runs = rng.choice(5, size=n_epochs, p=[0.2, 0.1, 0.4, 0.15, 0.15])
            labels = np.repeat(runs, rng.integers(1, 5, size=n_epochs))[:n_epochs].astype(np.int8)
            phase = rng.uniform(0, 2 * np.pi, (n_epochs, 5, 1))
            x = np.sin(2 * np.pi * freqs[labels][:, None, None] * t + phase) + rng.standard_normal((n_epochs, 5, 3750))
            x = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
            if unscored:
                labels[0] = -1
            store.append(f"night{night:02d}", x.astype(np.float32), labels)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's training tests: with other processes on the cores, two threads spin
    against each other and crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fresh_model(variant: str, seed: int = 0):
    """An untrained, seeded STQS of ``variant`` in eval mode, its batch-norm running variances drawn from
    U(0.5, 2) so that folding them into the convolutions is exercised (the identity would hide mistakes)."""
    from stqs_core import STQS, STQSConfig

    torch.manual_seed(seed)
    model = STQS(STQSConfig(variant=variant)).eval()
    for bn in [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]:
        bn.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def noise_night():
    """``(epochs (20, 5, 3750) float32, labels (20,))``: 20 epochs of z-scored noise with stage-like labels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 5, 3750)).astype(np.float32)
    return x, rng.integers(0, 5, 20)


@pytest.fixture(scope="module")
def simulated_night():
    """A simulated 75-minute night through every stage, preprocessed: ``(epochs (N, 5, 3750), stages (N,),
    events table)``."""
    from stqs_core import make_epochs
    from stqs_core.simulate import simulate_night

    hypnogram = np.repeat([0, 1, 2, 3, 2, 4, 1, 2], [20, 10, 30, 25, 15, 25, 5, 20])
    night = simulate_night(hypnogram, seed=1)
    epochs = make_epochs(night.recording.data, night.recording.sfreq).data
    return epochs, night.stages[: len(epochs)], night.events
