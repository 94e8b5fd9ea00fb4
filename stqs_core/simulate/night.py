"""Assemble a simulated PSG night: a stage-dependent 1/f background plus AASM events, with its event table.

The background is a sum of FFT-shaped noise streams (1/f, delta, theta, alpha, beta, chin EMG, ...), one FFT
each for the whole night, whose amplitudes follow the hypnogram through per-epoch envelopes smoothed over a few
seconds (a cross-fade at stage boundaries). Events (spindles, K-complexes, slow waves, eye movements, twitches,
artefacts ...) are drawn per epoch from stage-dependent rates and lie wholly inside their epoch. A lab
profile (:mod:`.profiles`) changes the montage's view of each source, the subject, the recording chain and
the scorer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import EPOCH_SEC, UNSCORED
from ..errors import HypnogramError, StqsError
from ..hypnogram import check_stages, fill_unscored
from ..recording import Recording
from . import events as ev
from .events import NightTraits, draw_traits
from .profiles import MONTAGES, Montage, Profile, get_profile
from .stage_model import sample_hypnogram

logger = logging.getLogger(__name__)

CHANNELS = list(MONTAGES["aasm"].channels)
"""Channel names of the simulated rows (default montage); they resolve through the ``aasm`` channel preset."""

SFREQS = (100, 125, 128, 200, 256)
"""Common PSG sampling rates (Hz); the simulator takes any whole number of Hz in :data:`SFREQ_RANGE`."""
SFREQ_RANGE = (50, 512)
DEFAULT_SFREQ = 125

EVENT_COLUMNS = ["type", "channel", "row", "onset_s", "duration_s", "amplitude_uv", "epoch", "stage", "freq_hz"]

# Background amplitudes (µV rms at eeg_scale 1) per stage W, N1, N2, N3, REM.
BACKGROUND = {
    "pink": (10.0, 12.0, 14.0, 16.0, 10.0),
    "delta": (4.0, 8.0, 4.0, 25.0, 8.0),
    "theta": (3.0, 9.0, 12.0, 7.0, 8.0),
    "alpha": (2.0, 2.0, 1.0, 1.0, 3.0),
    "beta": (5.0, 3.0, 2.0, 1.5, 3.5),
}
EOG_BACKGROUND_UV = 5.0
PINK_CORNER_HZ = 1.0
"""The 1/f background is flat below this frequency (Hz); slow activity comes from the stage's delta stream."""
SWEAT_UV = 15.0
EMG_TONE = (1.0, 0.6, 0.45, 0.4, 0.12)
"""Chin tone per stage, relative to the night's waking tone."""

# Events per 30-s epoch (Poisson means) per stage W, N1, N2, N3, REM.
RATES = {
    "alpha": (4.0, 0.7, 0.0, 0.0, 0.3),
    "spindle": (0.0, 0.1, 3.0, 1.0, 0.0),
    "k_complex": (0.0, 0.05, 1.0, 0.5, 0.0),
    "vertex_wave": (0.0, 1.5, 0.3, 0.0, 0.0),
    "sawtooth": (0.0, 0.0, 0.0, 0.0, 1.2),
    "rem": (0.0, 0.0, 0.0, 0.0, 10.0),
    "saccade": (2.0, 0.1, 0.0, 0.0, 0.0),
    "blink": (3.0, 0.3, 0.0, 0.0, 0.1),
    "sem": (0.3, 2.0, 0.2, 0.0, 0.0),
    "twitch": (0.0, 0.0, 0.05, 0.0, 4.0),
    "movement": (0.3, 0.05, 0.02, 0.01, 0.03),
    "pop": (0.01, 0.01, 0.01, 0.01, 0.01),
}
ARTEFACTS = ("movement", "pop")
SLOW_WAVE_COVER = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.05), (0.3, 0.75), (0.0, 0.0))
"""Share of an epoch covered by slow waves, drawn uniformly in these bounds per stage."""

EYE_LEAK = 0.05
"""Share of an eye movement that reaches the EEG of its side."""

SHRINK = 0.2
"""Amplitude factor of the slow waves, K-complexes and delta background of the N3 epochs given to
``simulate_night(remove_evidence=...)`` (their slow waves fall below the 75 µV of the N3 rule)."""


