"""Lab profiles: what differs between sleep labs, applied to a simulated night (a domain-shift suite).

A :class:`Profile` changes one or a few things a lab does differently from the simulator's default
(``in-domain``): the montage and channel names, the sampling rate, the amplifier's filters, unit or range
mistakes, electrode noise and pops, mains interference, chin-EMG placement, the subjects' age, or the scorer's
habits. :func:`~stqs_core.simulate.simulate_night` applies one with ``profile="name"``; the underlying night
(stages, events, background) stays that of the same seed, so a profile's cost is measured on the same nights.
Every random choice a profile makes draws from its own stream seeded by the night's seed.

The order follows the signal's path: the subject (:meth:`Profile.adjust_traits`), the electrodes and the montage
(gains applied while the night is simulated, then :meth:`Profile.record`: the horizontal EOG derivation, noise,
mains), the amplifier (filters), the converter's range (clipping), the export (units); the scorer
(:meth:`Profile.score`) only changes the labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import StqsError, check_option, check_range
from .events import NightTraits, age_amplitude

SEVERITY = ("none", "mild", "moderate", "severe")
"""Names of :attr:`Profile.severity` 0-3: the shift a profile is expected to cause (a prior, not a measurement)."""

SCORERS = ("n1-long", "n1-short")


@dataclass(frozen=True)
class Montage:
    """The derivations a lab records: five channel names and how each EEG derivation sees each source.

    Parameters
    ----------
    channels : tuple of str, length 5
        Names of the rows EEG, EEG, EOG, EOG, EMG (a repeated name is one channel feeding two rows).
    eeg_gains : tuple of two mappings of str to float
        ``eeg_gains[row]`` maps a source to its gain on EEG row 0 or 1 relative to C3-A2/C4-A1 (1 where absent):
        background streams ``pink``, ``delta``, ``theta``, ``alpha``, ``beta``; event types (``spindle``,
        ``k_complex``, ``slow_wave``, ``vertex_wave``, ``sawtooth``, ``alpha``, ``blink``); ``eye`` for the share of
        eye movements reaching the EEG.
    horizontal_eog : bool
        Record one bipolar E1-E2 channel (as Sleep-EDF) instead of two referential EOGs: conjugate movements
        double, what both eyes' electrodes share cancels.
    """

    channels: tuple[str, str, str, str, str]
    eeg_gains: tuple[Mapping[str, float], Mapping[str, float]] = ({}, {})
    horizontal_eog: bool = False

    def gain(self, row: int, source: str) -> float:
        """Gain of a source on a row.

        Parameters
        ----------
        row : int
            The row, 0-4.
        source : str
            A background stream or event type (see the class).

        Returns
        -------
        float
            1 on the EOG and EMG rows, and for sources the montage does not name.
        """
        return self.eeg_gains[row].get(source, 1.0) if row < 2 else 1.0

    @property
    def unique_channels(self) -> list[str]:
        """The channels as a file holds them: each name once, in row order."""
        return list(dict.fromkeys(self.channels))


_FRONTAL = {
    "pink": 0.8,
    "theta": 0.8,
    "alpha": 0.4,
    "beta": 0.9,
    "spindle": 0.5,
    "k_complex": 0.7,
    "vertex_wave": 0.4,
    "sawtooth": 0.6,
    "slow_wave": 0.9,
    "eye": 8.0,
    "blink": 6.0,
}
_PARIETO_OCCIPITAL = {
    "pink": 0.7,
    "delta": 0.5,
    "theta": 0.6,
    "alpha": 2.0,
    "beta": 0.8,
    "spindle": 0.5,
    "k_complex": 0.3,
    "vertex_wave": 0.2,
    "sawtooth": 0.5,
    "slow_wave": 0.4,
    "eye": 0.3,
    "blink": 0.2,
}
_CZ_REFERENCE = {
    "pink": 0.5,
    "delta": 0.4,
    "theta": 0.5,
    "alpha": 0.7,
    "beta": 0.7,
    "spindle": 0.3,
    "k_complex": 0.2,
    "vertex_wave": 0.1,
    "sawtooth": 0.3,
    "slow_wave": 0.35,
    "eye": 0.6,
    "blink": 0.5,
}
_FP1_MASTOID = {
    "delta": 1.2,
    "theta": 0.9,
    "alpha": 0.4,
    "spindle": 0.6,
    "vertex_wave": 0.6,
    "sawtooth": 0.6,
    "slow_wave": 1.1,
    "eye": 10.0,
    "blink": 8.0,
}

MONTAGES: dict[str, Montage] = {
    "aasm": Montage(("EEG C3-A2", "EEG C4-A1", "EOG E1-M2", "EOG E2-M1", "EMG chin")),
    "aasm-m": Montage(("EEG C3-M2", "EEG C4-M1", "EOG E1-M2", "EOG E2-M1", "EMG Chin1-Chin2")),
    "sleep-edf": Montage(
        ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EOG horizontal", "EMG submental"),
        (_FRONTAL, _PARIETO_OCCIPITAL),
        horizontal_eog=True,
    ),
    "cz-ref": Montage(("EEG C3-Cz", "EEG C4-Cz", "EOG E1-M2", "EOG E2-M1", "EMG chin"), (_CZ_REFERENCE, _CZ_REFERENCE)),
    "c3-fp1": Montage(("EEG C3-A2", "EEG Fp1-A2", "EOG E1-M2", "EOG E2-M1", "EMG chin"), ({}, _FP1_MASTOID)),
}
"""Montages by name. ``aasm`` is the simulator's default (central EEG referred to the opposite mastoid)."""


