"""Many simulated nights, preprocessed, into one HDF5 epoch store: the training and notebook data.

With a :class:`Randomisation`, each night gets its own lab profile (of varied strength) and, sometimes, a channel
dropped or substituted (:data:`SUBSTITUTIONS`): training data that does not hold one simulator's quirks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from ..errors import StqsError, check_option, check_range
from ..preprocess import make_epochs
from ..store import EpochStore
from .night import simulate_night
from .profiles import PROFILES, Profile, get_profile

logger = logging.getLogger(__name__)

SUBSTITUTIONS: dict[str, tuple[str, int, int | None]] = {
    "eeg-first-both": ("the first EEG row given for both (one central EEG)", 1, 0),
    "eeg-second-both": ("the second EEG row given for both", 0, 1),
    "eog-left-both": ("the left EOG given for both EOG rows", 3, 2),
    "eog-left-flat": ("the left EOG flat (a detached electrode)", 2, None),
    "eog-right-flat": ("the right EOG flat (a detached electrode)", 3, None),
    "emg-flat": ("no chin EMG (the row flat)", 4, None),
}
"""Channel drops and substitutions: ``name -> (description, row replaced, source row or None for flat)``; rows
EEG, EEG, EOG, EOG, EMG."""

TRAINING_PROFILES = tuple(
    name for name, p in PROFILES.items() if p.severity > 0 and p.scorer is None and not name.startswith("lab-")
)
"""Profiles :class:`Randomisation` draws by default: every single-effect profile that shifts the signals. Left out:
those that change nothing or only the channel names, the scorers' habits (they change labels, not signals, and
would teach a convention) and the ``lab-*`` combinations (held out to test combined shifts)."""


def substitute_channels(
    data: np.ndarray, channels: list[str], substitution: str | None
) -> tuple[np.ndarray, list[str]]:
    """Apply one of :data:`SUBSTITUTIONS` to a recording's rows (in place) and its channel names.

    A copied row takes its source's name; a flat row keeps its own.

    Parameters
    ----------
    data : ndarray, shape (5, n_samples)
        The recording's rows (EEG, EEG, EOG, EOG, EMG; µV), changed in place.
    channels : list of str
        Their names.
    substitution : str | None
        A key of :data:`SUBSTITUTIONS`; None changes nothing.

    Returns
    -------
    data : ndarray, shape (5, n_samples)
        The same array.
    channels : list of str
        The names after the substitution (a new list).
    """
    if substitution is None:
        return data, list(channels)
    check_option("substitution", substitution, SUBSTITUTIONS)
    _, row, source = SUBSTITUTIONS[substitution]
    channels = list(channels)
    if source is None:
        data[row] = 0
    else:
        data[row] = data[source]
        channels[row] = channels[source]
    return data, channels


@dataclass(frozen=True)
class NightDraw:
    """What :meth:`Randomisation.draw` chose for one night.

    Parameters
    ----------
    profile : Profile
        The night's lab profile, scaled by ``strength``.
    strength : float
        The scale of its effects (1: as named).
    substitution : str | None
        The key of :data:`SUBSTITUTIONS` applied to its channels, or None.
    """

    profile: Profile
    strength: float
    substitution: str | None

    @property
    def label(self) -> str:
        """``profile*strength[+substitution]``, e.g. ``lowpass-15hz*0.83+emg-flat``."""
        return self.profile.name + (f"+{self.substitution}" if self.substitution else "")


@dataclass(frozen=True)
class Randomisation:
    """Per-night lab profiles and channel substitutions for training nights, drawn from each night's seed.

    Parameters
    ----------
    profiles : tuple of str
        Profiles to draw from, uniformly (default :data:`TRAINING_PROFILES`).
    in_domain : float
        Share of nights (probability, 0-1) left as simulated (profile ``in-domain``).
    strength : tuple of float
        Range of the uniform draw of :meth:`Profile.scaled`'s ``strength`` (1: as named).
    substitute : float
        Probability (0-1) that a night gets one of ``substitutions``, drawn uniformly.
    substitutions : tuple of str
        Keys of :data:`SUBSTITUTIONS`.
    """

    profiles: tuple[str, ...] = TRAINING_PROFILES
    in_domain: float = 0.25
    strength: tuple[float, float] = (0.5, 1.5)
    substitute: float = 0.25
    substitutions: tuple[str, ...] = tuple(SUBSTITUTIONS)

    def __post_init__(self):
        if not self.profiles or not self.substitutions:
            raise StqsError("a Randomisation needs at least one profile and one substitution to draw from")
        for name in self.profiles:
            get_profile(name)
        for name in self.substitutions:
            check_option("substitution", name, SUBSTITUTIONS)
        check_range("in_domain", self.in_domain, 0.0, 1.0)
        check_range("substitute", self.substitute, 0.0, 1.0)
        low, high = (check_range("strength", v, 0.1, 4.0) for v in self.strength)
        if low > high:
            raise StqsError(f"strength must be a range (low, high), got {self.strength}")

    def draw(self, seed: int) -> NightDraw:
        """The profile, strength and substitution of one night.

        Parameters
        ----------
        seed : int
            The night's seed (the same seed, the same draw; independent of the night's own random streams).

        Returns
        -------
        NightDraw
            What was drawn.
        """
        rng = np.random.default_rng([seed, 3000])
        keep, which, strength, swap, substitution = rng.random(), rng.integers(len(self.profiles)), *rng.random(3)
        strength = float(self.strength[0] + strength * (self.strength[1] - self.strength[0]))
        if keep < self.in_domain:
            profile, strength = get_profile("in-domain"), 1.0
        else:
            profile = get_profile(self.profiles[which]).scaled(strength)
        chosen = self.substitutions[int(substitution * len(self.substitutions))] if swap < self.substitute else None
        return NightDraw(profile, strength, chosen)


def night_seed(seed: int, i: int) -> int:
    """Seed of one night of a simulated store.

    Parameters
    ----------
    seed : int
        The store's base seed.
    i : int
        The night's index in the store.

    Returns
    -------
    int
        The night's seed.
    """
    return seed * 100_003 + i


def simulate_store(
    path: str | Path,
    n_nights: int,
    *,
    hours: float = 8.0,
    seed: int = 0,
    hypnograms: list[str | Path | np.ndarray] | None = None,
    sfreq: int | None = None,
    profile: str | Profile = "in-domain",
    randomise: Randomisation | None = None,
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
        Base seed; night ``i`` uses seed :func:`night_seed` ``(seed, i)`` and is named ``sim-<seed>-<i>``.
    hypnograms : list | None
        Hypnogram files or stage arrays driving the nights, cycled; None draws from the stage model.
    sfreq : int | None
        Sampling rate the nights are simulated at (they are resampled to 125 Hz by preprocessing); None takes
        the profile's, else 125 Hz.
    profile : str | Profile
        Lab profile of every night (see :func:`~stqs_core.simulate.simulate_night`); the store keeps its labels
        and channel names.
    randomise : Randomisation | None
        Draw each night's profile and channel substitution instead (:meth:`Randomisation.draw` of the night's
        seed); then ``profile`` must be ``"in-domain"`` and ``sfreq`` None (each profile's rate, else 125 Hz).

    Returns
    -------
    Path
        The store.
    """
    from tqdm.auto import tqdm

    if n_nights < 1:
        raise StqsError(f"n_nights must be at least 1, got {n_nights}")
    if randomise is not None and (profile != "in-domain" or sfreq is not None):
        raise StqsError("randomise draws each night's profile and sampling rate: leave profile and sfreq out")
    drivers = list(islice(cycle(hypnograms), n_nights)) if hypnograms else [None] * n_nights
    path = Path(path)
    with EpochStore(path, "a") as store:
        done = set(store.recordings)
        for i, hypnogram in enumerate(tqdm(drivers, desc="simulate", unit="night")):
            name = f"sim-{seed}-{i:04d}"
            if name in done:
                continue
            draw = randomise.draw(night_seed(seed, i)) if randomise else NightDraw(get_profile(profile), 1.0, None)
            night = simulate_night(
                hypnogram, hours=hours, seed=night_seed(seed, i), sfreq=sfreq, name=name, profile=draw.profile
            )
            rec = night.recording
            data, channels = substitute_channels(rec.data, rec.channel_names, draw.substitution)
            epochs = make_epochs(data, rec.sfreq, channels)
            store.append(name, epochs.data, night.stages, channels)
            logger.info("%s: %d epochs, %d events, %s", name, len(night.stages), len(night.events), draw.label)
    return path
