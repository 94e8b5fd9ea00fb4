"""One source of truth for the numbers STQS is built on."""

from __future__ import annotations

SFREQ: float = 125.0
"""Sampling rate the network expects (Hz)."""

EPOCH_SEC: float = 30.0
"""Length of a scoring epoch (s)."""

EPOCH_SAMPLES: int = int(SFREQ * EPOCH_SEC)  # 3750

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
"""Stage names; a stage's integer code is its index here."""

UNSCORED: int = -1
"""Code of an epoch without a usable expert label (``?``, movement time)."""

ROLES: tuple[str, ...] = ("eeg", "eog", "emg")
"""Modalities in the order the network concatenates them."""

N_CHANNELS: dict[str, int] = {"eeg": 2, "eog": 2, "emg": 1}
"""Channels per modality of the published network (rows EEG C3-A2, C4-A1, EOG L, EOG R, EMG)."""

BANDPASS: dict[str, tuple[float, float]] = {"eeg": (0.16, 30.0), "eog": (0.16, 30.0), "emg": (10.0, 30.0)}
"""Published zero-phase Butterworth pass band per modality (Hz)."""

FILTER_ORDER: int = 4


def preprocessing_info() -> dict:
    """The preprocessing the network's input went through, as recorded in checkpoints and epoch stores.

    Returns
    -------
    dict
        A fresh JSON-ready dict per call: ``bandpass_hz`` (pass band per modality, Hz), ``butterworth_order``,
        ``zero_phase`` and ``zscore`` (per epoch and channel).
    """
    return {
        "bandpass_hz": {role: list(band) for role, band in BANDPASS.items()},
        "butterworth_order": FILTER_ORDER,
        "zero_phase": True,
        "zscore": "per epoch and channel",
    }


AASM_BANDS: dict[str, tuple[float, float]] = {
    "delta": (0.16, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 12.0),
    "sigma": (12.0, 16.0),
    "beta": (16.0, 30.0),
}
"""EEG frequency bands (Hz) used by occlusion and the AASM report."""
