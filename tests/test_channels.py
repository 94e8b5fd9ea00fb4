import numpy as np
import pytest

from stqs_core.channels import (
    ChannelError,
    check_bands,
    edf_lowpass,
    fill_rows,
    guess_type,
    map_channels,
    parse_derivation,
    referential,
    row_sources,
)

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


def test_roles_not_required_are_left_out_when_absent(caplog):
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        mapping = map_channels(["EEG C3-A1", "ECG"], required=("eeg",))
    assert mapping == {"eeg": ["EEG C3-A1", "EEG C3-A1"]}
    assert "no EOG channel found: scoring without EOG" in caplog.text and "scoring without EMG" in caplog.text
    assert map_channels(["C3-A2", "Chin"], required=("eeg",)) == {"eeg": ["C3-A2", "C3-A2"], "emg": ["Chin"]}
    with pytest.raises(ChannelError, match=r"EOG channel\(s\) \['LOC'\] not in the file"):
        map_channels(["C3-A2", "Chin"], eog=["LOC"], required=("eeg",))  # named channels must exist
    with pytest.raises(ChannelError, match="no EOG channel"):
        map_channels(["C3-A2", "Chin"])  # every role is required by default
    with pytest.raises(ChannelError, match="no EEG, EOG or EMG channel found. The file has: ECG"):
        map_channels(["ECG"], required=())


def test_rows_are_filled_for_the_roles_present_only():
    assert fill_rows({"eeg": ["C3-A1"]}) == ["C3-A1", "C3-A1"]
    assert fill_rows({"emg": ["Chin"], "eeg": ["C3-A2", "C4-A1"]}) == ["C3-A2", "C4-A1", "Chin"]
    assert fill_rows({"eeg": ["a", "b"], "eog": ["c"], "emg": ["e"]}) == ["a", "b", "c", "c", "e"]


@pytest.mark.parametrize(
    "eog, emg",
    [
        (["EOG"], ["EMG"]),
        (["EOG1", "EOG2"], ["EMG1"]),
        (["LEOG", "REOG"], ["Chin"]),
        (["EOG L", "EOG R"], ["EMG Chin"]),
    ],
)
def test_plain_eog_and_emg_names_are_recognised(eog, emg):
    for preset in (None, "aasm"):
        mapping = map_channels(["EEG C3-A2", "EEG C4-A1", *eog, *emg], preset=preset)
        assert mapping["eog"] == eog and mapping["emg"] == emg


def test_an_eeg_channel_is_never_taken_as_eog_or_emg():
    mapping = map_channels(["C3-A2", "F3", "Fp1-A2", "O1"], required=("eeg",))
    assert set(mapping) == {"eeg"}
    assert guess_type("Fp1") == "EEG" and guess_type("EOG1") == "EOG" and guess_type("Chin") == "EMG"


@pytest.mark.parametrize(
    "available, rows, said",
    [
        (
            ["C3", "C4", "A1", "A2", "E1", "E2", "Chin"],
            ["C3 − A2", "C4 − A1"],
            "C3 − A2 and C4-A1 derived as C4 − A1, as the",
        ),
        (["C4", "C3", "M2", "M1", "E1", "E2", "Chin"], ["C3 − M2", "C4 − M1"], "C4-M1 derived as C4 − M1"),
        (
            ["EEG C3-Ref", "EEG C4-Ref", "EEG A1-Ref", "EEG A2-Ref", "EOG", "EMG"],
            ["EEG C3-Ref − EEG A2-Ref", "EEG C4-Ref − EEG A1-Ref"],
            "C3-A2 derived as EEG C3-Ref − EEG A2-Ref",
        ),
        (["EEG C4-REF", "EEG A1-REF", "EOG", "EMG", "ECG"], ["EEG C4-REF − EEG A1-REF"] * 2, "C4-A1 derived as"),
        (["C3", "C4", "C4-A1", "A2", "E1", "E2", "Chin"], ["C3 − A2", "C4-A1"], "C3 − A2 and C4-A1,"),
    ],
)
def test_referential_central_sites_and_mastoids_are_derived_by_subtraction(available, rows, said, caplog):
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        assert map_channels(available)["eeg"] == rows
    assert said in caplog.text


def test_row_sources_split_a_derived_row():
    assert row_sources("C3 − A2") == ("C3", "A2") and row_sources("C3-A2") == ("C3-A2", None)
    assert referential(["EEG C3-Ref", "C4", "EEG M1", "C3-A2", "EOG", "Chin1"]) == {
        "C3": "EEG C3-Ref",
        "C4": "C4",
        "M1": "EEG M1",
        "EOG": "EOG",
        "CHIN1": "Chin1",
    }


