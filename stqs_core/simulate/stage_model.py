"""Stage model: a semi-Markov chain of stage bouts whose transitions and bout lengths depend on the time of night.

Derived from real expert hypnograms (:func:`derive_stage_model`, run by ``scripts/derive_stage_model.py``) and
stored in ``stage_model.json`` beside this module: per third of the night, the bout-to-bout transition matrix
(no self-transitions) and quantiles of the bout length of each stage. Sampling a night walks the chain from
wake; slow-wave sleep comes early and REM late because the thirds differ.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..constants import EPOCH_SEC, STAGES, UNSCORED
from ..errors import StqsError
from ..hypnogram import fill_unscored, runs

MODEL_PATH = Path(__file__).with_name("stage_model.json")
N_QUANTILES = 21


def derive_stage_model(nights: list[np.ndarray], n_segments: int = 3, sources: dict | None = None) -> dict:
    """Estimate the stage model from hypnograms.

    Parameters
    ----------
    nights : list of ndarray of int, shape (n_epochs,) each
        Stage codes, already trimmed (:func:`trim_wake`); -1 epochs take the previous stage.
    n_segments : int
        The night is cut into this many equal parts, each with its own transitions and bout lengths.
    sources : dict or None
        Provenance stored in the model (datasets, nights).

    Returns
    -------
    dict
        The JSON-ready model that :func:`sample_hypnogram` reads: stage proportions, first-stage shares, transition
        matrices ``(n_segments, 5, 5)`` and bout-length quantiles (epochs) per segment and stage.
    """
    n_stages = len(STAGES)
    counts = np.zeros((n_segments, n_stages, n_stages))
    lengths: list[list[list[int]]] = [[[] for _ in range(n_stages)] for _ in range(n_segments)]
    totals = np.zeros(n_stages)
    first = np.zeros(n_stages)
    for night in nights:
        night = fill_unscored(night) if np.any(night != UNSCORED) else night
        stage, start, length = runs(night)
        segment = np.minimum((start + length / 2) / len(night) * n_segments, n_segments - 1).astype(int)
        for i in range(len(stage)):
            lengths[segment[i]][stage[i]].append(int(length[i]))
            if i + 1 < len(stage):
                counts[segment[i], stage[i], stage[i + 1]] += 1
        totals += np.bincount(night, minlength=n_stages)
        first[stage[0]] += 1
    q = np.linspace(0, 1, N_QUANTILES)
    bouts = [
        [
            np.quantile(lengths[s][k], q).round(2).tolist() if lengths[s][k] else [1.0] * N_QUANTILES
            for k in range(n_stages)
        ]
        for s in range(n_segments)
    ]
    counts += 0.05 * (1 - np.eye(n_stages))  # every transition stays possible
    transitions = (counts / counts.sum(-1, keepdims=True)).round(4)
    return {
        "format": "stqs-stage-model/1",
        "stages": list(STAGES),
        "n_segments": n_segments,
        "n_nights": len(nights),
        "sources": sources or {},
        "proportions": (totals / totals.sum()).round(4).tolist(),
        "first_stage": (first / first.sum()).round(4).tolist(),
        "transitions": transitions.tolist(),
        "bout_quantiles": bouts,
        "bout_counts": [[len(lengths[s][k]) for k in range(n_stages)] for s in range(n_segments)],
    }


@lru_cache(maxsize=1)
def load_stage_model(path: str | Path = MODEL_PATH) -> dict:
    """The stage model (see :func:`derive_stage_model`), read once per process.

    Parameters
    ----------
    path : str or Path
        The model's JSON file; the default is the one shipped with the package.

    Returns
    -------
    dict
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"stage model {path} is missing; run scripts/derive_stage_model.py to derive it")
    return json.loads(path.read_text())


def sample_hypnogram(hours: float = 8.0, seed: int = 0, model: dict | None = None) -> np.ndarray:
    """Draw a night from the stage model, starting awake.

    Parameters
    ----------
    hours : float
        Length of the night in hours.
    seed : int
        Seed; the same seed gives the same night.
    model : dict or None
        A stage model (:func:`derive_stage_model`); None for the shipped one (:func:`load_stage_model`).

    Returns
    -------
    ndarray of int8, shape (hours * 120,)
        Stage codes per 30-s epoch.

    Examples
    --------
    >>> from stqs_core.simulate import sample_hypnogram
    >>> stages = sample_hypnogram(hours=8, seed=0)
    >>> stages.shape, int(stages[0])
    ((960,), 0)
    """
    if hours <= 0:
        raise StqsError(f"hours must be positive, got {hours}")
    model = model or load_stage_model()
    first = np.asarray(model["first_stage"]) / np.sum(model["first_stage"])
    rng = np.random.default_rng([seed, 7])  # independent of the signal generator seeded with `seed`
    n_epochs = max(int(round(hours * 3600 / EPOCH_SEC)), 1)
    n_segments = model["n_segments"]
    transitions = np.asarray(model["transitions"])
    transitions = transitions / transitions.sum(-1, keepdims=True)  # the JSON rounds to 4 decimals
    quantiles = np.asarray(model["bout_quantiles"])
    grid = np.linspace(0, 1, quantiles.shape[-1])
    stages = np.empty(n_epochs, np.int8)
    stage, t = int(rng.choice(len(STAGES), p=first)), 0
    while t < n_epochs:
        segment = min(int(t / n_epochs * n_segments), n_segments - 1)
        length = max(int(round(np.interp(rng.random(), grid, quantiles[segment, stage]))), 1)
        stages[t : t + length] = stage
        t += length
        segment = min(int(t / n_epochs * n_segments), n_segments - 1)
        stage = int(rng.choice(len(STAGES), p=transitions[segment, stage]))
    return stages
