"""AASM event generators: each draws one transient and returns its waveform on the rows it touches.

A generator is ``f(rng, sfreq, night) -> Event`` where ``night`` is the night's :class:`NightTraits`. Waveforms
are in µV, one array per touched row (0, 1 EEG C3/C4; 2, 3 EOG left/right; 4 chin EMG), all of the event's
length. Rows 2 and 3 of an eye movement carry opposite signs for horizontal (conjugate) movements.
EMG events are gains (multiples of the chin's tonic level) applied to the night's EMG noise, not µV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EMG = 4
"""Row of the chin EMG; events on it are gains, not µV."""
PINK_EXPONENT = (1.0, 1.4)
"""Range of the 1/f background's power-law exponent (power ~ f**-exponent)."""


@dataclass
class NightTraits:
    """Per-night constants that make every night different (drawn by :func:`draw_traits`).

    Parameters
    ----------
    age : float
        Age-like subject parameter in years (20-75).
    eeg_scale : float
        EEG amplitude factor (:func:`age_amplitude` with a random spread).
    alpha_hz, spindle_hz, theta_hz, beta_hz : float
        Centre frequencies of the night's alpha, spindles, theta and beta, in Hz.
    pink_exponent : float
        Exponent of the 1/f background EEG spectrum.
    eeg_correlation : float
        Correlation of the background between the two EEG rows.
    eog_leak : float
        Share of frontal EEG (slow waves, K-complexes) reaching the EOGs.
    emg_tone_uv : float
        Chin EMG tone of wake in µV rms.
    heart_rate_hz : float
        Heart rate in Hz (beats per second), for the ECG artefact.
    ecg_uv : float
        ECG artefact amplitude in µV.
    line_uv : float
        Mains interference amplitude in µV, when the night has any.
    rem_density, spindle_density : float
        Multipliers of the rate of rapid eye movements and of spindles.
    slow_wave_scale : float
        Multiplier of slow-wave, K-complex and delta amplitude.
    """

    age: float
    eeg_scale: float
    alpha_hz: float
    spindle_hz: float
    theta_hz: float
    beta_hz: float
    pink_exponent: float
    eeg_correlation: float
    eog_leak: float
    emg_tone_uv: float
    heart_rate_hz: float
    ecg_uv: float
    line_uv: float
    rem_density: float
    spindle_density: float
    slow_wave_scale: float = 1.0
    """Multiplier of slow-wave, K-complex and delta amplitude (lower in older subjects, see the lab profiles)."""


def age_amplitude(age: float) -> float:
    """EEG amplitude factor at an age: 1.25 at 20, falling 0.7% a year.

    Parameters
    ----------
    age : float
        Age in years.

    Returns
    -------
    float
    """
    return 1.25 - 0.007 * (age - 20)


def draw_traits(rng: np.random.Generator) -> NightTraits:
    """Random per-night traits: an age-like amplitude scaling and spectral shifts.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.

    Returns
    -------
    NightTraits
    """
    age = rng.uniform(20, 75)
    return NightTraits(
        age=age,
        eeg_scale=age_amplitude(age) * rng.lognormal(0, 0.1),
        alpha_hz=rng.uniform(8.8, 11.0),
        spindle_hz=rng.uniform(12.0, 14.0),
        theta_hz=rng.uniform(5.0, 6.5),
        beta_hz=rng.uniform(18.0, 24.0),
        pink_exponent=rng.uniform(*PINK_EXPONENT),
        eeg_correlation=rng.uniform(0.6, 0.9),
        eog_leak=rng.uniform(0.1, 0.3),
        emg_tone_uv=rng.uniform(6.0, 20.0),
        heart_rate_hz=rng.uniform(0.9, 1.25),
        ecg_uv=rng.uniform(1.5, 4.0),
        line_uv=rng.uniform(3.0, 15.0),
        rem_density=rng.uniform(0.6, 1.5),
        spindle_density=rng.uniform(0.6, 1.4),
    )


@dataclass
class Event:
    """One transient, as inserted into a night.

    Parameters
    ----------
    type : str
        ``"spindle"``, ``"k_complex"``, ``"rem"``, ... (the generator's name).
    waves : dict of int to ndarray
        Row (0-4: EEG, EEG, EOG, EOG, EMG) to its waveform ``(n_samples,)``, in µV (a gain for the EMG row).
    amplitude_uv : float
        The event's amplitude in µV (peak to peak for EEG waves, peak for eye movements; EMG gain for twitches).
    channel : str
        The main channel's name.
    extra : dict
        Further columns of the event table (e.g. ``freq_hz``).
    """

    type: str
    waves: dict[int, np.ndarray]
    amplitude_uv: float
    channel: str
    extra: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        """Length of the event in samples."""
        return len(next(iter(self.waves.values())))


def _t(duration_s: float, sfreq: float) -> np.ndarray:
    return np.arange(max(int(round(duration_s * sfreq)), 2)) / sfreq


def _hann(t: np.ndarray) -> np.ndarray:
    """A half sine over the event, 0 at both ends, never negative."""
    return np.clip(np.sin(np.pi * t / t[-1]), 0.0, None)


