"""Lab profiles: each changes what it claims and nothing else, deterministically, and its EDF reads back."""

import numpy as np
import pytest
from scipy.signal import welch

from stqs_core import make_epochs, read_recording
from stqs_core.cli import main
from stqs_core.errors import StqsError
from stqs_core.simulate import PROFILES, Profile, get_profile, simulate_night, simulate_store
from stqs_core.store import EpochStore

# W, N1, N2, N3, N2, N1, N2, REM, N1, N2, W in 4-epoch blocks (22 min): N1 -> N2 transitions for the scorers
STAGES = np.repeat([0, 1, 2, 3, 2, 1, 2, 4, 1, 2, 0], 4).astype(np.int8)
STAGES[5] = -1


@pytest.fixture(scope="module")
def night():
    """The profiles' nights of seed 7 by name, simulated once."""
    cache = {}

    def get(profile: str, seed: int = 7):
        if (profile, seed) not in cache:
            cache[profile, seed] = simulate_night(STAGES, seed=seed, profile=profile)
        return cache[profile, seed]

    return get


def band_power(data: np.ndarray, sfreq: float, low: float, high: float) -> np.ndarray:
    """Mean Welch power per row in ``[low, high)`` Hz."""
    freqs, psd = welch(data, sfreq, nperseg=int(8 * sfreq))
    return psd[..., (freqs >= low) & (freqs < high)].mean(-1)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_profile_round_trips_through_edf_by_channel_name(profile, night, tmp_path):
    sim = night(profile)
    rec = sim.recording
    assert rec.channel_names == get_profile(profile).channels and sim.profile == profile
    assert rec.data.shape == (5, len(STAGES) * 30 * int(rec.sfreq)) and rec.data.dtype == np.float32
    path = sim.write_edf(tmp_path / "n.edf")[0]
    names = rec.channel_names
    back = read_recording(path, eeg=list(dict.fromkeys(names[:2])), eog=list(dict.fromkeys(names[2:4])), emg=names[4:])
    assert back.sfreq == rec.sfreq and back.channel_names == names
    assert np.array_equal(back.hypnogram, sim.stages)
    # EDF stores 16-bit integers over each channel's range (whole µV): 1e-4 of the range, but the µV-sized
    # range of the signals in volts leaves them a few % of their span
    tol = 0.05 if profile == "units-volts" else 1e-3
    np.testing.assert_allclose(back.data, rec.data, atol=tol * np.ptp(rec.data))
    assert make_epochs(back.data, back.sfreq).data.shape == (len(STAGES), 5, 3750)


@pytest.mark.parametrize(
    "profile", ["noisy-electrodes", "mains-60", "age-older", "scorer-n1-long", "lab-clinic-50hz", "montage-sleep-edf"]
)
def test_deterministic_per_seed(profile, night):
    a, b, c = night(profile), simulate_night(STAGES, seed=7, profile=profile), night(profile, seed=8)
    np.testing.assert_array_equal(a.recording.data, b.recording.data)
    np.testing.assert_array_equal(a.stages, b.stages)
    assert not np.allclose(a.recording.data, c.recording.data)


def test_names_only_profile_changes_only_the_channel_names(night):
    base, renamed = night("in-domain"), night("aasm-m-names")
    np.testing.assert_array_equal(renamed.recording.data, base.recording.data)
    assert renamed.recording.channel_names == ["EEG C3-M2", "EEG C4-M1", "EOG E1-M2", "EOG E2-M1", "EMG Chin1-Chin2"]


def test_scorer_habits_change_only_labels_at_the_end_of_n1(night):
    base = night("in-domain")
    for profile, true, scored in (("scorer-n1-long", 2, 1), ("scorer-n1-short", 1, 2)):
        sim = night(profile)
        np.testing.assert_array_equal(sim.recording.data, base.recording.data)
        assert np.array_equal(sim.simulated_as, base.simulated_as) and np.array_equal(
            sim.recording.hypnogram, sim.stages
        )
        changed = np.flatnonzero(sim.stages != STAGES)
        assert len(changed) >= 3, profile  # three N1 -> N2 transitions, each changing 1-3 epochs
        assert np.all(STAGES[changed] == true) and np.all(sim.stages[changed] == scored)
        for i in changed:  # every changed epoch lies in an N2 run after N1 (long) or an N1 run before N2 (short)
            j = i
            step = -1 if profile == "scorer-n1-long" else 1
            while STAGES[j] == true:
                j += step
            assert STAGES[j] == (1 if profile == "scorer-n1-long" else 2)


def test_units_volts_is_a_millionth_of_the_microvolt_signal(night):
    np.testing.assert_allclose(
        night("units-volts").recording.data, night("in-domain").recording.data * 1e-6, rtol=1e-6, atol=0
    )


def test_sampling_rate_profiles(night):
    for profile, sfreq in (("sfreq-50", 50), ("sfreq-512", 512), ("lab-sleep-edf", 100), ("lab-clinic-50hz", 50)):
        assert night(profile).recording.sfreq == sfreq
    with pytest.raises(StqsError, match="records at 50 Hz"):
        simulate_night(STAGES, profile="sfreq-50", sfreq=100)
    with pytest.raises(StqsError, match="cannot exist at 100 Hz"):
        simulate_night(STAGES, profile=Profile("lab", "60-Hz mains at 100 Hz", mains_hz=60, sfreq=100))
    for bad in (0, 49, 513, 125.5, True):
        with pytest.raises(StqsError, match="sfreq"):
            simulate_night(STAGES[:2], sfreq=bad)


