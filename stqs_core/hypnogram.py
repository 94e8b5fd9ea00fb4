"""Hypnograms: the stage vocabulary, runs of equal stages, trimming wake and how stages are drawn, in one place.

A hypnogram is an integer array ``(n_epochs,)`` of stage codes, one per epoch (30 s unless said otherwise) from
the start of the recording: 0 W, 1 N1, 2 N2, 3 N3, 4 REM (a stage's code is its index in :data:`STAGES`) and
:data:`UNSCORED` (-1) for an epoch without a usable label (``?``, movement time). The flat functions take and return
plain arrays; :class:`Hypnogram` bundles the codes with their epoch length, as YASA's ``Hypnogram`` does.

Examples
--------
>>> import numpy as np
>>> from stqs_core.hypnogram import Hypnogram, runs, stage_code, stage_names
>>> stage_code("Sleep stage R"), stage_code("Stage 4 sleep|4"), stage_code("?")
(4, 3, -1)
>>> stage_names([0, 2, 4, -1], style="edf")
['Sleep stage W', 'Sleep stage N2', 'Sleep stage R', 'Sleep stage ?']
>>> runs([0, 0, 2, 2, 2, -1])
Runs(stage=array([ 0,  2, -1]), start=array([0, 2, 5]), length=array([2, 3, 1]))
>>> Hypnogram([0, 0, 2, 2, 2, 0]).statistics()["TST"]  # minutes
1.5
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .constants import EPOCH_SEC, STAGES, UNSCORED
from .errors import HypnogramError

__all__ = [
    "CODES",
    "LEVELS",
    "STAGES",
    "STAGE_COLOURS",
    "STYLES",
    "UNSCORED",
    "Hypnogram",
    "Runs",
    "check_stages",
    "fill_unscored",
    "is_stage_label",
    "levels",
    "runs",
    "stage_code",
    "stage_name",
    "stage_names",
    "trim_wake",
]

CODES: tuple[int, ...] = (UNSCORED, *range(len(STAGES)))
"""Every valid stage code: unscored, then W, N1, N2, N3, REM."""

LEVELS: np.ndarray = np.array([4, 2, 1, 0, 3])
"""Plotting height of W, N1, N2, N3, REM ``(5,)`` (REM drawn between W and N1), in every figure and dashboard."""

STAGE_COLOURS: tuple[str, ...] = ("#f4a259", "#8cb369", "#5b8e7d", "#2e4057", "#bc4b51")
"""One colour per stage W, N1, N2, N3, REM, shared by every figure and dashboard."""

STYLES: dict[str, tuple[str, ...]] = {
    "stqs": (*STAGES, "?"),
    "edf": tuple(f"Sleep stage {s}" for s in ("W", "N1", "N2", "N3", "R", "?")),
    "nsrr": ("Wake|0", "Stage 1 sleep|1", "Stage 2 sleep|2", "Stage 3 sleep|3", "REM sleep|5", "Unscored|9"),
    "yasa": ("WAKE", "N1", "N2", "N3", "REM", "UNS"),
    "bids": (*STAGES, "n/a"),
}
"""Spellings of the codes 0-4 and then of unscored, per convention: STQS's own (text hypnograms, CSV), EDF+
annotations (``Sleep stage R``), NSRR XML event concepts, YASA's ``Hypnogram`` and BIDS events (``n/a``).
:func:`stage_code` reads every one of them back."""

_NAMES = {
    "W": 0,
    "WAKE": 0,
    "N1": 1,
    "S1": 1,
    "N2": 2,
    "S2": 2,
    "N3": 3,
    "S3": 3,
    "N4": 3,
    "S4": 3,
    "R": 4,
    "REM": 4,
    "?": UNSCORED,
    "UNS": UNSCORED,
    "N/A": UNSCORED,
    "UNSCORED": UNSCORED,
    "UNKNOWN": UNSCORED,
    "MOVEMENT": UNSCORED,
    "MOVEMENT TIME": UNSCORED,
    "MT": UNSCORED,
    "M": UNSCORED,
    "ARTIFACT": UNSCORED,
}
_RK_NUMBERS = {"W": 0, "1": 1, "2": 2, "3": 3, "4": 3, "R": 4, "?": UNSCORED}  # after "Sleep stage " (EDF+)
_NSRR_CODES = {"0": 0, "1": 1, "2": 2, "3": 3, "4": 3, "5": 4, "6": UNSCORED, "9": UNSCORED}  # after the bar
_PREFIX = re.compile(r"^SLEEP STAGE\s+", re.IGNORECASE)


def stage_code(label: str | int) -> int:
    """Stage code (0-4, or -1 for unscored) of one label.

    Parameters
    ----------
    label : str | int
        A name (``W``/``Wake``, ``N1``..``N3``, ``S1``..``S4``, ``R``/``REM``, ``?``, ``UNS``, ``n/a``,
        ``Movement time``), an EDF+ label (``Sleep stage 4`` is R&K, so N3), an NSRR label (``Stage 4 sleep|4``)
        or a bare code 0-4 (4 is REM) or -1. Case and surrounding spaces do not matter.

    Returns
    -------
    int
        The stage code.

    Raises
    ------
    HypnogramError
        For a label that names no stage, listing the accepted forms.
    """
    text = str(label).strip().upper()
    code = None
    if "|" in text:
        code = _NSRR_CODES.get(text.split("|")[1].strip())
    elif _PREFIX.match(text):
        rest = _PREFIX.sub("", text)
        code = _RK_NUMBERS.get(rest, _NAMES.get(rest))
    elif text in _NAMES:
        code = _NAMES[text]
    elif re.fullmatch(r"-?\d+(\.0*)?", text) and -1 <= float(text) <= 4:
        code = int(float(text))
    if code is None:
        raise HypnogramError(
            f"unknown sleep stage label {label!r:.60}; use W/N1/N2/N3/R (or REM), codes 0-4 "
            "(4 = REM), EDF+ 'Sleep stage W/1/2/3/4/R/?', NSRR 'Stage 2 sleep|2', or "
            "'?'/'Movement time'"
        )
    return code


def is_stage_label(label: str) -> bool:
    """Whether an annotation's text describes a sleep stage (others, such as ``Lights off``, are not stages).

    Parameters
    ----------
    label : str
        An annotation's text (any other type is not a stage label).

    Returns
    -------
    bool
        True for a label :func:`stage_code` reads (``Sleep stage ...``, NSRR ``...sleep|n``, a stage name).
    """
    if not isinstance(label, str):
        return False
    text = label.strip().upper()
    return bool(_PREFIX.match(text)) or ("|" in text and ("SLEEP" in text or "WAKE" in text)) or text in _NAMES


def stage_names(stages, style: str = "stqs") -> list[str]:
    """The name of each stage code in a convention of :data:`STYLES`.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes 0-4, -1 unscored.
    style : str
        ``"stqs"`` (W, N1, N2, N3, REM, ``?``), ``"edf"`` (``Sleep stage W`` .. ``Sleep stage R``,
        ``Sleep stage ?``), ``"nsrr"``, ``"yasa"`` (WAKE .. REM, UNS) or ``"bids"`` (unscored ``n/a``).

    Returns
    -------
    list of str, length n_epochs
    """
    if style not in STYLES:
        raise HypnogramError(f"unknown stage-name style {style!r}; use one of {sorted(STYLES)}")
    stages = check_stages(stages, allow_empty=True)
    names = STYLES[style]
    return [names[code] for code in stages.tolist()]  # index -1 is the unscored spelling


def stage_name(code: int, style: str = "stqs") -> str:
    """The name of one stage code in a convention of :data:`STYLES` (see :func:`stage_names`).

    Parameters
    ----------
    code : int
        Stage code 0-4 (W, N1, N2, N3, REM) or -1 (unscored).
    style : str
        A key of :data:`STYLES`: ``"stqs"``, ``"edf"``, ``"nsrr"``, ``"yasa"`` or ``"bids"``.

    Returns
    -------
    str
        The stage's name, e.g. ``"REM"`` for 4 in the ``"stqs"`` style.
    """
    return stage_names([code], style)[0]


def check_stages(stages, allow_empty: bool = False) -> np.ndarray:
    """Stage codes as an int8 array ``(n_epochs,)``, after checking they are a hypnogram.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes 0-4 (W, N1, N2, N3, REM) or -1 (unscored).
    allow_empty : bool
        Whether zero epochs are a hypnogram.

    Returns
    -------
    np.ndarray of int8, shape (n_epochs,)
        A copy of the stage codes.

    Raises
    ------
    HypnogramError
        For another shape, an empty array (unless allowed) or a value that is not a stage code.
    """
    array = np.asarray(stages)
    if array.ndim != 1 or (len(array) == 0 and not allow_empty):
        raise HypnogramError(f"stages must be a non-empty 1-D array of stage codes, got shape {array.shape}")
    if not np.isin(array, CODES).all():
        raise HypnogramError(
            "stages must hold stage codes 0-4 (W, N1, N2, N3, REM) or -1 (unscored); "
            "convert names with stqs_core.hypnogram.stage_code"
        )
    return array.astype(np.int8)


class Runs(NamedTuple):
    """Runs (bouts) of equal consecutive stages, each field an int array ``(n_runs,)`` in epochs (see :func:`runs`).

    Parameters
    ----------
    stage : np.ndarray of int, shape (n_runs,)
        Stage code of each run.
    start : np.ndarray of int, shape (n_runs,)
        Index of the first epoch of each run.
    length : np.ndarray of int, shape (n_runs,)
        Number of epochs of each run.
    """

    stage: np.ndarray
    """Stage code of each run."""
    start: np.ndarray
    """Index of the first epoch of each run."""
    length: np.ndarray
    """Number of epochs of each run."""


def runs(stages) -> Runs:
    """The runs (bouts) of equal consecutive stages of a hypnogram.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes (any integers: -1 unscored forms runs like any stage).

    Returns
    -------
    Runs
        ``(stage, start, length)``, arrays ``(n_runs,)``; ``np.repeat(stage, length)`` gives ``stages`` back.
        Onsets and durations in seconds are ``start * epoch_sec`` and ``length * epoch_sec``.
    """
    stages = np.asarray(stages)
    if len(stages) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return Runs(stages[:0], empty, empty)
    starts = np.flatnonzero(np.r_[True, stages[1:] != stages[:-1]])
    return Runs(stages[starts], starts, np.diff(np.r_[starts, len(stages)]))


def trim_wake(stages, keep_min: float = 30.0, epoch_sec: float = EPOCH_SEC) -> np.ndarray:
    """Drop the wake and unscored epochs more than ``keep_min`` minutes before sleep onset or after the last sleep.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes.
    keep_min : float
        Wake kept on either side of the sleep period (min).
    epoch_sec : float
        Epoch length (s).

    Returns
    -------
    np.ndarray, shape (n_kept,)
        The trimmed stages (a view); empty without any sleep epoch.
    """
    stages = np.asarray(stages)
    asleep = np.flatnonzero(stages > 0)
    if len(asleep) == 0:
        return stages[:0]
    keep = int(keep_min * 60 / epoch_sec)
    return stages[max(asleep[0] - keep, 0) : asleep[-1] + 1 + keep]


def fill_unscored(stages) -> np.ndarray:
    """Each unscored epoch given the previous scored stage (leading unscored epochs the first scored one).

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes 0-4, -1 unscored.

    Returns
    -------
    np.ndarray of int8, shape (n_epochs,)
        The stages without -1.

    Raises
    ------
    HypnogramError
        When no epoch is scored.
    """
    stages = np.asarray(stages)
    scored = stages != UNSCORED
    if not scored.any():
        raise HypnogramError("the hypnogram has no scored epoch to fill unscored epochs from")
    idx = np.maximum.accumulate(np.where(scored, np.arange(len(stages)), -1))
    idx[idx < 0] = np.flatnonzero(scored)[0]
    return stages[idx].astype(np.int8)


def levels(stages) -> np.ndarray:
    """Plotting height (:data:`LEVELS`) of each stage: N3 0, N2 1, N1 2, REM 3, W 4.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes 0-4, -1 unscored.

    Returns
    -------
    np.ndarray of float, shape (n_epochs,)
        The heights, NaN for unscored epochs (drawn as a gap).
    """
    stages = np.asarray(stages)
    return np.where(stages >= 0, LEVELS[np.clip(stages, 0, len(STAGES) - 1)], np.nan)


@dataclass(frozen=True, eq=False)
class Hypnogram:
    """A hypnogram: stage codes with their epoch length.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes 0-4 (W, N1, N2, N3, REM), -1 unscored; stored as a read-only int8 copy.
    epoch_sec : float
        Epoch length (s).

    Examples
    --------
    >>> hyp = Hypnogram.from_names(["W", "N1", "N2", "N2", "R", "?"])
    >>> hyp.names(style="yasa")
    ['WAKE', 'N1', 'N2', 'N2', 'REM', 'UNS']
    >>> hyp.runs().length
    array([1, 1, 2, 1, 1])
    """

    stages: np.ndarray
    epoch_sec: float = EPOCH_SEC

    def __post_init__(self):
        stages = check_stages(self.stages, allow_empty=True)  # a copy
        stages.flags.writeable = False
        object.__setattr__(self, "stages", stages)
        if not self.epoch_sec > 0:
            raise HypnogramError(f"epoch_sec must be a positive number of seconds, got {self.epoch_sec!r}")

    @classmethod
    def from_names(cls, labels, epoch_sec: float = EPOCH_SEC) -> Hypnogram:
        """A hypnogram from one label per epoch, each read by :func:`stage_code`.

        Parameters
        ----------
        labels : iterable of str or int, length n_epochs
            One stage label per epoch, in any spelling :func:`stage_code` reads.
        epoch_sec : float
            Epoch length (s).

        Returns
        -------
        Hypnogram
        """
        return cls(np.array([stage_code(label) for label in labels], dtype=np.int8), epoch_sec)

    def __len__(self) -> int:
        return len(self.stages)

    def names(self, style: str = "stqs") -> list[str]:
        """The stage name of each epoch (see :func:`stage_names`).

        Parameters
        ----------
        style : str
            A key of :data:`STYLES`: ``"stqs"``, ``"edf"``, ``"nsrr"``, ``"yasa"`` or ``"bids"``.

        Returns
        -------
        list of str, length n_epochs
        """
        return stage_names(self.stages, style)

    def runs(self) -> Runs:
        """The runs of equal stages, in epochs (see :func:`runs`).

        Returns
        -------
        Runs
            ``(stage, start, length)``, arrays ``(n_runs,)``; times in seconds are ``start * epoch_sec`` and
            ``length * epoch_sec``.
        """
        return runs(self.stages)

    def levels(self) -> np.ndarray:
        """Plotting height of each epoch (see :func:`levels`).

        Returns
        -------
        np.ndarray of float, shape (n_epochs,)
            N3 0, N2 1, N1 2, REM 3, W 4; NaN for unscored.
        """
        return levels(self.stages)

    def trim_wake(self, keep_min: float = 30.0) -> Hypnogram:
        """The hypnogram without the wake more than ``keep_min`` minutes outside sleep (:func:`trim_wake`).

        Parameters
        ----------
        keep_min : float
            Wake kept on either side of the sleep period (min).

        Returns
        -------
        Hypnogram
            Same epoch length, ``n_kept <= n_epochs`` epochs; empty without any sleep epoch.
        """
        return Hypnogram(trim_wake(self.stages, keep_min, self.epoch_sec), self.epoch_sec)

    def fill_unscored(self) -> Hypnogram:
        """The hypnogram with unscored epochs given the previous scored stage (:func:`fill_unscored`).

        Returns
        -------
        Hypnogram
            Same length and epoch length, without unscored epochs.
        """
        return Hypnogram(fill_unscored(self.stages), self.epoch_sec)

    def statistics(self, **kwargs) -> dict:
        """Sleep statistics of the night (:func:`stqs_core.sleepstats.sleep_statistics`).

        Parameters
        ----------
        **kwargs
            Further keyword arguments of :func:`~stqs_core.sleepstats.sleep_statistics`.

        Returns
        -------
        dict
            Statistic name to value, durations in minutes and percentages in %, e.g. ``"TST"``, ``"SE"``.
        """
        from .sleepstats import sleep_statistics

        return sleep_statistics(self.stages, epoch_sec=self.epoch_sec, **kwargs)
