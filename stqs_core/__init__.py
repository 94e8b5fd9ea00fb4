"""STQS: interpretable multi-modal sleep staging (Pathak et al., Artificial Intelligence in Medicine 114, 2021).

The path of a night: :mod:`~stqs_core.recording` (read EDF, channels by name) -> :mod:`~stqs_core.preprocess`
(125 Hz, filters, 30-s epochs, z-score) -> :mod:`~stqs_core.model` (the network) -> :mod:`~stqs_core.scoring`
(probabilities and hypnogram).
"""

from importlib.metadata import PackageNotFoundError, version

from .annotations import read_hypnogram
from .checkpoint import load_model, save_model
from .hypnogram import Hypnogram
from .model import STQS, STQSConfig
from .preprocess import make_epochs
from .recording import Recording, read_recording
from .scoring import ScoredNight, score_file, score_recording
from .sleepstats import sleep_statistics
from .store import EpochStore

try:
    __version__ = version("stqs")  # pyproject.toml's, the one place the version is written
except PackageNotFoundError:  # used from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "STQS",
    "STQSConfig",
    "EpochStore",
    "Hypnogram",
    "Recording",
    "ScoredNight",
    "load_model",
    "make_epochs",
    "read_hypnogram",
    "read_recording",
    "save_model",
    "score_file",
    "score_recording",
    "sleep_statistics",
]