def _both_eeg(wave: np.ndarray, rng: np.random.Generator) -> dict[int, np.ndarray]:
    return {0: wave * rng.uniform(0.8, 1.2), 1: wave * rng.uniform(0.8, 1.2)}


def alpha(rng, sfreq, night: NightTraits, scale: float = 1.0) -> Event:
    """A waxing-waning alpha train (8-12 Hz), 2-10 s, 10-35 µV amplitude (posterior; attenuated centrally).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).
    scale : float
        Amplitude factor.

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(2.0, 10.0), sfreq)
    f = np.clip(night.alpha_hz + rng.normal(0, 0.2), 8.0, 12.0)
    amp = rng.uniform(10, 35) * scale * night.eeg_scale
    wax = 1 + 0.35 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t + rng.uniform(0, 2 * np.pi))
    env = _hann(t) ** 0.5 * wax
    phase = 2 * np.pi * f * t + 0.4 * np.sin(2 * np.pi * 0.3 * t) + rng.uniform(0, 2 * np.pi)
    return Event("alpha", _both_eeg(amp * env * np.sin(phase), rng), 2 * amp, "EEG", {"freq_hz": f})


def spindle(rng, sfreq, night: NightTraits) -> Event:
    """A sleep spindle: 11-16 Hz, 0.5-2 s, waxing-waning (sin² envelope), 20-70 µV amplitude.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(0.5, 2.0), sfreq)
    f = float(np.clip(night.spindle_hz + rng.normal(0, 0.5), 11.2, 15.8))
    amp = rng.uniform(20, 70) * night.eeg_scale
    wave = amp * _hann(t) ** 2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return Event("spindle", _both_eeg(wave, rng), 2 * amp, "EEG", {"freq_hz": f})


def k_complex(rng, sfreq, night: NightTraits) -> Event:
    """A K-complex: a sharp negative wave then a slower positive one, 0.6-1.2 s.

    100-250 µV peak to peak, times the night's ``slow_wave_scale``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(0.8, 1.2), sfreq)
    pp = rng.uniform(100, 250) * max(night.eeg_scale, 0.7) * night.slow_wave_scale
    s1, s2 = rng.uniform(0.06, 0.1), rng.uniform(0.12, 0.18)
    t1 = 2.2 * s1
    wave = -np.exp(-0.5 * ((t - t1) / s1) ** 2) + 0.6 * np.exp(-0.5 * ((t - t1 - 2 * s1 - 1.5 * s2) / s2) ** 2)
    wave *= pp / np.ptp(wave)
    waves = _both_eeg(wave, rng)
    leak = night.eog_leak * rng.uniform(0.6, 1.0)
    waves.update({2: leak * waves[0], 3: leak * waves[1]})
    return Event("k_complex", waves, pp, "EEG", {})


def slow_wave(rng, sfreq, night: NightTraits, period_s: float | None = None) -> Event:
    """One slow wave: a 0.5-2 Hz cycle, negative half first; leaks into both EOGs.

    75-220 µV peak to peak, times the night's ``slow_wave_scale``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).
    period_s : float or None
        The cycle's length in seconds; None draws it (0.6-1.6 s).

    Returns
    -------
    Event
    """
    period = rng.uniform(0.6, 1.6) if period_s is None else period_s
    t = _t(period, sfreq)
    pp = max(rng.uniform(85, 220) * night.eeg_scale, 85.0) * night.slow_wave_scale
    wave = -0.5 * pp * np.sin(2 * np.pi * t / period)
    waves = {0: wave * rng.uniform(0.9, 1.0), 1: wave * rng.uniform(0.9, 1.0)}  # >= 76 µV p-p on both
    leak = night.eog_leak * rng.uniform(0.7, 1.1)
    waves.update({2: leak * waves[0], 3: leak * waves[1]})
    return Event("slow_wave", waves, float(min(np.ptp(waves[0]), np.ptp(waves[1]))), "EEG", {"freq_hz": 1 / period})


def vertex_wave(rng, sfreq, night: NightTraits) -> Event:
    """A vertex sharp wave: a sharp negative transient (< 0.5 s), 50-120 µV, maximal centrally.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(0.5, sfreq)
    s = rng.uniform(0.04, 0.07)
    amp = rng.uniform(50, 120) * max(night.eeg_scale, 0.7)
    wave = amp * (-np.exp(-0.5 * ((t - 0.15) / s) ** 2) + 0.3 * np.exp(-0.5 * ((t - 0.15 - 2.5 * s) / (1.5 * s)) ** 2))
    return Event("vertex_wave", _both_eeg(wave, rng), float(np.ptp(wave)), "EEG", {})


