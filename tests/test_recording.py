import numpy as np
import pytest

from stqs_core.edf import write_edf
from stqs_core.errors import ChannelError, RecordingError
from stqs_core.recording import Recording, read_recording

from .conftest import HYPNOGRAMS, SHARED, SHHS_NAMES, need


def test_edf_round_trip_in_microvolts(tmp_path, random_night):
    data = random_night(2)
    write_edf(tmp_path / "r.edf", data, SHHS_NAMES, 125)
    rec = read_recording(tmp_path / "r.edf")
    assert rec.channel_names == SHHS_NAMES and rec.sfreq == 125 and rec.hypnogram is None
    np.testing.assert_allclose(rec.data, data, atol=0.02 * np.abs(data).max() / 1000)  # 16-bit quantisation


def test_embedded_and_separate_hypnograms(edf_file, tmp_path):
    assert read_recording(edf_file).hypnogram.tolist() == [0, 0, 1, 2, 2, 3, 4, -1]
    hyp = tmp_path / "h.csv"
    hyp.write_text("stage\nW\nW\nN1\n")
    assert read_recording(edf_file, annotations=hyp).hypnogram.tolist() == [0, 0, 1, -1, -1, -1, -1, -1]


def test_truncated_edf_is_an_error(edf_file):
    raw = edf_file.read_bytes()
    edf_file.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_recording(edf_file)


def test_corrupt_or_foreign_file_is_an_error(tmp_path):
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"0       this is not an EDF header" + b"x" * 300)
    with pytest.raises(ValueError, match="bad.edf"):
        read_recording(bad)
    with pytest.raises(RecordingError, match="does not exist"):
        read_recording(tmp_path / "absent.edf")


def test_non_integer_sampling_rate_is_an_error(tmp_path, random_night):
    from edfio import Edf, EdfSignal

    signals = [
        EdfSignal(row[: 201 * 60], 100.5, label=n, physical_range=(-500, 500))
        for row, n in zip(random_night(2), SHHS_NAMES)
    ]
    Edf(signals, data_record_duration=2).write(tmp_path / "odd.edf")
    with pytest.raises(ValueError, match="whole number"):
        read_recording(tmp_path / "odd.edf")


def test_resampled_recording_gives_the_same_epoch_count(tmp_path, random_night):
    write_edf(tmp_path / "r200.edf", random_night(3, sfreq=200), SHHS_NAMES, 200)
    from stqs_core import make_epochs

    rec = read_recording(tmp_path / "r200.edf")
    assert rec.sfreq == 200 and make_epochs(rec.data, rec.sfreq).data.shape == (6, 5, 3750) and rec.n_epochs == 6


def test_unusable_files_say_what_is_wrong(tmp_path, edf_file, random_night):
    zeros = tmp_path / "zeros.edf"
    zeros.write_bytes(b"\x00" * 4096)
    header = bytearray(edf_file.read_bytes())
    negative = tmp_path / "negative.edf"
    negative.write_bytes(bytes(header[:252]) + b"-5  " + bytes(header[256:]))
    huge = tmp_path / "huge.edf"
    huge.write_bytes(bytes(header[:236]) + b"99999999" + bytes(header[244:]))
    short = tmp_path / "short.edf"
    write_edf(short, random_night(10 / 60), SHHS_NAMES, 125, stages=np.array([0]))
    for path, message in (
        (zeros, "header is empty"),
        (negative, "corrupt .*-5 signals"),
        (huge, "truncated"),
        (short, "lasts 10.0 s, shorter than one 30-s epoch"),
        (tmp_path, "is a folder"),
        (tmp_path / "tiny.edf", "fewer than an EDF header"),
    ):
        if path.name == "tiny.edf":
            path.write_bytes(b"0   ")
        with pytest.raises(RecordingError, match=message):
            read_recording(path)


def test_a_recording_without_eog_and_emg_reads_its_eeg_rows_only(tmp_path, random_night):
    write_edf(tmp_path / "eeg.edf", random_night(2)[[0, 4]], ["EEG C3-A1", "ECG"], 125)
    rec = read_recording(tmp_path / "eeg.edf", required=("eeg",))
    assert rec.modalities == ("eeg",) and rec.roles == ["eeg", "eeg"] and rec.data.shape == (2, 125 * 120)
    assert rec.channel_names == ["EEG C3-A1", "EEG C3-A1"]
    np.testing.assert_array_equal(rec.data[0], rec.data[1])
    with pytest.raises(ChannelError, match="no EOG channel found"):
        read_recording(tmp_path / "eeg.edf")  # every modality is required by default
    full = Recording(np.zeros((5, 10)), 125.0, SHHS_NAMES)
    assert full.modalities == ("eeg", "eog", "emg") and full.roles == ["eeg", "eeg", "eog", "eog", "emg"]
    assert Recording(np.zeros((3, 10)), 125.0, ["a", "a", "c"], modalities=("eeg", "emg")).roles == [
        "eeg",
        "eeg",
        "emg",
    ]


def test_referential_channels_are_re_referenced_by_subtraction(tmp_path, random_night):
    names = ["C3", "C4", "A1", "A2", "E1", "E2", "Chin"]
    data = np.concatenate([random_night(2), random_night(2, seed=1)[:2]])
    write_edf(tmp_path / "ref.edf", data, names, 125)
    rec = read_recording(tmp_path / "ref.edf")
    assert rec.channel_names == ["C3 − A2", "C4 − A1", "E1", "E2", "Chin"]
    atol = 0.05 * np.abs(data).max() / 1000  # two 16-bit quantisations
    np.testing.assert_allclose(rec.data[0], data[0] - data[3], atol=atol)
    np.testing.assert_allclose(rec.data[1], data[1] - data[2], atol=atol)
    np.testing.assert_allclose(rec.data[4], data[6], atol=atol)
    named = read_recording(tmp_path / "ref.edf", eeg=["C4-A2"], required=("eeg",))
    np.testing.assert_allclose(named.data[0], data[1] - data[3], atol=atol)


def test_a_hypnogram_only_edf_is_not_a_recording(tmp_path):
    write_edf(tmp_path / "SC4001E0-Hypnogram.edf", stages=np.array([0, 0, 1, 2]))
    with pytest.raises(RecordingError, match="holds no signals.*pass it with --annotations"):
        read_recording(tmp_path / "SC4001E0-Hypnogram.edf")


def test_a_sleep_edf_hypnogram_given_as_the_recording_is_not_a_recording():
    hypnogram = need(HYPNOGRAMS / "sleep-edf-20" / "SC4002EC-Hypnogram.edf")
    with pytest.raises(RecordingError, match="holds no signals, only annotations"):
        read_recording(hypnogram)


def test_a_real_single_eeg_recording_reads_as_eeg_only():
    path = need(SHARED / "data" / "real" / "dreams" / "excerpt1.edf")
    rec = read_recording(path, required=("eeg",))
    assert rec.modalities == ("eeg",) and rec.channel_names == ["EEG C3-A1", "EEG C3-A1"]
    assert rec.data.shape == (2, 180000) and rec.sfreq == 100
