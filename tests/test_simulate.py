import numpy as np
import pandas as pd
import pytest

from stqs_core import make_epochs, read_hypnogram, read_recording
from stqs_core.cli import main
from stqs_core.hypnogram import trim_wake
from stqs_core.simulate import SFREQS, sample_hypnogram, simulate_night, simulate_store
from stqs_core.simulate.stage_model import load_stage_model
from stqs_core.store import EpochStore

from .conftest import CHECKPOINTS, HYPNOGRAMS, need

ALL_STAGES = np.repeat([0, 1, 2, 3, 2, 4, 0], 8)  # every stage, 3.5 min each


@pytest.fixture(scope="module")
def blocks():
    """A night of 20-epoch blocks of each stage (stages W, N1, N2, N3, REM, N2), no artefacts."""
    return simulate_night(np.repeat([0, 1, 2, 3, 4, 2], 20), seed=5, artefacts=False)


def test_same_seed_same_night_other_seed_other_night():
    a, b = simulate_night(ALL_STAGES, seed=1), simulate_night(ALL_STAGES, seed=1)
    np.testing.assert_array_equal(a.recording.data, b.recording.data)
    pd.testing.assert_frame_equal(a.events, b.events)
    c = simulate_night(ALL_STAGES, seed=2)
    assert not np.allclose(a.recording.data, c.recording.data)
    assert np.array_equal(sample_hypnogram(2, seed=4), sample_hypnogram(2, seed=4))
    assert not np.array_equal(sample_hypnogram(2, seed=4), sample_hypnogram(2, seed=5))


@pytest.mark.parametrize("sfreq", SFREQS)
def test_every_sfreq_round_trips_through_edf(sfreq, tmp_path):
    stages = np.array([0, 1, 2, 3, 4, -1, 2], dtype=np.int8)
    night = simulate_night(stages, seed=3, sfreq=sfreq, line_noise=50)
    assert night.recording.data.shape == (5, len(stages) * 30 * sfreq)
    assert night.recording.sfreq == sfreq and np.array_equal(night.recording.hypnogram, stages)
    night.write_edf(tmp_path / "n.edf")
    rec = read_recording(tmp_path / "n.edf", preset="aasm")
    assert rec.sfreq == sfreq and rec.channel_names == night.recording.channel_names
    assert np.array_equal(rec.hypnogram, stages)
    np.testing.assert_allclose(rec.data, night.recording.data, atol=0.05 * np.ptp(night.recording.data))
    assert make_epochs(rec.data, rec.sfreq).data.shape == (len(stages), 5, 3750)


def test_csv_hypnogram_beside_the_edf(tmp_path):
    night = simulate_night(ALL_STAGES, seed=0)
    edf, csv = night.write_edf(tmp_path / "n.edf", hypnogram="csv")
    assert csv.name == "n-hypnogram.csv"
    rec = read_recording(edf)  # channels found by trying presets; no stages inside the file
    assert rec.hypnogram is None
    assert np.array_equal(read_recording(edf, annotations=csv).hypnogram, ALL_STAGES)


def test_unscored_epochs_are_simulated_as_their_neighbour():
    night = simulate_night(np.array([-1, 2, 2, -1, -1, 3]), seed=0)
    assert night.stages.tolist() == [-1, 2, 2, -1, -1, 3]
    assert night.simulated_as.tolist() == [2, 2, 2, 2, 2, 3]
    assert set(night.events.stage) <= {2, 3}


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="sfreq"):
        simulate_night(ALL_STAGES, sfreq=40)
    with pytest.raises(ValueError, match="stage codes"):
        simulate_night(np.array([0, 7]))
    with pytest.raises(ValueError, match="line_noise"):
        simulate_night(ALL_STAGES, line_noise=55)