def sawtooth(rng, sfreq, night: NightTraits) -> Event:
    """A train of sawtooth waves (2-6 Hz, slow rise, sharp fall), 1-4 s, 20-60 µV, central in REM.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(1.0, 4.0), sfreq)
    f = rng.uniform(2.0, 5.0)
    frac = (f * t + rng.uniform()) % 1.0
    width = 0.8
    tri = np.where(frac < width, frac / width, (1 - frac) / (1 - width)) * 2 - 1
    amp = rng.uniform(20, 60) * night.eeg_scale
    wave = 0.5 * amp * tri * _hann(t) ** 0.5
    return Event("sawtooth", _both_eeg(wave, rng), amp, "EEG", {"freq_hz": f})


def _eye(rng, sfreq, duration, rise, decay, amp, name) -> Event:
    t = _t(duration, sfreq)
    wave = np.exp(-t / decay) - np.exp(-t / rise)
    wave *= _hann(t) ** 0.2 / wave.max()  # taper the tail to zero
    sign = rng.choice([-1.0, 1.0])
    left = sign * amp * rng.uniform(0.8, 1.2) * wave
    right = -sign * amp * rng.uniform(0.8, 1.2) * wave
    return Event(name, {2: left, 3: right}, float(np.abs(left).max()), "EOG", {})


def rem(rng, sfreq, night: NightTraits) -> Event:
    """A rapid eye movement: conjugate (opposite polarity left/right), rise < 0.1 s, 80-250 µV.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    return _eye(
        rng,
        sfreq,
        rng.uniform(0.8, 1.5),
        rng.uniform(0.02, 0.05),
        rng.uniform(0.2, 0.5),
        rng.uniform(80, 250),
        name="rem",
    )


def saccade(rng, sfreq, night: NightTraits) -> Event:
    """A waking horizontal saccade: a fast step held ~1 s, opposite polarity in the two EOGs, 50-150 µV.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    return _eye(
        rng,
        sfreq,
        rng.uniform(1.0, 2.5),
        rng.uniform(0.01, 0.03),
        rng.uniform(0.5, 1.5),
        rng.uniform(50, 150),
        name="saccade",
    )


def blink(rng, sfreq, night: NightTraits) -> Event:
    """An eye blink: a 0.2-0.4 s monophasic deflection, same polarity in both EOGs, 80-250 µV; leaks into EEG.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(0.4, 0.6), sfreq)
    amp = rng.uniform(80, 250)
    wave = amp * np.exp(-0.5 * ((t - t[-1] / 2) / rng.uniform(0.05, 0.09)) ** 2)
    leak = rng.uniform(0.03, 0.08)
    return Event("blink", {2: wave, 3: wave * rng.uniform(0.7, 1.0), 0: leak * wave, 1: leak * wave}, amp, "EOG", {})


def sem(rng, sfreq, night: NightTraits) -> Event:
    """A slow rolling eye movement: one smooth 1.5-5 s excursion, opposite polarity, 40-120 µV.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(1.5, 5.0), sfreq)
    amp = rng.uniform(40, 120)
    wave = _hann(t) ** 2
    sign = rng.choice([-1.0, 1.0])
    return Event("sem", {2: sign * amp * wave, 3: -sign * amp * wave * rng.uniform(0.8, 1.2)}, amp, "EOG", {})


def twitch(rng, sfreq, night: NightTraits) -> Event:
    """A phasic chin twitch of REM: a 0.05-0.3 s EMG burst, 3-10× the waking tone (EMG gain).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(0.05, 0.3), sfreq)
    gain = rng.uniform(3, 10)
    return Event("twitch", {EMG: gain * _hann(t)}, gain * night.emg_tone_uv, "EMG", {})


def movement(rng, sfreq, night: NightTraits) -> Event:
    """A movement artefact: 2-8 s of large slow drifts on EEG/EOG and a chin EMG burst (gain 3-8).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(2.0, 8.0), sfreq)
    env = _hann(t) ** 0.5
    width = max(int(0.3 * sfreq), 1)
    amp = rng.uniform(100, 300)
    waves = {}
    for row in (0, 1, 2, 3):
        drift = np.convolve(rng.standard_normal(len(t) + width), np.ones(width) / width, "valid")[: len(t)]
        waves[row] = amp * env * drift / (drift.std() + 1e-9)
    waves[EMG] = rng.uniform(3, 8) * env
    return Event("movement", waves, amp, "all", {})


def pop(rng, sfreq, night: NightTraits) -> Event:
    """An electrode pop on one EEG or EOG row: a step of 100-400 µV decaying over 0.2-1 s.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random draw.
    sfreq : float
        Sampling rate in Hz.
    night : NightTraits
        The night's constants (amplitude scaling, frequencies).

    Returns
    -------
    Event
    """
    t = _t(rng.uniform(1.0, 3.0), sfreq)
    amp = rng.uniform(100, 400) * rng.choice([-1.0, 1.0])
    row = int(rng.integers(0, 4))
    return Event("pop", {row: amp * np.exp(-t / rng.uniform(0.2, 1.0))}, abs(amp), str(row), {})


GENERATORS = {
    "alpha": alpha,
    "spindle": spindle,
    "k_complex": k_complex,
    "slow_wave": slow_wave,
    "vertex_wave": vertex_wave,
    "sawtooth": sawtooth,
    "rem": rem,
    "saccade": saccade,
    "blink": blink,
    "sem": sem,
    "twitch": twitch,
    "movement": movement,
    "pop": pop,
}
