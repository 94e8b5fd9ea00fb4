import numpy as np
import pytest

from stqs_core.channels import ChannelError, check_bands, fill_rows, map_channels, parse_derivation

SLEEP_EDF = ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "Resp oro-nasal", "EMG submental", "Temp rectal"]
MASS = ["EEG C3-CLE", "EEG C4-CLE", "EOG Left Horiz", "EOG Right Horiz", "EMG Chin1", "ECG I"]


def test_presets_are_found_by_name_not_position():
    assert map_channels(list(reversed(SLEEP_EDF))) == {
        "eeg": ["EEG Fpz-Cz", "EEG Pz-Oz"],
        "eog": ["EOG horizontal"],
        "emg": ["EMG submental"],
    }
    assert map_channels(MASS)["eog"] == ["EOG Left Horiz", "EOG Right Horiz"]
    assert map_channels(["EMG", "EOG(R)", "EEG", "EOG(L)", "EEG(sec)"], preset="shhs")["eeg"] == ["EEG(sec)", "EEG"]


def test_explicit_names_win_and_match_loosely():
    mapping = map_channels(["C3:M2", "C4:M1", "E1", "E2", "chin"], eeg=["c3-m2", "C4-M1"], emg=["CHIN"])
    assert mapping == {"eeg": ["C3:M2", "C4:M1"], "eog": ["E1", "E2"], "emg": ["chin"]}


def test_missing_channel_error_lists_the_file_and_fitting_presets():
    with pytest.raises(ChannelError) as err:
        map_channels(SLEEP_EDF, eeg=["C3-A2"])
    assert "EEG Fpz-Cz" in str(err.value) and "sleep-edf" in str(err.value) and "--eeg" in str(err.value)
    with pytest.raises(ChannelError, match="no EMG channel"):
        map_channels(["EEG(sec)", "EEG", "EOG(L)", "EOG(R)"])


def test_single_channel_modality_is_repeated_with_a_warning(caplog):
    rows = fill_rows(map_channels(SLEEP_EDF))
    assert rows == ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EOG horizontal", "EMG submental"]
    assert "repeating EOG horizontal" in caplog.text
    with pytest.raises(ChannelError, match="takes 1"):
        fill_rows({"eeg": ["a", "b"], "eog": ["c", "d"], "emg": ["e", "f"]})


CLINICAL = ["C3-A1", "FP1-A1", "O1-A1", "LOC-A2", "ROC-A1", "Chin", "ECG", "SaO2"]  # issue 14's 50 Hz PSG


@pytest.mark.parametrize(
    "name, parsed",
    [
        ("C3-A1", ("C3", "A1")),
        ("EEG C3-A2", ("C3", "A2")),
        ("C3:M2", ("C3", "M2")),
        ("c3a2", ("C3", "A2")),
        ("EEG C4-CLE", ("C4", "CLE")),
        ("Cz", ("CZ", None)),
        ("FP1-A1", ("FP1", "A1")),
        ("EEG Fpz-Cz", ("FPZ", "CZ")),
        ("EEG(sec)", None),
        ("EEG", None),
        ("E1-M2", None),
        ("LOC-A2", None),
        ("Chin1-Chin2", None),
        ("ECG", None),
    ],
)
def test_eeg_derivations_are_parsed_from_clinical_names(name, parsed):
    assert parse_derivation(name) == parsed


def test_one_central_eeg_feeds_both_rows_not_a_frontal_or_occipital_one(caplog):
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        mapping = map_channels(CLINICAL)
    assert mapping == {"eeg": ["C3-A1", "C3-A1"], "eog": ["LOC-A2", "ROC-A1"], "emg": ["Chin"]}
    assert "FP1-A1, O1-A1" in caplog.text and "kappa 0.19" in caplog.text  # says what it chose and why
    assert fill_rows(mapping)[:2] == ["C3-A1", "C3-A1"] and "repeating" not in caplog.text
    for order in (CLINICAL[::-1], ["EEG O1-M2", "EEG F3-M2", "EEG C4:M1", "E1", "E2", "EMG chin"]):
        eeg = map_channels(order)["eeg"]
        assert eeg[0] == eeg[1] and parse_derivation(eeg[0])[0] in ("C3", "C4")


