import pytest

from stqs_core.channels import ChannelError, fill_rows, map_channels

SLEEP_EDF = ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "Resp oro-nasal", "EMG submental", "Temp rectal"]
MASS = ["EEG C3-CLE", "EEG C4-CLE", "EOG Left Horiz", "EOG Right Horiz", "EMG Chin1", "ECG I"]


def test_presets_are_found_by_name_not_position():
    assert map_channels(list(reversed(SLEEP_EDF))) == {
        "eeg": ["EEG Fpz-Cz", "EEG Pz-Oz"], "eog": ["EOG horizontal"], "emg": ["EMG submental"]}
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