@dataclass(frozen=True)
class Profile:
    """What one lab does differently from the default simulation; the defaults change nothing.

    Parameters
    ----------
    name, description : str
        Registry key and one line saying what the lab does.
    severity : int
        Expected shift, 0 none to 3 severe (see :data:`SEVERITY`); a prior, the benchmark measures the cost.
    montage : str
        Key of :data:`MONTAGES`: channel names and how each EEG derivation sees each source.
    sfreq : int | None
        Sampling rate the lab records at (Hz, 50-512); None keeps the caller's (default 125).
    highpass_hz, lowpass_hz : float | None
        Amplifier filters on EEG and EOG: a first-order high-pass (an RC coupling) and a second-order Butterworth
        low-pass, both causal as in hardware.
    notch_hz : float | None
        A causal notch (Q 30) on every channel.
    mains_hz, mains_uv : int | None, float
        Mains interference (50 or 60 Hz) of up to ``mains_uv`` µV amplitude per channel (twice that on the chin).
    electrode_noise_uv : float
        White noise (µV rms, 0.5-1.5 times this per channel) on EEG and EOG: high electrode impedance.
    pop_rate : float
        Multiplier of the rate of electrode pops.
    clip_uv : float | None
        The converter's physical range ±``clip_uv`` µV: larger excursions are clipped.
    unit_scale : float
        Factor applied to every signal on export, e.g. 1e-6 for signals in volts where µV are expected.
    emg_tone, emg_noise_uv, emg_ecg : float
        Chin EMG placement: multiplier of the chin tone, white noise (µV rms) on the chin channel, multiplier
        of the ECG picked up by the chin electrodes.
    age : tuple of float | None
        Age range (years) of the lab's subjects; the amplitude of the EEG follows age as in
        :func:`~stqs_core.simulate.events.draw_traits`. None keeps the default 20-75.
    slow_wave_scale, spindle_density : float
        Multipliers of slow-wave, K-complex and delta amplitude, and of the spindle rate.
    scorer : str | None
        The scorer's habit where N1 ends: ``"n1-long"`` keeps scoring N1 for 1-3 epochs into N2, ``"n1-short"``
        scores the last 1-2 epochs of an N1 bout before N2 as N2. Changes the labels, not the signals.
    """

    name: str
    description: str
    severity: int = 0
    montage: str = "aasm"
    sfreq: int | None = None
    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    notch_hz: float | None = None
    mains_hz: int | None = None
    mains_uv: float = 0.0
    electrode_noise_uv: float = 0.0
    pop_rate: float = 1.0
    clip_uv: float | None = None
    unit_scale: float = 1.0
    emg_tone: float = 1.0
    emg_noise_uv: float = 0.0
    emg_ecg: float = 1.0
    age: tuple[float, float] | None = None
    slow_wave_scale: float = 1.0
    spindle_density: float = 1.0
    scorer: str | None = None

    def __post_init__(self):
        check_option("montage", self.montage, MONTAGES)
        check_option("severity", self.severity, range(len(SEVERITY)))
        check_option("scorer", self.scorer, (None, *SCORERS))

    @property
    def channels(self) -> list[str]:
        """Names of the five rows (see :class:`Montage`)."""
        return list(MONTAGES[self.montage].channels)

    @property
    def changes(self) -> str:
        """The attributes that differ from the default, as ``name=value`` pairs."""
        return (
            ", ".join(
                f"{f.name}={getattr(self, f.name)}"
                for f in dataclasses.fields(self)
                if f.init and f.name not in ("name", "description", "severity") and getattr(self, f.name) != f.default
            )
            or "nothing"
        )

    def scaled(self, strength: float) -> Profile:
        """The profile with its effects' magnitudes scaled by ``strength`` (1: as named; 0.5: half as strong).

        Noise and mains amplitudes scale linearly; multipliers (pop rate, chin tone and ECG, slow-wave amplitude,
        spindle rate) geometrically (``m ** strength``); the clipping range and the low-pass corner move
        inversely (``clip_uv / strength``; the corner at most 0.4 times the profile's sampling rate, 125 Hz where
        it sets none). Montage, sampling rate, high-pass, notch, mains frequency, units, age and scorer are kept.

        Parameters
        ----------
        strength : float
            Scale of the effects, 0.1-4.

        Returns
        -------
        Profile
            A new profile, its name with ``*<strength>`` appended.
        """
        check_range("strength", strength, 0.1, 4.0)
        corner = 0.4 * (self.sfreq or 125)
        return dataclasses.replace(
            self,
            name=f"{self.name}*{strength:.2f}",
            lowpass_hz=None if self.lowpass_hz is None else min(self.lowpass_hz / strength, corner),
            clip_uv=None if self.clip_uv is None else self.clip_uv / strength,
            mains_uv=self.mains_uv * strength,
            electrode_noise_uv=self.electrode_noise_uv * strength,
            emg_noise_uv=self.emg_noise_uv * strength,
            **{
                name: getattr(self, name) ** strength
                for name in ("pop_rate", "emg_tone", "emg_ecg", "slow_wave_scale", "spindle_density")
            },
        )

    def adjust_traits(self, traits: NightTraits, seed: int) -> NightTraits:
        """The night's traits for this lab's subjects and chin electrodes.

        Parameters
        ----------
        traits : NightTraits
            The night's traits as drawn for the default lab.
        seed : int
            The night's seed.

        Returns
        -------
        NightTraits
        """
        if self.age is None and (self.emg_tone, self.slow_wave_scale, self.spindle_density) == (1.0, 1.0, 1.0):
            return traits
        age = traits.age
        scale = traits.eeg_scale
        if self.age is not None:
            age = float(_rng(seed, "age").uniform(*self.age))
            scale *= age_amplitude(age) / age_amplitude(traits.age)
        return dataclasses.replace(
            traits,
            age=age,
            eeg_scale=scale,
            emg_tone_uv=traits.emg_tone_uv * self.emg_tone,
            slow_wave_scale=traits.slow_wave_scale * self.slow_wave_scale,
            spindle_density=traits.spindle_density * self.spindle_density,
        )

    def record(self, data: np.ndarray, sfreq: int, seed: int) -> np.ndarray:
        """What the lab's electrodes, amplifier and export make of the signals.

        Parameters
        ----------
        data : ndarray of float32, shape (5, n_samples)
            Signals in µV, changed in place where possible.
        sfreq : int
            Sampling rate in Hz.
        seed : int
            The night's seed.

        Returns
        -------
        ndarray of float32, shape (5, n_samples)
            The recorded signals (in µV times ``unit_scale``).
        """
        montage = MONTAGES[self.montage]
        n = data.shape[1]
        if montage.horizontal_eog:
            data[2] = data[3] = data[2] - data[3]
        if self.electrode_noise_uv:
            rng = _rng(seed, "electrodes")
            for row in range(4):
                data[row] += self.electrode_noise_uv * rng.uniform(0.5, 1.5) * rng.standard_normal(n, np.float32)
        if self.emg_noise_uv:
            data[4] += self.emg_noise_uv * _rng(seed, "emg").standard_normal(n, np.float32)
        if self.mains_hz:
            rng = _rng(seed, "mains")
            t = np.arange(n) / sfreq
            for row in range(5):
                amp = self.mains_uv * rng.uniform(0.5, 1.0) * (2.0 if row == 4 else 1.0)
                data[row] += (amp * np.sin(2 * np.pi * self.mains_hz * t + rng.uniform(0, 2 * np.pi))).astype(
                    np.float32
                )
        data = self._amplifier(data, sfreq)
        if self.clip_uv is not None:
            np.clip(data, -self.clip_uv, self.clip_uv, out=data)
        if self.unit_scale != 1.0:
            data *= np.float32(self.unit_scale)
        return data

    def _amplifier(self, data: np.ndarray, sfreq: int) -> np.ndarray:
        from scipy import signal

        sos = []
        if self.highpass_hz:
            sos.append(signal.butter(1, self.highpass_hz, "highpass", fs=sfreq, output="sos"))
        if self.lowpass_hz:
            sos.append(signal.butter(2, self.lowpass_hz, "lowpass", fs=sfreq, output="sos"))
        if sos:
            data[:4] = signal.sosfilt(np.concatenate(sos), data[:4], axis=-1)
        if self.notch_hz:
            b, a = signal.iirnotch(self.notch_hz, 30.0, fs=sfreq)
            data[:] = signal.lfilter(b, a, data, axis=-1)
        return data

    def check(self, sfreq: int) -> None:
        """Raise :class:`~stqs_core.errors.StqsError` if a frequency of the profile cannot exist at a sampling rate.

        Parameters
        ----------
        sfreq : int
            Sampling rate in Hz.
        """
        for what, hz in (
            ("mains", self.mains_hz),
            ("low-pass", self.lowpass_hz),
            ("notch", self.notch_hz),
            ("high-pass", self.highpass_hz),
        ):
            if hz and hz >= sfreq / 2:
                raise StqsError(
                    f"profile {self.name!r}: its {what} at {hz:g} Hz cannot exist at {sfreq} Hz sampling "
                    f"(Nyquist {sfreq / 2:g} Hz); simulate at a rate above {2 * hz:g} Hz"
                )

    def score(self, stages: np.ndarray, seed: int) -> np.ndarray:
        """The labels this lab's scorer gives a night.

        Parameters
        ----------
        stages : ndarray of int, shape (n_epochs,)
            The true stages.
        seed : int
            The night's seed.

        Returns
        -------
        ndarray of int, shape (n_epochs,)
        """
        if self.scorer is None:
            return stages
        rng = _rng(seed, "scorer")
        labels = stages.copy()
        starts = np.flatnonzero(np.r_[True, stages[1:] != stages[:-1]])
        ends = np.r_[starts[1:], len(stages)]
        for i in range(len(starts) - 1):
            if stages[starts[i]] != 1 or stages[starts[i + 1]] != 2:  # N1 bout followed by N2
                continue
            if self.scorer == "n1-long":
                k = min(int(rng.integers(1, 4)), ends[i + 1] - starts[i + 1])
                labels[starts[i + 1] : starts[i + 1] + k] = 1
            else:
                k = min(int(rng.integers(1, 3)), ends[i] - starts[i])
                labels[ends[i] - k : ends[i]] = 2
        return labels