@dataclass
class SimulatedNight:
    """A simulated night: the recording, its stages and one row per inserted event.

    Parameters
    ----------
    recording : Recording
        ``data`` ``(5, n_samples)`` in µV, rows EEG C3-A2, C4-A1, EOG E1-M2, E2-M1, chin EMG (names in
        :data:`CHANNELS`; a profile's montage renames them); its ``hypnogram`` equals ``stages``.
    stages : ndarray of int8, shape (n_epochs,)
        The scored labels (-1 unscored): the true stages, unless the profile's scorer has habits
        (``simulated_as`` holds what the signals show).
    events : pandas.DataFrame
        One row per event, columns ``type`` (alpha, spindle, k_complex, slow_wave, vertex_wave, sawtooth, rem,
        saccade, blink, sem, twitch, movement, pop), ``channel``/``row`` (main channel; ``"all"``/-1 for
        movements), ``onset_s``, ``duration_s``, ``amplitude_uv`` (peak to peak for EEG waves, peak for eye
        movements, peak EMG for twitches), ``epoch``, ``stage`` (the stage it was generated for) and ``freq_hz``
        (NaN where not applicable); amplitudes are those at C3-A2/C4-A1, before the montage and the recording
        chain. The ECG artefact, mains interference and sweat drift are continuous, not events.
    traits : NightTraits or None
        The night's random constants (age-like amplitude scaling, alpha and spindle frequency ...).
    simulated_as : ndarray of int8, shape (n_epochs,), or None
        The stage each epoch was generated as (unscored epochs take their neighbour's stage).
    profile : str
        The lab profile's name.
    """

    recording: Recording
    stages: np.ndarray
    events: pd.DataFrame
    traits: NightTraits | None = None
    simulated_as: np.ndarray | None = field(default=None, repr=False)
    """Stage each epoch was generated as (unscored epochs take their neighbour's stage)."""
    profile: str = "in-domain"

    def write_edf(self, path: str | Path, hypnogram: str = "edf") -> list[Path]:
        """Write the signals as EDF, with the stages as EDF+ annotations or as a CSV beside it.

        A channel feeding two rows (the horizontal EOG of the Sleep-EDF montage) is written once.

        Parameters
        ----------
        path : str or Path
            The EDF file.
        hypnogram : str
            ``"edf"`` (annotations in the file) or ``"csv"`` (``<stem>-hypnogram.csv``, one stage name per line).

        Returns
        -------
        list of Path
            The files written.
        """
        from ..annotations import write_hypnogram
        from ..edf import write_edf

        if hypnogram not in ("edf", "csv"):
            raise StqsError(f"hypnogram must be 'edf' or 'csv', got {hypnogram!r}")
        path = Path(path)
        rec = self.recording
        names = list(dict.fromkeys(rec.channel_names))
        rows = [rec.channel_names.index(name) for name in names]
        written = [
            write_edf(path, rec.data[rows], names, rec.sfreq, stages=self.stages if hypnogram == "edf" else None)
        ]
        if hypnogram == "csv":
            written.append(write_hypnogram(path.with_name(f"{path.stem}-hypnogram.csv"), self.stages))
        return written

    def write_events(self, path: str | Path) -> Path:
        """Write the event table as CSV, atomically.

        Parameters
        ----------
        path : str or Path
            The CSV file.

        Returns
        -------
        Path
            ``path``.
        """
        from .._atomic import atomic_path

        with atomic_path(path) as tmp:
            self.events.to_csv(tmp, index=False, float_format="%.4g")
        return Path(path)


