"""Teaching: score it yourself.

Which epochs a student is quizzed on (:func:`quiz_epochs`, the hard ones by :func:`hard_epochs`), a 30-s page laid
out as scorers see it (:func:`scoring_page` and :func:`page_rows`: AASM display filters, paper-speed time grid,
stacked channels with µV scale bars and the 75-µV slow-wave reference), and the student's answers against the expert
and the model (:func:`answer_table`, :func:`score_answers`). Used by the dashboard's quiz tab and notebook 5; the
drawing is the caller's (HoloViews in ``dashboards/quiz.py``, Matplotlib in
:func:`stqs_core.plots.plot_scoring_page`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constants import EPOCH_SEC, STAGES, UNSCORED
from .errors import StqsError, check_option, check_range
from .hypnogram import stage_code, stage_name
from .preprocess import butterworth_gain, fft_filter
from .recording import Recording

logger = logging.getLogger(__name__)

ROW_ROLES = ("eeg", "eeg", "eog", "eog", "emg")
"""Modality of each row of a :class:`~stqs_core.recording.Recording` with every modality (otherwise its
``roles``)."""
DISPLAY_FILTERS = {"eeg": (0.3, 35.0), "eog": (0.3, 35.0), "emg": (10.0, 100.0)}
"""The AASM manual's recommended display filters per modality (Hz): low and high cut-off."""
GRID_S = (1.0, 5.0)
"""Minor and major time-grid spacing of a page (s): paper speed, 30 s per page."""
SLOW_WAVE_UV = 75.0
"""AASM slow wave: at least 75 µV peak to peak (0.5-2 Hz, frontal EEG); drawn as lines at ±37.5 µV on the EEG."""
ROW_SPACING_UV = 200.0
"""Distance between the baselines of stacked channels on a page (µV of the drawn scale)."""
SCALE_BAR_UV = 50.0
"""Height of each channel's scale bar (µV)."""
LOW_CONFIDENCE = 0.6
"""A model confidence (highest stage probability) below this makes an epoch hard."""


@dataclass(frozen=True)
class PageRow:
    """One channel of a page (:func:`page_rows`).

    Parameters
    ----------
    name : str
        The channel's name.
    baseline : float
        The height its 0 µV is drawn at (µV of the page's scale).
    references : tuple of float
        Levels drawn across the channel (µV about the baseline, e.g. ±37.5 for the slow-wave amplitude).
    """

    name: str
    baseline: float
    references: tuple[float, ...]


def page_rows(names: list[str], roles=None) -> list[PageRow]:
    """The stacked layout of a page: the channels top to bottom on one µV scale.

    Parameters
    ----------
    names : list of str
        The channels' names in the order of a recording's rows (EEG, EEG, EOG, EOG, EMG with every modality).
    roles : sequence of str, optional
        The modality of each row (``recording.roles``); None: :data:`ROW_ROLES`. A recording without EOG has no
        EOG rows on its page.

    Returns
    -------
    list of PageRow
        One per name, first on top: baselines :data:`ROW_SPACING_UV` apart down to 0 µV for the last. The EEG
        rows carry the slow-wave reference lines at ±:data:`SLOW_WAVE_UV` / 2, the others none.
    """
    half = SLOW_WAVE_UV / 2
    return [
        PageRow(name, (len(names) - 1 - i) * ROW_SPACING_UV, (-half, half) if role == "eeg" else ())
        for i, (name, role) in enumerate(zip(names, ROW_ROLES if roles is None else roles))
    ]