def test_events_lie_in_epochs_of_their_stage_with_aasm_properties(blocks):
    ev, data, sfreq = blocks.events, blocks.recording.data, blocks.recording.sfreq
    assert list(ev.columns[:8]) == ["type", "channel", "row", "onset_s", "duration_s", "amplitude_uv", "epoch", "stage"]
    assert np.array_equal(ev.epoch, (ev.onset_s // 30).astype(int))
    assert np.all(ev.onset_s + ev.duration_s <= (ev.epoch + 1) * 30 + 1e-9)
    assert np.array_equal(ev.stage, blocks.stages[ev.epoch])
    expected = {
        "alpha": {0, 1, 4},
        "spindle": {1, 2, 3},
        "k_complex": {1, 2, 3},
        "slow_wave": {2, 3},
        "sawtooth": {4},
        "rem": {4},
        "vertex_wave": {1, 2},
        "twitch": {2, 4},
    }
    for kind, stages in expected.items():
        assert len(ev[ev.type == kind]) > 0 and set(ev.stage[ev.type == kind]) <= stages, kind
    spindles = ev[ev.type == "spindle"]
    assert spindles.freq_hz.between(11, 16).all() and spindles.duration_s.between(0.5, 2.0).all()
    slow = ev[ev.type == "slow_wave"]
    assert (slow.amplitude_uv >= 75).all() and slow.freq_hz.between(0.5, 2.0).all()
    # N3 epochs: slow waves over at least 20% of the epoch
    cover = slow[slow.stage == 3].groupby("epoch").duration_s.sum()
    assert len(cover) == np.sum(blocks.stages == 3) and (cover >= 6).all()
    # on the recorded EEG the slow waves stay >= 75 µV peak to peak
    pp = [np.ptp(data[0, int(o * sfreq) : int((o + d) * sfreq)]) for o, d in zip(slow.onset_s, slow.duration_s)]
    assert np.mean(np.array(pp) >= 75) > 0.95
    # rapid eye movements are conjugate: opposite polarity on the left and right EOG
    rems = ev[ev.type == "rem"]
    prod = [
        np.sum(data[2, int(o * sfreq) : int((o + d) * sfreq)] * data[3, int(o * sfreq) : int((o + d) * sfreq)])
        for o, d in zip(rems.onset_s, rems.duration_s)
    ]
    assert np.mean(np.array(prod) < 0) > 0.9


def test_welch_spectra_per_stage_have_the_aasm_signature(blocks):
    from scipy.signal import welch

    rec = blocks.recording
    freqs, psd = welch(rec.data[1].reshape(len(blocks.stages), -1), rec.sfreq, nperseg=int(4 * rec.sfreq))
    total = psd[:, (freqs >= 0.5) & (freqs < 30)].sum(1)

    def rel(stage, lo, hi):
        sel = blocks.stages == stage
        return np.mean(psd[sel][:, (freqs >= lo) & (freqs < hi)].sum(1) / total[sel])

    delta, theta, alpha, sigma = [
        [rel(s, lo, hi) for s in range(5)] for lo, hi in ((0.5, 4), (4, 8), (8, 12), (12, 16))
    ]
    assert alpha[0] > 2 * alpha[3] and alpha[0] == max(alpha)
    assert sigma[2] > 2 * sigma[0]
    assert delta[3] == max(delta)
    assert theta[1] > theta[0]
    tone = np.median(np.abs(rec.data[4].reshape(len(blocks.stages), -1)), axis=1)  # robust to phasic twitches
    assert np.median(tone[blocks.stages == 0]) > 3 * np.median(tone[blocks.stages == 4])  # REM atonia


def test_stage_model_draws_plausible_nights():
    model = load_stage_model()
    assert model["n_nights"] >= 40 and len(model["transitions"]) == model["n_segments"]
    nights = [sample_hypnogram(8, seed=s) for s in range(20)]
    assert all(len(n) == 960 for n in nights) and np.mean([n[0] == 0 for n in nights]) > 0.8  # most start awake
    shares = np.bincount(np.concatenate(nights), minlength=5) / (960 * 20)
    low, high = np.array([0.02, 0.03, 0.35, 0.05, 0.1]), np.array([0.25, 0.2, 0.65, 0.3, 0.3])
    assert np.all((shares > low) & (shares < high)), shares
    thirds = np.stack(nights).reshape(20, 3, 320)
    assert np.mean(thirds[:, 0] == 3) > 2 * np.mean(thirds[:, 2] == 3)  # slow-wave sleep early
    assert np.mean(thirds[:, 2] == 4) > 1.5 * np.mean(thirds[:, 0] == 4)  # REM late


def test_simulate_store_appends_labelled_nights_and_resumes(tmp_path):
    path = simulate_store(tmp_path / "sim.h5", 2, hypnograms=[ALL_STAGES, ALL_STAGES[:20]], seed=1)
    with EpochStore(path) as store:
        assert store.recordings == ["sim-1-0000", "sim-1-0001"]
        epochs, labels = store.read("sim-1-0001")
        assert epochs.shape == (20, 5, 3750) and np.array_equal(labels, ALL_STAGES[:20])
        assert np.allclose(epochs.std(-1), 1, atol=1e-3)
    simulate_store(path, 3, hypnograms=[ALL_STAGES[:10]], seed=1)  # resumes: only night 2 is new
    with EpochStore(path) as store:
        assert len(store.recordings) == 3 and len(store.labels("sim-1-0000")) == len(ALL_STAGES)


def test_cli_simulate_writes_edf_hypnogram_and_events(tmp_path, capsys):
    out = tmp_path / "night.edf"
    assert (
        main(["simulate", "--hours", "0.25", "--seed", "2", "--sfreq", "100", "--line-noise", "60", "--out", str(out)])
        == 0
    )
    assert str(out) in capsys.readouterr().out
    rec = read_recording(out)
    assert rec.sfreq == 100 and len(rec.hypnogram) == 30
    events = pd.read_csv(tmp_path / "night.events.csv")
    assert len(events) > 0 and set(events.epoch) <= set(range(30))
    hyp = tmp_path / "h.txt"
    hyp.write_text("W\nN1\nN2\nN3\nR\n")
    assert (
        main(["simulate", "--hypnogram", str(hyp), "--out", str(tmp_path / "b.edf"), "--hypnogram-format", "csv"]) == 0
    )
    assert read_hypnogram(tmp_path / "b-hypnogram.csv").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(SystemExit):  # argparse rejects an unsupported rate
        main(["simulate", "--sfreq", "40", "--out", str(out)])


def test_shhs_network_stages_simulated_nights_as_simulated():
    """Realism: the published SHHS network (oversampling CNN) agrees with the simulated stages on nights
    driven by one-hour windows of ten real Sleep-EDF hypnograms: >= 85% overall, >= 60% per stage."""
    from stqs_core import load_model

    model = load_model(need(CHECKPOINTS / "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar"))
    paths = sorted(need(HYPNOGRAMS / "sleep-edf-20").glob("*-Hypnogram.edf"))[:10]
    true, pred = [], []
    for i, path in enumerate(paths):
        stages = trim_wake(read_hypnogram(path))
        start = [0, len(stages) // 4, len(stages) // 2, 3 * len(stages) // 4 - 120][i % 4]
        window = stages[max(start, 0) : max(start, 0) + 120]
        night = simulate_night(window, seed=100 + i)
        epochs = make_epochs(night.recording.data, night.recording.sfreq).data
        true.append(window)
        pred.append(model.predict_logits(epochs).argmax(1))
    true, pred = np.concatenate(true), np.concatenate(pred)
    keep = true >= 0
    true, pred = true[keep], pred[keep]
    per_stage = [np.mean(pred[true == s] == s) for s in range(5)]
    assert all(np.sum(true == s) >= 20 for s in range(5))
    assert np.mean(pred == true) >= 0.85 and min(per_stage) >= 0.6, (np.mean(pred == true), per_stage)


def test_remove_evidence_strips_n2_and_shrinks_n3_and_leaves_the_rest():
    """Spindles and K-complexes leave the chosen N2 epochs, N3's slow waves and delta shrink; the rest of the night
    is the same night, sample for sample."""
    from stqs_core.errors import StqsError
    from stqs_core.simulate.night import SHRINK

    stages = np.array([0, 2, 2, 2, 3, 3, 3, 2, 4, 1])
    base = simulate_night(stages, seed=7, artefacts=False)
    removed = np.array([1, 2, 4, 8])  # two N2, one N3, one REM (which has no rule evidence to remove: unchanged)
    night = simulate_night(stages, seed=7, artefacts=False, remove_evidence=removed)
    other = ~np.isin(np.arange(len(stages)), removed[:3])
    a, b = (n.recording.data.reshape(5, len(stages), -1) for n in (base, night))
    np.testing.assert_array_equal(a[:, other], b[:, other])
    assert not np.array_equal(a[:, 4], b[:, 4])
    kinds = ["spindle", "k_complex"]
    before, after = base.events, night.events
    assert before[before.epoch.isin([1, 2]) & before.type.isin(kinds)].shape[0] > 0
    assert after[after.epoch.isin([1, 2]) & after.type.isin(kinds)].empty
    pd.testing.assert_frame_equal(
        before[~before.epoch.isin([1, 2, 4])].reset_index(drop=True),
        after[~after.epoch.isin([1, 2, 4])].reset_index(drop=True),
    )
    waves = [e[(e.epoch == 4) & (e.type == "slow_wave")].amplitude_uv.to_numpy() for e in (before, after)]
    np.testing.assert_allclose(waves[1], SHRINK * waves[0], rtol=1e-6)
    assert waves[1].max() < 75  # below the N3 rule's amplitude
    with pytest.raises(StqsError, match="remove_evidence"):
        simulate_night(stages, seed=7, remove_evidence=[10])
