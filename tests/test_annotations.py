from pathlib import Path

import numpy as np
import pytest

from stqs_core.annotations import events_to_epochs, find_hypnogram, read_hypnogram, write_hypnogram

from .conftest import HYPNOGRAMS, need


def test_sleep_edf_rk_hypnogram():
    stages = read_hypnogram(need(HYPNOGRAMS / "sleep-edf-20" / "SC4001EC-Hypnogram.edf"))
    assert len(stages) == 2880 and set(np.unique(stages)) == {-1, 0, 1, 2, 3, 4}
    assert (stages == 3).sum() == 220  # R&K stages 3 and 4 together


def test_nsrr_xml(tmp_path):
    xml = tmp_path / "shhs1-200001-nsrr.xml"
    events = "".join(
        f"<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>{c}</EventConcept>"
        f"<Start>{s}</Start><Duration>{d}</Duration></ScoredEvent>"
        for c, s, d in [
            ("Wake|0", 0, 60),
            ("Stage 2 sleep|2", 60, 30),
            ("Stage 4 sleep|4", 90, 30),
            ("REM sleep|5", 120, 30),
        ]
    )
    xml.write_text(
        f"<PSGAnnotation><ScoredEvents><ScoredEvent><EventType/><EventConcept>Recording Start Time"
        f"</EventConcept><Start>0</Start><Duration>150</Duration></ScoredEvent>{events}</ScoredEvents>"
        "</PSGAnnotation>"
    )
    np.testing.assert_array_equal(read_hypnogram(xml, n_epochs=6), [0, 0, 2, 3, 4, -1])


def test_misaligned_and_overlong_annotations_are_errors(tmp_path):
    with pytest.raises(ValueError, match="not aligned"):
        events_to_epochs([(0, 30, "Sleep stage W"), (45, 30, "Sleep stage 2")])
    path = tmp_path / "h.txt"
    path.write_text("W\nN1\nN2\nN2\n")
    with pytest.raises(ValueError, match="holds only 3"):
        read_hypnogram(path, n_epochs=3)
    np.testing.assert_array_equal(read_hypnogram(path, n_epochs=6), [0, 1, 2, 2, -1, -1])


@pytest.mark.parametrize("suffix", [".txt", ".json", ".edf"])
def test_writers_round_trip(tmp_path, suffix):
    stages = np.array([0, 0, 1, 2, 2, 2, 3, -1, 4, 4])
    np.testing.assert_array_equal(read_hypnogram(write_hypnogram(tmp_path / f"h{suffix}", stages)), stages)


def test_hypnogram_files_pair_with_recordings_by_name(tmp_path):
    files = [tmp_path / n for n in ("SC4001EC-Hypnogram.edf", "SC4002EC-Hypnogram.edf", "shhs1-200001-nsrr.xml")]
    assert find_hypnogram(tmp_path / "SC4001E0-PSG.edf", files) == files[0]
    assert find_hypnogram(tmp_path / "shhs1-200001.edf", files) == files[2]
    assert find_hypnogram(tmp_path / "other.edf", files) is None


def test_pairing_by_name_never_takes_another_nights_hypnogram(tmp_path):
    from stqs_core.errors import HypnogramError

    def pair(recording, *names):
        return find_hypnogram(tmp_path / recording, [tmp_path / n for n in names])

    assert pair("shhs1-200001.edf", "shhs1-200002-hypnogram.csv", "shhs1-200011-nsrr.xml") is None
    assert pair("shhs1-200001.edf", "shhs1-200001-profusion.xml").name == "shhs1-200001-profusion.xml"
    assert pair("shhs1-200001.edf", "shhs1-200001-profusion.xml", "shhs1-200001-nsrr.xml").name.endswith("nsrr.xml")
    assert pair("SC4011E0-PSG.edf", "SC4012EC-Hypnogram.edf", "SC4011EH-Hypnogram.edf").name == "SC4011EH-Hypnogram.edf"
    assert pair("SC4001E0-PSG.edf", "SC4002EC-Hypnogram.edf", "SC4011EC-Hypnogram.edf") is None
    assert pair("ST7011J0-PSG.edf", "ST7011JP-Hypnogram.edf").name == "ST7011JP-Hypnogram.edf"
    assert pair("01-02-0001 PSG.edf", "01-02-0002 Base.edf", "01-02-0001 Base.edf").name == "01-02-0001 Base.edf"
    assert pair("01-02-0001 PSG.edf", "01-02-0002 Base.edf") is None
    assert pair("SN001.edf", "SN001_sleepscoring.edf", "SN002_sleepscoring.edf").name == "SN001_sleepscoring.edf"
    assert pair("night1.edf", "night2.csv", "night11.csv") is None
    with pytest.raises(HypnogramError, match="several hypnograms match.*--pairs"):
        pair("night1.edf", "night1.csv", "night1-hypnogram.csv")


def test_pairs_csv(tmp_path):
    from stqs_core.annotations import read_pairs
    from stqs_core.errors import HypnogramError

    path = tmp_path / "pairs.csv"
    path.write_text("recording,hypnogram\npsg/a.edf,scores/x.xml\nb.edf,/abs/y.csv\n")
    assert read_pairs(path) == {"a.edf": tmp_path / "scores" / "x.xml", "b.edf": Path("/abs/y.csv")}
    path.write_text("a.edf,x.xml\na.edf,y.xml\n")
    with pytest.raises(HypnogramError, match="listed twice"):
        read_pairs(path)
    path.write_text("a.edf\n")
    with pytest.raises(HypnogramError, match="two columns"):
        read_pairs(path)


