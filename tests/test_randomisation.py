"""Training-night randomisation: per-night lab profiles of varied strength and channel drops/substitutions,
deterministic by seed, doing what they say."""

import dataclasses

import numpy as np
import pytest

from stqs_core.errors import StqsError
from stqs_core.simulate import PROFILES, SUBSTITUTIONS, Randomisation, get_profile, simulate_store
from stqs_core.simulate.dataset import TRAINING_PROFILES, night_seed, substitute_channels
from stqs_core.store import EpochStore

STAGES = np.repeat([0, 1, 2, 3, 2, 4, 0], 2).astype(np.int8)  # 7 min: a cheap night


def test_draws_are_deterministic_by_seed_and_follow_the_shares():
    r = Randomisation()
    draws = [r.draw(night_seed(11, i)) for i in range(400)]
    assert draws == [r.draw(night_seed(11, i)) for i in range(400)]
    assert draws != [r.draw(night_seed(12, i)) for i in range(400)]
    kept = [d for d in draws if d.profile.name == "in-domain"]
    # binomial(400, 0.25): sd 0.022, so 0.15-0.35 is +-4.6 sd
    assert 0.15 < len(kept) / 400 < 0.35 and all(d.strength == 1.0 for d in kept)
    shifted = [d for d in draws if d.profile.name != "in-domain"]
    assert {d.profile.name.split("*")[0] for d in shifted} == set(TRAINING_PROFILES)
    assert all(0.5 <= d.strength <= 1.5 and d.profile.name.endswith(f"*{d.strength:.2f}") for d in shifted)
    assert 0.15 < sum(d.substitution is not None for d in draws) / 400 < 0.35
    assert {d.substitution for d in draws} == {None, *SUBSTITUTIONS}


def test_training_profiles_leave_out_labels_only_and_combined_labs():
    assert "in-domain" not in TRAINING_PROFILES and "aasm-m-names" not in TRAINING_PROFILES
    assert not any(PROFILES[p].scorer or p.startswith("lab-") for p in TRAINING_PROFILES)
    assert {"montage-sleep-edf", "lowpass-15hz", "age-older", "noisy-electrodes"} <= set(TRAINING_PROFILES)


def test_scaled_profile_scales_each_effect_the_way_its_docstring_says():
    noisy, low, old, clip = (get_profile(n) for n in ("noisy-electrodes", "lowpass-15hz", "age-older", "clipping-50uv"))
    same = noisy.scaled(1.0)
    assert dataclasses.replace(same, name=noisy.name) == noisy and same.name == "noisy-electrodes*1.00"
    half = noisy.scaled(0.5)
    assert half.electrode_noise_uv == pytest.approx(3.0) and half.pop_rate == pytest.approx(30**0.5)
    assert low.scaled(1.5).lowpass_hz == pytest.approx(10.0) and low.scaled(0.5).lowpass_hz == pytest.approx(30.0)
    assert get_profile("filters-clinical").scaled(0.5).lowpass_hz == pytest.approx(50.0)  # capped at 0.4 x 125 Hz
    assert clip.scaled(2.0).clip_uv == pytest.approx(25.0)
    assert old.scaled(2.0).slow_wave_scale == pytest.approx(0.55**2) and old.scaled(2.0).age == old.age
    with pytest.raises(StqsError, match="strength"):
        noisy.scaled(0.0)


def test_substitutions_copy_or_flatten_one_row_and_name_it():
    data = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)
    names = ["EEG C3-A2", "EEG C4-A1", "EOG E1-M2", "EOG E2-M1", "EMG chin"]
    out, ch = substitute_channels(data.copy(), names, "eeg-first-both")
    assert np.array_equal(out[1], data[0]) and np.array_equal(out[[0, 2, 3, 4]], data[[0, 2, 3, 4]])
    assert ch == ["EEG C3-A2", "EEG C3-A2", *names[2:]]
    out, ch = substitute_channels(data.copy(), names, "eog-right-flat")
    assert not out[3].any() and np.array_equal(out[:3], data[:3]) and ch == names
    out, ch = substitute_channels(data.copy(), names, None)
    assert np.array_equal(out, data) and ch == names
    with pytest.raises(StqsError, match="substitution"):
        substitute_channels(data, names, "eeg-swap")
    with pytest.raises(StqsError, match="substitution"):
        Randomisation(substitutions=("eeg-swap",))
    with pytest.raises(StqsError, match="unknown profile"):
        Randomisation(profiles=("nowhere",))


def test_store_nights_follow_their_draws(tmp_path):
    cz = Randomisation(profiles=("montage-cz-ref",), in_domain=0.0, substitute=1.0, substitutions=("eeg-first-both",))
    flat = Randomisation(in_domain=1.0, substitute=1.0, substitutions=("emg-flat",))
    kw = {"seed": 3, "hypnograms": [STAGES]}
    a = simulate_store(tmp_path / "a.h5", 2, randomise=cz, **kw)
    again = simulate_store(tmp_path / "again.h5", 2, randomise=cz, **kw)
    b = simulate_store(tmp_path / "b.h5", 2, randomise=flat, **kw)
    plain = simulate_store(tmp_path / "plain.h5", 2, **kw)
    with EpochStore(a) as sa, EpochStore(again) as sg, EpochStore(b) as sb, EpochStore(plain) as sp:
        for rid in sp.recordings:
            (ea, la), (eg, _), (eb, lb), (ep, lp) = sa.read(rid), sg.read(rid), sb.read(rid), sp.read(rid)
            assert np.array_equal(ea, eg)  # deterministic
            assert np.array_equal(ea[:, 0], ea[:, 1]) and not np.allclose(ea[:, 0], ep[:, 0], atol=0.1)
            row = list(sa.file["recordings/channels"][sa.recordings.index(rid)])
            assert [c.decode() if isinstance(c, bytes) else c for c in row[:2]] == ["EEG C3-Cz", "EEG C3-Cz"]
            assert not eb[:, 4].any() and np.array_equal(eb[:, :4], ep[:, :4])  # in-domain, EMG dropped
            assert np.array_equal(la, lp) and np.array_equal(lb, lp)  # the labels stay the true stages
    with pytest.raises(StqsError, match="randomise"):
        simulate_store(tmp_path / "c.h5", 1, sfreq=100, randomise=flat, **kw)
