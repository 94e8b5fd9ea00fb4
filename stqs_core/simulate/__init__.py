"""PSG simulator: AASM-faithful nights (EEG C3/C4, EOG left/right, chin EMG) with known stages and events.

:func:`sample_hypnogram` draws a stage sequence from a model derived from real hypnograms;
:func:`simulate_night` turns a stage sequence into signals plus an event table; :func:`simulate_store`
fills an HDF5 epoch store with many preprocessed nights for training.
"""
from .dataset import simulate_store
from .night import CHANNELS, SFREQS, SimulatedNight, simulate_night
from .stage_model import load_stage_model, sample_hypnogram

__all__ = ["CHANNELS", "SFREQS", "SimulatedNight", "load_stage_model", "sample_hypnogram", "simulate_night",
           "simulate_store"]