def test_central_pairs_prefer_mastoid_or_ear_references_contralateral_first():
    hmc = ["EEG F4-M1", "EEG C4-M1", "EEG O2-M1", "EEG C3-M2", "EOG E1-M2", "EOG E2-M1", "EMG chin"]
    assert map_channels(hmc)["eeg"] == ["EEG C3-M2", "EEG C4-M1"]
    both = ["C3-A1", "C4-A2", "C4-A1", "C3-A2", "C3-Cz", "E1", "E2", "Chin"]
    assert map_channels(both)["eeg"] == ["C3-A2", "C4-A1"]
    assert map_channels(["C3-Cz", "C3-M2", "C4-Cz", "E1", "E2", "Chin"])["eeg"] == ["C3-M2", "C4-Cz"]
    assert map_channels(["Fz-Cz", "Cz-M1", "Oz-Cz", "E1", "E2", "Chin"])["eeg"] == ["Cz-M1", "Cz-M1"]
    assert map_channels(MASS)["eeg"] == ["EEG C3-CLE", "EEG C4-CLE"]
    assert map_channels(CLINICAL, preset="aasm")["eeg"] == ["C3-A1", "C3-A1"]


def test_without_a_central_derivation_the_presets_decide():
    assert map_channels(SLEEP_EDF)["eeg"] == ["EEG Fpz-Cz", "EEG Pz-Oz"]
    assert map_channels(["EEG(sec)", "EEG", "EOG(L)", "EOG(R)", "EMG"])["eeg"] == ["EEG(sec)", "EEG"]
    assert map_channels(CLINICAL, eeg=["FP1-A1", "C3-A1"])["eeg"] == ["FP1-A1", "C3-A1"]  # explicit names win


def test_bands_missing_from_the_file_are_named():
    rows = ["C3-A1", "C3-A1", "LOC-A2", "ROC-A1", "Chin"]
    assert check_bands(rows, 125.0, {"C3-A1": 35.0, "Chin": 100.0}) == []
    fifty = check_bands(rows, 50.0)
    assert len(fifty) == 1 and "nothing above 25 Hz" in fifty[0] and "EMG 10-30 Hz loses 25%" in fifty[0]
    filtered = check_bands(rows, 200.0, {"Chin": 15.0, "LOC-A2": 35.0, "C3-A1": 0.1})
    assert filtered == [f for f in filtered if "Chin" in f or "C3-A1" in f] and len(filtered) == 2
    assert "missing above 15 Hz" in filtered[1] and "empty" in filtered[0]


def test_a_50_hz_clinical_edf_says_what_it_chose_and_what_is_missing(tmp_path, caplog):
    from edfio import Edf, EdfSignal

    from stqs_core.recording import read_recording

    rng = np.random.default_rng(0)
    signals = [
        EdfSignal(
            rng.standard_normal(50 * 90) * 20,
            50,
            label=name,
            physical_dimension="uV",
            physical_range=(-200, 200),
            prefiltering="HP:10Hz LP:15Hz" if name == "Chin" else "",
        )
        for name in CLINICAL
    ]
    Edf(signals).write(tmp_path / "clinical.edf")
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        recording = read_recording(tmp_path / "clinical.edf")
    assert recording.channel_names == ["C3-A1", "C3-A1", "LOC-A2", "ROC-A1", "Chin"]
    np.testing.assert_array_equal(recording.data[0], recording.data[1])
    assert "EEG rows = C3-A1, C3-A1" in caplog.text and "nothing above 25 Hz" in caplog.text
    assert "EMG Chin: low-pass filtered at 15 Hz" in caplog.text