def simulate_night(
    hypnogram: str | Path | np.ndarray | None = None,
    *,
    hours: float = 8.0,
    seed: int = 0,
    sfreq: int | None = None,
    line_noise: int | None = None,
    artefacts: bool = True,
    name: str | None = None,
    profile: str | Profile = "in-domain",
    remove_evidence=None,
) -> SimulatedNight:
    """Simulate one PSG night.

    Parameters
    ----------
    hypnogram : str | Path | array of int | None
        Stages to follow: a hypnogram file (anything :func:`~stqs_core.read_hypnogram` reads) or codes
        ``(n_epochs,)`` 0-4; unscored epochs (-1) are simulated as their nearest scored neighbour (the one
        before, else after) and stay -1 in ``stages``. None draws ``hours`` from the stage model.
    hours : float
        Length of a night drawn from the stage model (ignored when ``hypnogram`` is given).
    seed : int
        Seed; the same seed gives the same night.
    sfreq : int | None
        Sampling rate (Hz), any whole number from 50 to 512; None takes the profile's, else 125.
    line_noise : int | None
        Mains frequency (50 or 60 Hz) to add, or None.
    artefacts : bool
        Add movement artefacts, electrode pops and sweat drift.
    name : str | None
        Recording name (default ``sim-<seed>``).
    profile : str | Profile
        Lab profile (see :data:`~stqs_core.simulate.profiles.PROFILES`, ``stqs simulate --list-profiles``):
        montage and channel names, sampling rate, amplifier, noise, subjects, scorer. The default
        ``"in-domain"`` changes nothing; every profile keeps the seed's stages and, at the same sampling rate,
        its background and events.
    remove_evidence : array of int | None
        Epochs whose stage-defining evidence is taken out, to check explanations: an N2 epoch among them loses its
        spindles and K-complexes, an N3 epoch's slow waves, K-complexes and delta background shrink to
        :data:`SHRINK` of their amplitude (their rows of ``events`` go or shrink too); other stages are unchanged.
        Everything else is the night of the same seed without it.

    Returns
    -------
    SimulatedNight
        The recording ``(5, n_samples)`` in µV, its stages ``(n_epochs,)`` per 30-s epoch and its event table.

    Examples
    --------
    A simulated night with known stages and events (``stqs simulate`` writes it as EDF with its event table):

    >>> from stqs_core.simulate import simulate_night
    >>> night = simulate_night(hours=0.5, seed=1)  # or profile="montage-sleep-edf", ... (a lab's habits)
    >>> night.recording.data.shape  # EEG, EEG, EOG, EOG, EMG in µV at 125 Hz
    (5, 225000)
    >>> night.stages.shape  # stage codes per 30-s epoch, 0-4 for W, N1, N2, N3, REM
    (60,)
    >>> night.events.columns.tolist()  # one row per spindle, K-complex, slow wave, eye movement ...
    ['type', 'channel', 'row', 'onset_s', 'duration_s', 'amplitude_uv', 'epoch', 'stage', 'freq_hz']
    >>> night.write_edf("night.edf")  # doctest: +SKIP
    """
    profile = get_profile(profile)
    sfreq = _sfreq(sfreq, profile)
    if line_noise not in (None, 50, 60):
        raise StqsError(f"line_noise must be None, 50 or 60 (Hz), got {line_noise!r}")
    profile.check(sfreq)
    montage = MONTAGES[profile.montage]
    rng = np.random.default_rng(seed)
    true = _stages(hypnogram, hours, seed)
    filled = fill_unscored(true)
    traits = profile.adjust_traits(draw_traits(rng), seed)
    n = len(true) * int(EPOCH_SEC * sfreq)
    removed = np.zeros(len(true), bool)
    if remove_evidence is not None:
        chosen = np.asarray(remove_evidence, dtype=int).ravel()
        if chosen.size and not (0 <= chosen.min() and chosen.max() < len(true)):
            raise StqsError(f"remove_evidence: epochs run 0-{len(true) - 1}, got {chosen.min()}-{chosen.max()}")
        removed[chosen] = True
    data, emg_noise, emg_gain = _background(rng, filled, traits, sfreq, n, artefacts, montage, removed)
    table = _insert_events(seed, data, emg_gain, filled, traits, sfreq, artefacts, montage, profile.pop_rate, removed)
    data[4] += (traits.emg_tone_uv * emg_gain * emg_noise).astype(np.float32)
    _add_ecg(rng, data, traits, sfreq, profile.emg_ecg)
    if line_noise:
        t = np.arange(n) / sfreq
        for row in range(5):
            amp = traits.line_uv * rng.uniform(0.3, 1.0)
            data[row] += (amp * np.sin(2 * np.pi * line_noise * t + rng.uniform(0, 2 * np.pi))).astype(np.float32)
    data = profile.record(data, sfreq, seed)
    stages = profile.score(true, seed)
    recording = Recording(
        data, float(sfreq), list(montage.channels), hypnogram=stages.copy(), name=name or f"sim-{seed}"
    )
    logger.debug(
        "%s: %d epochs at %d Hz, %d events, profile %s", recording.name, len(stages), sfreq, len(table), profile.name
    )
    return SimulatedNight(recording, stages, table, traits, filled, profile.name)