_STREAMS = ("age", "electrodes", "emg", "mains", "scorer")


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """The random stream of one profile effect of the night seeded ``seed``: independent of the night's own."""
    return np.random.default_rng([seed, 1000 + _STREAMS.index(purpose)])


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile("in-domain", "the default simulation: C3-A2/C4-A1, two EOG, chin EMG, 125 Hz, no lab effect"),
        Profile(
            "aasm-m-names",
            "the same signals under AASM names (C3-M2, C4-M1, Chin1-Chin2): channel mapping only",
            montage="aasm-m",
        ),
        Profile(
            "montage-sleep-edf",
            "Sleep-EDF montage: EEG Fpz-Cz and Pz-Oz, one horizontal EOG, submental EMG",
            2,
            montage="sleep-edf",
        ),
        Profile(
            "montage-cz-ref",
            "EEG referred to Cz (C3-Cz, C4-Cz): vertex waves, K-complexes and spindles cancel",
            2,
            montage="cz-ref",
        ),
        Profile(
            "montage-c3-fp1",
            "one central EEG: C3-A2 paired with frontal Fp1-A2 (eye movements, little alpha)",
            2,
            montage="c3-fp1",
        ),
        Profile("sfreq-50", "recorded at 50 Hz (nothing above 25 Hz: most of the chin EMG band is gone)", 1, sfreq=50),
        Profile("sfreq-512", "recorded at 512 Hz", 0, sfreq=512),
        Profile(
            "filters-clinical",
            "amplifier high-pass 0.5 Hz, low-pass 35 Hz and 50-Hz notch on the recording",
            1,
            highpass_hz=0.5,
            lowpass_hz=35.0,
            notch_hz=50.0,
        ),
        Profile(
            "lowpass-15hz",
            "EEG/EOG low-pass 15 Hz burned into the recording: spindles weakened, beta gone",
            2,
            lowpass_hz=15.0,
        ),
        Profile(
            "units-volts", "signals exported in V where µV are expected (1e-6 of the true values)", 3, unit_scale=1e-6
        ),
        Profile(
            "clipping-50uv",
            "physical range set to ±50 µV: slow waves, K-complexes and eye movements clipped",
            2,
            clip_uv=50.0,
        ),
        Profile(
            "noisy-electrodes",
            "high-impedance electrodes: 6 µV white noise on EEG/EOG, 30x the electrode pops",
            2,
            electrode_noise_uv=6.0,
            pop_rate=30.0,
        ),
        Profile(
            "mains-50", "50-Hz mains of 20-40 µV on every channel (twice on the chin)", 1, mains_hz=50, mains_uv=40.0
        ),
        Profile(
            "mains-60", "60-Hz mains of 20-40 µV on every channel (twice on the chin)", 1, mains_hz=60, mains_uv=40.0
        ),
        Profile(
            "emg-low-tone",
            "chin electrodes over bone: tone 0.15x, 1 µV amplifier noise and 3x ECG on the chin",
            2,
            emg_tone=0.15,
            emg_noise_uv=1.0,
            emg_ecg=3.0,
        ),
        Profile(
            "emg-noisy",
            "noisy chin EMG: 5 µV white noise and 5x ECG on the chin channel",
            2,
            emg_noise_uv=5.0,
            emg_ecg=5.0,
        ),
        Profile(
            "age-older",
            "subjects aged 65-85: slow waves and delta at 0.55x, spindles 0.45x as frequent",
            2,
            age=(65.0, 85.0),
            slow_wave_scale=0.55,
            spindle_density=0.45,
        ),
        Profile(
            "scorer-n1-long", "a scorer who keeps scoring N1 for 1-3 epochs into N2 (labels only)", 2, scorer="n1-long"
        ),
        Profile(
            "scorer-n1-short",
            "a scorer who ends N1 1-2 epochs early, scoring them N2 (labels only)",
            1,
            scorer="n1-short",
        ),
        Profile(
            "lab-sleep-edf",
            "a Sleep-EDF-like lab: Fpz-Cz/Pz-Oz, one horizontal EOG, 100 Hz, high-pass 0.5 Hz",
            3,
            montage="sleep-edf",
            sfreq=100,
            highpass_hz=0.5,
        ),
        Profile(
            "lab-clinic-50hz",
            "a clinic: 50 Hz, C3-A2 with Fp1-A2, low-pass 20 Hz, subjects 60-80, N1-long scorer",
            3,
            montage="c3-fp1",
            sfreq=50,
            lowpass_hz=20.0,
            age=(60.0, 80.0),
            slow_wave_scale=0.7,
            spindle_density=0.6,
            scorer="n1-long",
        ),
    ]
}
"""The named lab profiles; ``in-domain`` is the default simulation."""


def get_profile(profile: str | Profile) -> Profile:
    """A :class:`Profile` from its name (or the profile itself).

    Parameters
    ----------
    profile : str or Profile
        A key of :data:`PROFILES`.

    Returns
    -------
    Profile

    Raises
    ------
    StqsError
        For an unknown name, naming the profiles.
    """
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise StqsError(
            f"unknown profile {profile!r}; profiles: {', '.join(PROFILES)} "
            "(stqs simulate --list-profiles describes them)"
        )
    return PROFILES[profile]


def profile_table() -> str:
    """The profiles as a Markdown table: name, severity, description, channels and the settings they change.

    Returns
    -------
    str
    """
    lines = ["| profile | severity | what the lab does | channels | settings |", "|---|---|---|---|---|"]
    for p in PROFILES.values():
        lines.append(
            f"| `{p.name}` | {SEVERITY[p.severity]} | {p.description} | "
            f"{', '.join(MONTAGES[p.montage].unique_channels)} | {p.changes} |"
        )
    return "\n".join(lines)
