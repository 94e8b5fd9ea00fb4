"""PSG simulator: AASM-faithful nights (EEG C3/C4, EOG left/right, chin EMG) with known stages and events.

:func:`sample_hypnogram` draws a stage sequence from a model derived from real hypnograms;
:func:`simulate_night` turns a stage sequence into signals plus an event table; :func:`simulate_store`
fills an HDF5 epoch store with many preprocessed nights for training (with a :class:`Randomisation`, each night
its own lab profile and, sometimes, a dropped or substituted channel). :data:`PROFILES` are lab profiles
(montage, sampling rate, filters, noise, subjects, scorer) that shift a night away from the default.
"""

from .dataset import SUBSTITUTIONS, Randomisation, simulate_store
from .night import CHANNELS, SFREQ_RANGE, SFREQS, SimulatedNight, simulate_night
from .profiles import PROFILES, Profile, get_profile, profile_table
from .stage_model import load_stage_model, sample_hypnogram

__all__ = [
    "CHANNELS",
    "PROFILES",
    "SFREQS",
    "SFREQ_RANGE",
    "SUBSTITUTIONS",
    "Profile",
    "Randomisation",
    "SimulatedNight",
    "get_profile",
    "load_stage_model",
    "profile_table",
    "sample_hypnogram",
    "simulate_night",
    "simulate_store",
]
