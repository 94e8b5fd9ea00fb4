"""Many simulated nights, preprocessed, into one HDF5 epoch store: the training and notebook data."""

from __future__ import annotations

import logging
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from ..errors import StqsError
from ..preprocess import make_epochs
from ..store import EpochStore
from .night import simulate_night
from .profiles import Profile

logger = logging.getLogger(__name__)


def simulate_store(
    path: str | Path,
    n_nights: int,
    *,
    hours: float = 8.0,
    seed: int = 0,
    hypnograms: list[str | Path | np.ndarray] | None = None,
    sfreq: int | None = None,
    profile: str | Profile = "in-domain",
) -> Path:
    """Simulate ``n_nights`` and append each, preprocessed by :func:`~stqs_core.make_epochs`, to an epoch store.

    Parameters
    ----------
    path : str | Path
        The ``.h5`` store; created when absent, appended to otherwise (nights it already holds are skipped,
        so an interrupted run resumes).
    n_nights : int
        Number of nights.
    hours : float
        Length of nights drawn from the stage model (when ``hypnograms`` is None).
    seed : int
        Base seed; night ``i`` uses seed ``seed * 100_003 + i`` and is named ``sim-<seed>-<i>``.
    hypnograms : list | None
        Hypnogram files or stage arrays driving the nights, cycled; None draws from the stage model.
    sfreq : int | None
        Sampling rate the nights are simulated at (they are resampled to 125 Hz by preprocessing); None takes
        the profile's, else 125 Hz.
    profile : str | Profile
        Lab profile of every night (see :func:`~stqs_core.simulate.simulate_night`); the store keeps its labels
        and channel names.
    """
    from tqdm.auto import tqdm

    if n_nights < 1:
        raise StqsError(f"n_nights must be at least 1, got {n_nights}")
    drivers = list(islice(cycle(hypnograms), n_nights)) if hypnograms else [None] * n_nights
    path = Path(path)
    with EpochStore(path, "a") as store:
        done = set(store.recordings)
        for i, hypnogram in enumerate(tqdm(drivers, desc="simulate", unit="night")):
            name = f"sim-{seed}-{i:04d}"
            if name in done:
                continue
            night = simulate_night(
                hypnogram, hours=hours, seed=seed * 100_003 + i, sfreq=sfreq, name=name, profile=profile
            )
            rec = night.recording
            epochs = make_epochs(rec.data, rec.sfreq, rec.channel_names)
            store.append(name, epochs.data, night.stages, rec.channel_names)
            logger.info("%s: %d epochs, %d events", name, len(night.stages), len(night.events))
    return path