def scoring_page(recording: Recording, index: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch of a recording as a scorer sees it, through the AASM display filters.

    Each row is filtered by its modality's :data:`DISPLAY_FILTERS` together with 10 s on either side, so the
    page's edges are clean; a high cut-off at or above the Nyquist frequency is left open.

    Parameters
    ----------
    recording : Recording
        The night (signals in µV).
    index : int
        The epoch, in [0, ``recording.n_epochs``).

    Returns
    -------
    t : ndarray, shape (n,)
        Times (s) from the epoch's start; ``n`` is 30 s of samples at ``recording.sfreq``.
    signals : ndarray of float32, shape (n_rows, n)
        The filtered rows (µV), EEG, EEG, EOG, EOG, EMG with every modality (see ``recording.roles``).
    """
    index = int(check_range("epoch", index, 0, recording.n_epochs - 1))
    sfreq = recording.sfreq
    size = int(round(EPOCH_SEC * sfreq))
    start, context = index * size, int(10 * sfreq)
    lo, hi = max(start - context, 0), min(start + size + context, recording.data.shape[1])
    cuts = [(low, high if high < sfreq / 2 else None) for low, high in (DISPLAY_FILTERS[r] for r in recording.roles)]

    def gain(freqs: np.ndarray) -> np.ndarray:
        return np.stack([butterworth_gain(freqs, sfreq, low, high) for low, high in cuts])

    filtered = fft_filter(recording.data[:, lo:hi], gain, sfreq).numpy()
    return np.arange(size) / sfreq, filtered[:, start - lo : start - lo + size]


def hard_epochs(true: np.ndarray, proba: np.ndarray, below: float = LOW_CONFIDENCE) -> np.ndarray:
    """Epochs that are hard to score: stage transitions and epochs the model is unsure of.

    Parameters
    ----------
    true : array of int, shape (n_epochs,)
        Expert stages (-1 unscored).
    proba : array, shape (n_epochs, 5)
        The model's stage probabilities.
    below : float
        A confidence (highest probability of an epoch) below this makes the epoch hard.

    Returns
    -------
    ndarray of bool, shape (n_epochs,)
        True where the expert's stage differs from the previous or the next scored epoch's, or the confidence is
        below ``below``. Unscored epochs are never hard.
    """
    true = np.asarray(true)
    scored = np.flatnonzero(true >= 0)
    stages = true[scored]
    change = np.zeros(len(scored), dtype=bool)
    change[1:] |= stages[1:] != stages[:-1]
    change[:-1] |= stages[1:] != stages[:-1]
    hard = np.zeros(len(true), dtype=bool)
    hard[scored] = change | (np.asarray(proba)[scored].max(axis=1) < below)
    return hard


def quiz_epochs(
    true: np.ndarray,
    proba: np.ndarray | None = None,
    *,
    stage: str | None = None,
    hard: bool = False,
    below: float = LOW_CONFIDENCE,
    seed: int = 0,
) -> np.ndarray:
    """The scored epochs a quiz asks about, in a shuffled order that only ``seed`` decides ``(n,)``.

    Parameters
    ----------
    true : array of int, shape (n_epochs,)
        Expert stages (-1 unscored: never asked).
    proba : array, shape (n_epochs, 5), optional
        The model's stage probabilities; needed for ``hard``.
    stage : str, optional
        Only epochs the expert scored as this stage (a name, e.g. ``"N3"``).
    hard : bool
        Only the :func:`hard_epochs` (stage transitions, low model confidence below ``below``).
    below : float
        The confidence (highest stage probability) below which an epoch is hard.
    seed : int
        Seed of the order.

    Returns
    -------
    ndarray of int, shape (n,)
        The chosen epochs' indices, shuffled.
    """
    true = np.asarray(true)
    keep = true >= 0
    if stage is not None:
        keep &= true == STAGES.index(check_option("stage", stage, STAGES))
    if hard:
        if proba is None:
            raise StqsError("hard epochs need the model's stage probabilities: pass proba")
        keep &= hard_epochs(true, proba, below)
    candidates = np.flatnonzero(keep)
    return candidates[np.random.default_rng(seed).permutation(len(candidates))]


def parse_answers(text: str) -> np.ndarray:
    """A student's answers, typed as stage names, as stage codes.

    Parameters
    ----------
    text : str
        Stage names separated by spaces or commas (``"N2 N3 W ?"``), any form
        :func:`~stqs_core.hypnogram.stage_code` reads; ``?`` or ``-``: not answered.

    Returns
    -------
    ndarray of int, shape (n,)
        One code per word: 0-4 for W, N1, N2, N3, REM; -1 not answered.
    """
    words = text.replace(",", " ").split()
    return np.array([UNSCORED if w in ("?", "-") else stage_code(w) for w in words], dtype=int)


def score_answers(expert: np.ndarray, answers: np.ndarray) -> dict:
    """A student's answers against the expert's stages.

    Parameters
    ----------
    expert : array of int, shape (n,)
        The expert's stages of the quizzed epochs (-1 unscored: not counted).
    answers : array of int, shape (m,)
        The student's stage codes (-1 not answered), ``m <= n``: the last ``n - m`` epochs are not answered.

    Returns
    -------
    dict
        ``answered``: answers counted (int; on epochs the expert scored); ``correct``: those agreeing with the
        expert (int); ``accuracy``: ``correct / answered`` (None before any answer); ``confusion``: ndarray of int
        ``(5, 5)``, counts with rows the expert's stage and columns the student's (W, N1, N2, N3, REM).

    Raises
    ------
    StqsError
        For more answers than epochs.
    """
    expert, given = np.asarray(expert, dtype=int), np.asarray(answers, dtype=int)
    if len(given) > len(expert):
        raise StqsError(f"{len(given)} answers for {len(expert)} epochs: give at most one answer per epoch")
    answers = np.full(len(expert), UNSCORED)
    answers[: len(given)] = given
    keep = (expert >= 0) & (answers >= 0)
    n = len(STAGES)
    matrix = np.bincount(expert[keep] * n + answers[keep], minlength=n * n).reshape(n, n)
    answered = int(matrix.sum())
    correct = int(np.trace(matrix))
    return {
        "answered": answered,
        "correct": correct,
        "accuracy": correct / answered if answered else None,
        "confusion": matrix,
    }


def confusion_table(matrix: np.ndarray) -> pd.DataFrame:
    """An expert x student count matrix as a labelled table.

    Parameters
    ----------
    matrix : array of int, shape (5, 5)
        Counts, rows the expert's stage and columns the student's (``score_answers(...)["confusion"]``).

    Returns
    -------
    pandas.DataFrame
        The counts, index ``"expert W"`` .. ``"expert REM"``, columns ``W`` .. ``REM``.
    """
    return pd.DataFrame(matrix, index=[f"expert {s}" for s in STAGES], columns=list(STAGES))


def epoch_events(events: pd.DataFrame | None, index: int) -> str:
    """The simulator's events in one epoch, counted by type.

    Parameters
    ----------
    events : pandas.DataFrame or None
        A simulated night's event table (columns ``type`` and ``epoch``;
        :class:`~stqs_core.simulate.night.SimulatedNight`), or None.
    index : int
        The epoch.

    Returns
    -------
    str
        The counts, most frequent first (``"3 spindle, 1 k_complex"``); ``""`` when the epoch has no event or
        there is no event table.
    """
    if events is None:
        return ""
    counts = events.loc[events.epoch == index, "type"].value_counts()
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def answer_table(
    indices: np.ndarray,
    answers: np.ndarray,
    true: np.ndarray,
    proba: np.ndarray,
    events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The quiz's answers beside the expert's and the model's stages, one row per quizzed epoch.

    Parameters
    ----------
    indices : array of int, shape (n,)
        The quizzed epochs, in the order asked.
    answers : array of int, shape (m,)
        The student's stage codes (-1 not answered); with ``m < n`` the last ``n - m`` epochs are not answered,
        answers beyond the ``n``-th are ignored.
    true : array of int, shape (n_epochs,)
        The night's expert stages (-1 unscored).
    proba : array, shape (n_epochs, 5)
        The model's stage probabilities over the night.
    events : pandas.DataFrame, optional
        The simulated night's event table (:func:`epoch_events`).

    Returns
    -------
    pandas.DataFrame
        ``n`` rows: ``epoch``; the student's answer ``you`` (``?``: none), the ``expert``'s and the ``model``'s
        stage names; ``p_model`` the model's probability of its stage (2 decimals); ``right`` (bool) whether the
        answer is the expert's stage; ``events`` the simulator's events in the epoch (``""`` without an event table).
    """
    indices = np.asarray(indices, dtype=int)
    given = np.full(len(indices), UNSCORED)
    given[: min(len(answers), len(indices))] = np.asarray(answers, dtype=int)[: len(indices)]
    pred = np.asarray(proba)[indices]
    return pd.DataFrame(
        {
            "epoch": indices,
            "you": [stage_name(a) for a in given],
            "expert": [stage_name(int(s)) for s in np.asarray(true)[indices]],
            "model": [STAGES[s] for s in pred.argmax(1)],
            "p_model": pred.max(1).round(2),
            "right": given == np.asarray(true)[indices],
            "events": [epoch_events(events, i) for i in indices],
        }
    )