def test_a_named_derivation_of_referential_channels_is_computed(caplog):
    nihon_kohden = ["EEG C3-Ref", "EEG C4-Ref", "EEG A1-Ref", "EEG A2-Ref", "EOG", "EMG"]
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        mapping = map_channels(nihon_kohden, eeg=["C3-A2", "C4-A1"], eog=["EOG"], emg=["EMG"])
    assert mapping["eeg"] == ["EEG C3-Ref − EEG A2-Ref", "EEG C4-Ref − EEG A1-Ref"]
    assert "C3-A2 derived as EEG C3-Ref − EEG A2-Ref" in caplog.text
    assert map_channels(["C3", "A2", "E1", "Chin"], eeg=["C3:A2"])["eeg"] == ["C3 − A2"]
    assert map_channels(["C3", "C4", "E1", "Chin"], eeg=["C3-C4"])["eeg"] == ["C3 − C4"]
    with pytest.raises(ChannelError, match="not in the file"):
        map_channels(["C3", "A1", "E1", "Chin"], eeg=["C3-A2"])


def test_referential_channels_without_mastoids_are_not_called_the_published_pair(caplog):
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        mapping = map_channels(["EEG C3-REF", "EEG C4-REF", "EOG1", "EOG2", "EMG1"])
    assert mapping["eeg"] == ["EEG C3-REF", "EEG C4-REF"]
    assert "against the amplifier reference" in caplog.text and "published models were trained on" not in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        map_channels(["C3", "A2", "E1", "Chin"])
    assert "C3-A2 derived as C3 − A2, the only central derivation, for both rows" in caplog.text


@pytest.mark.parametrize(
    "available, chosen",
    [
        (["Fp1-Fp2", "AF7", "ECG"], "Fp1-Fp2"),
        (["AF7", "AF8"], "AF7"),
        (["O1-A2", "F3-A2", "Fz-Cz"], "Fz-Cz"),
        (["O1-A2", "F3-A2"], "F3-A2"),
        (["O1", "O2", "A1", "A2"], "O1 − A2"),
    ],
)
def test_without_a_central_eeg_the_best_eeg_is_used(available, chosen, caplog):
    with caplog.at_level("INFO", logger="stqs_core.channels"):
        assert map_channels(available, required=("eeg",))["eeg"] == [chosen, chosen]
    assert "the best EEG in the file (no central derivation; preference central C3/C4 > central > frontal-central" in (
        caplog.text
    )
    assert fill_rows(map_channels(["EEG Pz-Oz", "EMG submental"], required=("eeg",)))[:2] == ["EEG Pz-Oz"] * 2


def test_a_file_without_eeg_is_refused_naming_what_it_has():
    with pytest.raises(ChannelError) as err:
        map_channels(["ECG", "EOG", "EMG", "SaO2", "A1"], required=("eeg",))
    message = str(err.value)
    assert message.startswith("no EEG channel found. The file has: ECG (other), EOG (EOG), EMG (EMG), SaO2 (other)")
    assert "A1 (mastoid)" in message and "--eeg" in message


def test_bands_are_checked_for_the_rows_present_and_derived_rows_take_the_lower_cutoff():
    assert check_bands(["C3-A1", "C3-A1"], 50.0, roles=["eeg", "eeg"]) == [
        "a 50 Hz recording holds nothing above 25 Hz: of the bands the models read, EEG 0.16-30 Hz loses 17%"
    ]
    derived = check_bands(["C3 − A2", "C3 − A2"], 200.0, {"C3": 70.0, "A2": 15.0}, roles=["eeg", "eeg"])
    assert len(derived) == 1 and "EEG C3 − A2: low-pass filtered at 15 Hz" in derived[0]
    with pytest.raises(ValueError, match="2 rows for 5 roles"):
        check_bands(["a", "b"], 100.0)


def test_lp_0_hz_in_the_header_means_no_low_pass(tmp_path):
    from edfio import Edf, EdfSignal

    prefiltering = {"a": "HP:0.3Hz LP:0Hz", "b": "LP:0.0Hz", "c": "HP: 0.1 Hz LP: 0 Hz", "d": "LP:35Hz", "e": ""}
    signals = [
        EdfSignal(np.zeros(100 * 60), 100, label=name, physical_range=(-200, 200), prefiltering=text)
        for name, text in prefiltering.items()
    ]
    Edf(signals).write(tmp_path / "lp.edf")
    assert edf_lowpass(tmp_path / "lp.edf") == {"d": 35.0}