def _sfreq(sfreq: int | None, profile: Profile) -> int:
    """The sampling rate to simulate at: ``sfreq``, else the profile's, else 125 Hz; checked."""
    if sfreq is not None and profile.sfreq is not None and sfreq != profile.sfreq:
        raise StqsError(
            f"profile {profile.name!r} records at {profile.sfreq} Hz, not {sfreq} Hz; leave sfreq out "
            "or choose another profile"
        )
    sfreq = sfreq if sfreq is not None else profile.sfreq or DEFAULT_SFREQ
    low, high = SFREQ_RANGE
    if isinstance(sfreq, bool) or not isinstance(sfreq, (int, np.integer)) or not low <= sfreq <= high:
        raise StqsError(f"sfreq {sfreq!r} is not supported; use a whole number of Hz from {low} to {high}")
    return int(sfreq)


def _stages(hypnogram, hours: float, seed: int) -> np.ndarray:
    if hypnogram is None:
        return sample_hypnogram(hours, seed)
    if isinstance(hypnogram, (str, Path)):
        from ..annotations import read_hypnogram

        hypnogram = read_hypnogram(hypnogram)
    stages = check_stages(hypnogram)
    if np.all(stages == UNSCORED):
        raise HypnogramError("the hypnogram has no scored epoch to simulate")
    return stages


def _shape(name: str, traits: NightTraits, sfreq: float):
    """Amplitude spectrum ``freqs -> gain`` of a background stream."""
    nyq = sfreq / 2

    def lowpass(f, fc):
        return 1 / np.sqrt(1 + (f / fc) ** 8)

    def gauss(f, centre, width):
        return np.exp(-0.5 * ((f - centre) / width) ** 2)

    shapes = {
        "pink": lambda f: (
            np.maximum(f, PINK_CORNER_HZ) ** (-traits.pink_exponent / 2)
            * lowpass(f, min(45, 0.8 * nyq))
            * np.minimum(f / 0.3, 1)
        ),
        "delta": lambda f: np.exp(-0.5 * (np.log(np.maximum(f, 1e-3) / 1.1) / 0.45) ** 2),
        "theta": lambda f: gauss(f, traits.theta_hz, 1.6),
        "alpha": lambda f: gauss(f, traits.alpha_hz, 0.6),
        "beta": lambda f: gauss(f, traits.beta_hz, 5.0),
        "emg": lambda f: (1 - lowpass(f, 10.0)) * lowpass(f, min(60.0, 0.9 * nyq)),
        "sweat": lambda f: gauss(f, 0.05, 0.03),
    }
    return shapes[name]


def _noise(rng: np.random.Generator, shape, n: int, sfreq: float) -> np.ndarray:
    """Stationary Gaussian noise ``(n,)`` with amplitude spectrum ``shape(freqs)``, unit standard deviation."""
    from scipy import fft

    n_fft = fft.next_fast_len(n, real=True)
    n_freq = n_fft // 2 + 1
    spectrum = (
        rng.standard_normal(n_freq, dtype=np.float32) + 1j * rng.standard_normal(n_freq, dtype=np.float32)
    ).astype(np.complex64)
    spectrum *= shape(np.fft.rfftfreq(n_fft, 1 / sfreq)).astype(np.float32)
    x = fft.irfft(spectrum, n_fft, workers=-1)[:n]
    return x / (x.std() + 1e-12)