@pytest.mark.parametrize("profile,hz", [("mains-50", 50), ("mains-60", 60)])
def test_mains_profiles_have_a_spectral_peak_at_the_mains_frequency(profile, hz, night):
    rec, base = night(profile).recording, night("in-domain").recording
    at, near = band_power(rec.data, rec.sfreq, hz - 0.2, hz + 0.2), band_power(rec.data, rec.sfreq, hz - 8, hz - 3)
    assert np.all(at > 100 * near)
    assert np.all(at > 100 * band_power(base.data, base.sfreq, hz - 0.2, hz + 0.2))


def test_montages_name_their_derivations_and_change_what_each_sees(night, tmp_path):
    base = night("in-domain").recording
    edf = night("montage-sleep-edf")
    rec = edf.recording
    assert rec.channel_names == ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EOG horizontal", "EMG submental"]
    np.testing.assert_array_equal(rec.data[2], rec.data[3])  # one bipolar E1-E2 channel feeds both EOG rows
    np.testing.assert_allclose(rec.data[2], base.data[2] - base.data[3], atol=1e-3)
    wake = np.repeat(STAGES == 0, 30 * int(base.sfreq))
    alpha_ratio = band_power(rec.data[:2, wake], rec.sfreq, 8, 12) / band_power(base.data[:2, wake], base.sfreq, 8, 12)
    assert alpha_ratio[1] > 2 * alpha_ratio[0]  # Pz-Oz sees more alpha than Fpz-Cz
    path = edf.write_edf(tmp_path / "se.edf")[0]
    assert read_recording(path).channel_names == rec.channel_names  # found by the sleep-edf preset
    cz = night("montage-cz-ref").recording
    assert cz.channel_names[:2] == ["EEG C3-Cz", "EEG C4-Cz"]
    assert np.all(np.std(cz.data[:2], axis=1) < 0.7 * np.std(base.data[:2], axis=1))  # short derivations
    np.testing.assert_array_equal(cz.data[2:], base.data[2:])  # EOG and EMG untouched


def test_age_lowers_slow_waves_and_spindles(night):
    base, old = night("in-domain"), night("age-older")
    n3 = np.repeat(np.asarray(base.simulated_as) == 3, 30 * int(base.recording.sfreq))
    slow = band_power(old.recording.data[:2, n3], 125, 0.5, 2) / band_power(base.recording.data[:2, n3], 125, 0.5, 2)
    assert np.all(slow < 0.5)  # amplitude 0.55x (and the older age's smaller EEG) -> power below 0.3x-0.5x
    assert old.traits.age >= 65 and old.traits.slow_wave_scale == pytest.approx(0.55)
    assert (old.events.type == "spindle").sum() < 0.75 * (base.events.type == "spindle").sum()


def test_filters_clipping_noise_and_chin_profiles(night):
    base = night("in-domain").recording
    lp = night("lowpass-15hz").recording
    assert np.all(band_power(lp.data[:4], 125, 30, 45) < 0.1 * band_power(base.data[:4], 125, 30, 45))  # 2nd order
    np.testing.assert_array_equal(lp.data[4], base.data[4])  # the chin keeps its band
    clinical = night("filters-clinical").recording
    assert np.all(band_power(clinical.data[:4], 125, 0.02, 0.2) < 0.2 * band_power(base.data[:4], 125, 0.02, 0.2))
    clipped = night("clipping-50uv").recording
    assert np.abs(clipped.data).max() <= 50 and np.mean(np.abs(base.data[:4]) > 50) > 0.001
    noisy = night("noisy-electrodes")
    assert (noisy.events.type == "pop").sum() > 5 * max((night("in-domain").events.type == "pop").sum(), 1)
    epochs = base.data[4].reshape(len(STAGES), -1)
    low = night("emg-low-tone").recording.data[4].reshape(len(STAGES), -1)

    def tone_contrast(rows):  # median chin amplitude in wake over that in REM
        tone = np.median(np.abs(rows), axis=1)
        return np.median(tone[STAGES == 0]) / np.median(tone[STAGES == 4])

    assert tone_contrast(epochs) > 3 and tone_contrast(low) < 0.5 * tone_contrast(epochs)


def test_cli_lists_profiles_and_simulates_one(tmp_path, capsys):
    assert main(["simulate", "--list-profiles"]) == 0
    listing = capsys.readouterr().out
    assert all(f"`{name}`" in listing and p.description in listing for name, p in PROFILES.items())
    out = tmp_path / "n.edf"
    assert main(["simulate", "--hours", "0.1", "--profile", "lab-sleep-edf", "--out", str(out)]) == 0
    assert "100 Hz, profile lab-sleep-edf" in capsys.readouterr().out
    rec = read_recording(out, preset="sleep-edf")
    assert rec.sfreq == 100 and rec.channel_names[0] == "EEG Fpz-Cz"
    assert main(["simulate", "--profile", "no-such-lab", "--out", str(out)]) == 2
    assert "in-domain" in capsys.readouterr().err  # the error lists the profiles
    assert main(["simulate", "--hours", "0.1"]) == 2  # no --out
    assert main(["simulate", "--hours", "0.05", "--sfreq", "333", "--out", str(tmp_path / "o.edf")]) == 0


def test_simulate_store_takes_a_profile(tmp_path):
    path = simulate_store(tmp_path / "lab.h5", 1, hypnograms=[STAGES], seed=2, profile="scorer-n1-long")
    with EpochStore(path) as store:
        epochs, labels = store.read("sim-2-0000")
    assert epochs.shape == (len(STAGES), 5, 3750) and np.sum(labels != STAGES) >= 3