def test_a_recordings_own_annotations_read_the_same_embedded_or_given_as_a_file(tmp_path, random_night):
    """mne.read_annotations scans every byte of the file for annotation patterns: signal samples that spell one
    broke it ('utf-8' codec can't decode byte 0xa8, as on a simulated 24-h night) or added a false stage."""
    from stqs_core.edf import write_edf
    from stqs_core.recording import read_recording

    from .conftest import SHHS_NAMES

    stages = np.array([0, 1, 2, 2, 3, 4, 2, 0])
    path = write_edf(tmp_path / "n.edf", random_night(4), SHHS_NAMES, 125, stages=stages)
    raw = bytearray(path.read_bytes())
    data_start = 256 * (len(SHHS_NAMES) + 2)  # 5 signals + the annotation signal
    for offset, fake in ((1000, b"+1\x14\xa8\x14\x00"), (3000, b"+60\x14Sleep stage W\x14\x00")):
        raw[data_start + offset : data_start + offset + len(fake)] = fake  # signal samples that look like a TAL
    path.write_bytes(bytes(raw))
    embedded = read_recording(path).hypnogram
    np.testing.assert_array_equal(embedded, stages)
    np.testing.assert_array_equal(read_recording(path, annotations=path).hypnogram, stages)
    np.testing.assert_array_equal(read_hypnogram(path), stages)


@pytest.mark.parametrize(
    "event, message",
    [
        ((float("nan"), 30, "Sleep stage 2"), "finite"),
        ((float("inf"), 30, "Sleep stage 2"), "finite"),
        ((60, float("nan"), "Sleep stage 2"), "finite"),
        ((60, -30, "Sleep stage 2"), "negative"),
        ((300, 30, "Sleep stage 2"), "scores epochs 10 .* holds only 8 epochs"),
        ((1.5e11, 30, "Sleep stage 2"), "holds only 8 epochs"),
    ],
)
def test_an_expert_label_is_never_dropped_silently(event, message):
    from stqs_core.errors import HypnogramError

    events = [(0, 60, "Sleep stage W"), event]
    with pytest.raises(HypnogramError, match=message):
        events_to_epochs(events, n_epochs=8)


def test_huge_onsets_are_refused_before_any_allocation(tmp_path):
    import tracemalloc

    from stqs_core.errors import HypnogramError

    xml = tmp_path / "h.xml"
    xml.write_text(
        "<a><ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept>"
        "<Start>1.5e11</Start><Duration>30</Duration></ScoredEvent></a>"
    )
    tracemalloc.start()
    with pytest.raises(HypnogramError, match="more than 30 days"):
        read_hypnogram(xml)
    with pytest.raises(HypnogramError, match="holds only 8"):
        read_hypnogram(xml, n_epochs=8)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000  # was 9.8 GB


def test_a_short_hypnogram_warns_naming_the_unscored_epochs(tmp_path, caplog):
    path = tmp_path / "h.csv"
    path.write_text("N2\n" * 60)
    with caplog.at_level("WARNING"):
        stages = read_hypnogram(path, n_epochs=120)
    assert (stages[:60] == 2).all() and (stages[60:] == -1).all()
    assert "covers 60 of the recording's 120 epochs; epochs 60-119 (0:30:00-1:00:00) are left unscored" in caplog.text


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("h.json", "5", "must be a list"),
        ("h.json", "[0, 1", "not valid JSON"),
        ("h.json", '[0, "X"]', "epoch 1"),
        (
            "h.xml",
            "<a><ScoredEvent><EventType>Stages</EventType><EventConcept>Wake|0</EventConcept><Start>inf</Start>"
            "<Duration>30</Duration></ScoredEvent></a>",
            "finite",
        ),
        (
            "h.xml",
            "<a><ScoredEvent><EventType>Stages</EventType><EventConcept>Wake|0</EventConcept>"
            "<Duration>30</Duration></ScoredEvent></a>",
            r"<Start>None</Start>, not a number",
        ),
        ("h.xml", "<a><b>", "not valid XML"),
        ("h.csv", "a,stage\nx,W\ny\n", "row 3 has no column 2"),
        ("h.csv", b"\xff\xfe\x00W", "not a text file"),
        ("h.edf", b"\x00" * 300, "cannot read EDF\\+ annotations"),
        ("h.doc", "W", "unsupported hypnogram format"),
    ],
)
def test_malformed_hypnograms_are_hypnogram_errors(tmp_path, name, text, message):
    from stqs_core.errors import HypnogramError

    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(HypnogramError, match=message):
        read_hypnogram(path, n_epochs=8)
    with pytest.raises(HypnogramError, match="is a folder"):
        read_hypnogram(tmp_path)


def test_bdf_plus_annotations_are_read_without_a_warning(tmp_path, caplog):
    from edfio import Bdf, BdfSignal, EdfAnnotation

    from stqs_core.annotations import read_edf_annotations
    from stqs_core.recording import read_recording

    rng = np.random.default_rng(0)
    names = ["EEG C3-A2", "EEG C4-A1", "EOG E1-M2", "EOG E2-M1", "EMG chin"]
    signals = [BdfSignal(rng.standard_normal(100 * 120) * 20, 100, label=n, physical_range=(-500, 500)) for n in names]
    stages = [EdfAnnotation(0, 30, "Sleep stage W"), EdfAnnotation(30, 30, "Sleep stage 2"), EdfAnnotation(60, 60, "R")]
    Bdf(signals, annotations=stages).write(tmp_path / "night.bdf")
    assert read_edf_annotations(tmp_path / "night.bdf") == [
        (0, 30, "Sleep stage W"),
        (30, 30, "Sleep stage 2"),
        (60, 60, "R"),
    ]
    with caplog.at_level("WARNING"):
        assert read_recording(tmp_path / "night.bdf").hypnogram.tolist() == [0, 2, 4, 4]
    assert not caplog.records