def _envelope(
    rng, per_stage, stages: np.ndarray, n: int, sfreq: float, jitter: float = 0.15, fade_s: float = 6.0
) -> np.ndarray:
    """Per-sample amplitude ``(n,)`` following ``per_stage[stage]`` epoch by epoch, with lognormal
    jitter per epoch, cross-faded over ``fade_s`` seconds."""
    per_epoch = np.asarray(per_stage, dtype=float)[stages] * rng.lognormal(0, jitter, len(stages))
    per_second = np.repeat(per_epoch, int(EPOCH_SEC))
    k = int(fade_s)
    padded = np.pad(per_second, (k // 2, k - k // 2 - 1), mode="edge")
    smooth = np.convolve(padded, np.ones(k) / k, "valid")
    return np.interp(np.arange(n) / sfreq, np.arange(len(smooth)) + 0.5, smooth).astype(np.float32)


def _background(rng, stages, traits: NightTraits, sfreq, n, artefacts, montage: Montage, removed=None):
    """Background signals ``(5, n)`` float32 µV, the chin's unit noise ``(n,)`` and its tone gain ``(n,)``; the delta
    of the N3 epochs ``removed`` ``(n_epochs,)`` bool shrinks to :data:`SHRINK`."""
    data = np.zeros((5, n), np.float32)
    rho = traits.eeg_correlation
    low = np.zeros(n, np.float32)
    for comp, per_stage in BACKGROUND.items():
        stream = _noise(rng, _shape(comp, traits, sfreq), n, sfreq)
        env = _envelope(rng, per_stage, stages, n, sfreq) * traits.eeg_scale
        if comp == "delta":
            env *= traits.slow_wave_scale
            if removed is not None and (shrunk := removed & (stages == 3)).any():
                env *= np.repeat(np.where(shrunk, SHRINK, 1.0), len(env) // len(stages)).astype(np.float32)
        common = (env * stream).astype(np.float32)
        if comp == "pink":
            for row in (0, 1):
                own = _noise(rng, _shape("pink", traits, sfreq), n, sfreq)
                data[row] += montage.gain(row, comp) * np.sqrt(1 - rho**2) * env * own
            common *= rho
        data[0] += montage.gain(0, comp) * common
        data[1] += montage.gain(1, comp) * common
        if comp in ("pink", "delta", "theta"):
            low += common
    for row in (2, 3):  # EOG: own 1/f noise plus frontal EEG picked up by both electrodes
        own = _noise(rng, _shape("pink", traits, sfreq), n, sfreq)
        data[row] += EOG_BACKGROUND_UV * own + traits.eog_leak * rng.uniform(0.8, 1.2) * low
    if artefacts:  # sweat: a very slow drift waxing and waning over the night
        sweat = _noise(rng, _shape("sweat", traits, sfreq), n, sfreq)
        env = _envelope(rng, np.full(5, rng.uniform(0, SWEAT_UV)), stages, n, sfreq, jitter=0.8, fade_s=60)
        for row in range(4):
            data[row] += rng.uniform(0.5, 1.0) * env * sweat
    emg_noise = _noise(rng, _shape("emg", traits, sfreq), n, sfreq).astype(np.float32)
    emg_gain = _envelope(rng, EMG_TONE, stages, n, sfreq, jitter=0.2)
    return data, emg_noise, emg_gain


def _insert_events(
    seed: int,
    data,
    emg_gain,
    stages,
    traits: NightTraits,
    sfreq,
    artefacts,
    montage: Montage,
    pop_rate: float = 1.0,
    removed=None,
) -> pd.DataFrame:
    """Draw and add every event, each EEG wave times its montage gain; returns the event table (one row per
    event, time order). ``pop_rate`` multiplies the rate of electrode pops; epochs ``removed`` ``(n_epochs,)``
    bool lose their evidence (see :func:`simulate_night`), drawn all the same so that the rest of the night stays.

    Each event type draws from its own random stream, so changing one type's rate leaves the others alone."""
    epoch_len = int(EPOCH_SEC * sfreq)
    rows = []

    def place(event: ev.Event, epoch: int, start: int | None = None) -> None:
        m = event.n_samples
        if m >= epoch_len:
            return
        if start is None:
            start = int(rng.integers(0, epoch_len - m))
        if removed is not None and removed[epoch]:
            if stages[epoch] == 2 and event.type in ("spindle", "k_complex"):
                return
            if stages[epoch] == 3 and event.type in ("slow_wave", "k_complex"):
                event.waves = {row: SHRINK * wave for row, wave in event.waves.items()}
                event.amplitude_uv *= SHRINK
        onset = epoch * epoch_len + start
        for row, wave in event.waves.items():
            target = emg_gain if row == ev.EMG else data[row]
            target[onset : onset + m] += montage.gain(row, event.type) * wave.astype(np.float32)
        if event.type in ("rem", "saccade", "sem"):
            for eeg_row, eog_row in ((0, 2), (1, 3)):
                data[eeg_row, onset : onset + m] += (
                    montage.gain(eeg_row, "eye") * EYE_LEAK * event.waves[eog_row].astype(np.float32)
                )
        main = min(event.waves)
        rows.append(
            (
                event.type,
                montage.channels[main] if event.channel != "all" else "all",
                main if event.channel != "all" else -1,
                onset / sfreq,
                m / sfreq,
                float(event.amplitude_uv),
                epoch,
                int(stages[epoch]),
                float(event.extra.get("freq_hz", np.nan)),
            )
        )

    rates = {k: np.asarray(v) for k, v in RATES.items() if artefacts or k not in ARTEFACTS}
    density = {"spindle": traits.spindle_density, "rem": traits.rem_density, "pop": pop_rate}
    for kind, per_stage in rates.items():
        rng = np.random.default_rng([seed, list(ev.GENERATORS).index(kind)])
        lam = per_stage[stages] * density.get(kind, 1.0)
        if kind == "rem":  # phasic and tonic REM: eye movements cluster in some epochs
            lam = lam * rng.gamma(4.0, 0.25, len(stages))
        counts = rng.poisson(lam)
        gen = ev.GENERATORS[kind]
        for epoch in np.flatnonzero(counts):
            for _ in range(counts[epoch]):
                event = gen(rng, sfreq, traits)
                place(event, epoch)
                if kind == "k_complex" and rng.random() < 0.4:  # a spindle often rides on a K-complex' tail
                    spin = ev.spindle(rng, sfreq, traits)
                    end = rows[-1][3] + rows[-1][4] - epoch * EPOCH_SEC if rows else EPOCH_SEC
                    start = int(round(end * sfreq))
                    if start + spin.n_samples < epoch_len:  # (a K-complex removed: its spindle goes too)
                        place(spin, epoch, start)
    rng = np.random.default_rng([seed, len(ev.GENERATORS)])
    _insert_slow_waves(rng, stages, traits, sfreq, place)
    table = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    return table.sort_values("onset_s", kind="stable").reset_index(drop=True)


def _insert_slow_waves(rng, stages, traits, sfreq, place) -> None:
    """Trains of consecutive slow waves covering a drawn share of each N2/N3 epoch, without overlaps."""
    bounds = np.asarray(SLOW_WAVE_COVER)[stages]
    cover = rng.uniform(bounds[:, 0], bounds[:, 1])
    for epoch in np.flatnonzero(cover > 0):
        free = np.ones(int(EPOCH_SEC * 10), bool)  # 0.1-s grid of the epoch
        target, covered = cover[epoch] * EPOCH_SEC, 0.0
        for _ in range(40):
            if covered >= target:
                break
            periods = rng.uniform(0.6, 1.6, int(rng.integers(2, 7)))
            length = periods.sum()
            if length >= EPOCH_SEC - 0.2:
                continue
            start = rng.uniform(0.05, EPOCH_SEC - length - 0.05)
            cells = slice(int(start * 10), int(np.ceil((start + length) * 10)))
            if not free[cells].all():
                continue
            free[cells] = False
            t = start
            for period in periods:
                place(ev.slow_wave(rng, sfreq, traits, period), epoch, int(round(t * sfreq)))
                t += period
            covered += length


def _add_ecg(rng, data, traits: NightTraits, sfreq, emg_gain: float = 1.0) -> None:
    """ECG artefact: QRS-like spikes at the heart rate on the chin EMG (times ``emg_gain``) and, weaker, on the
    EEG."""
    n = data.shape[1]
    intervals = 1 / traits.heart_rate_hz * (1 + 0.05 * rng.standard_normal(int(n / sfreq * 2) + 10))
    beats = np.cumsum(intervals)
    beats = beats[beats < n / sfreq - 1]
    train = np.zeros(n, np.float32)
    train[(beats * sfreq).astype(int)] = 1.0
    t = np.arange(-int(0.06 * sfreq), int(0.06 * sfreq) + 1) / sfreq
    qrs = -t / 0.012 * np.exp(-0.5 * (t / 0.012) ** 2)
    spikes = np.convolve(train, qrs, "same").astype(np.float32)
    data[4] += traits.ecg_uv * emg_gain * spikes
    data[0] += 0.5 * traits.ecg_uv * spikes
    data[1] -= 0.5 * traits.ecg_uv * spikes
