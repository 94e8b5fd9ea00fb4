"""Property-based tests (hypothesis) of every reader of user files: EDF headers, EDF+ annotations (TAL), NSRR XML,
CSV/JSON hypnograms, checkpoints and HDF5 epoch-store indexes and labels. Whatever the bytes, a reader returns or
raises the project's error family (never another exception), stays within a memory bound (tracemalloc: Python and
NumPy allocations; a checkpoint is checked against a meta-device network before torch allocates anything), and a
command that fails leaves no partial output. Fixed, derandomized budget (the same 852 cases on every run, ~25 s);
`pytest -s` prints the counts and the peak memory seen."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import tracemalloc
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stqs_core.errors import StqsError

from .conftest import SHHS_NAMES

BUDGET = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MEMORY_LIMIT = 64 * 2**20
"""Bytes a reader may allocate on inputs of at most a few hundred kB (the bombs fixed here took 6-10 GB)."""

STATS: dict[str, list[int]] = {}
"""Per reader: [cases, cases that raised StqsError, peak bytes]."""

_WORK = Path(tempfile.mkdtemp(prefix="stqs-fuzz-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)


def _check(kind: str, call) -> object:
    """Run ``call()``: it returns, or raises StqsError; record its peak traced memory and assert the bound."""
    stats = STATS.setdefault(kind, [0, 0, 0])
    tracemalloc.start()
    try:
        result = call()
    except StqsError:
        result = None
        stats[1] += 1
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    stats[0] += 1
    stats[2] = max(stats[2], peak)
    assert peak < MEMORY_LIMIT, f"{kind}: {peak / 2**20:.0f} MB"
    return result


NUMBERS = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "1",
            "30",
            "nan",
            "inf",
            "-inf",
            "1e308",
            "1.5e11",
            "99999999",
            "-99999",
            "",
            " ",
            "abc",
            "1e-300",
            "0x10",
            "3.",
            ".5",
        ]
    ),
    st.integers(-(10**9), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: f"{f:.8g}"),
)


def _field(text: str, width: int) -> bytes:
    return text.encode("latin-1", "replace")[:width].ljust(width)


@lru_cache
def _base_edf() -> bytes:
    from stqs_core.edf import write_edf

    data = np.random.default_rng(0).standard_normal((5, 125 * 120)) * 30
    return write_edf(_WORK / "base.edf", data, SHHS_NAMES, 125, stages=np.array([0, 1, 2, 3])).read_bytes()


_HEADER = {
    "version": (0, 8),
    "header_bytes": (184, 8),
    "reserved": (192, 44),
    "n_records": (236, 8),
    "duration": (244, 8),
    "n_signals": (252, 4),
}
_SIGNAL = {
    "label": (0, 16),
    "physical_min": (104, 8),
    "physical_max": (112, 8),
    "digital_min": (120, 8),
    "digital_max": (128, 8),
    "samples_per_record": (216, 8),
}


@BUDGET
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(sorted(_HEADER) + sorted(_SIGNAL)), st.integers(0, 5), NUMBERS),
        min_size=1,
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(0, 160_000)),
)
def test_edf_headers_read_or_raise_a_recording_error(changes, cut):
    from stqs_core.preprocess import make_epochs
    from stqs_core.recording import read_recording

    raw = bytearray(_base_edf())
    n_signals = 6
    for name, signal, value in changes:
        if name in _HEADER:
            start, width = _HEADER[name]
        else:
            offset, width = _SIGNAL[name]
            start = 256 + offset * n_signals + width * signal
        raw[start : start + width] = _field(value, width)
    path = _WORK / "fuzz.edf"
    path.write_bytes(bytes(raw[:cut]))

    def read_and_preprocess():
        recording = read_recording(path)
        return make_epochs(recording.data, recording.sfreq, recording.channel_names)

    _check("EDF header", read_and_preprocess)


def _tal(onset: str, duration: str | None, text: str) -> bytes:
    sign = "" if onset[:1] in "+-" else "+"
    body = f"{sign}{onset}" + (f"\x15{duration}" if duration is not None else "") + f"\x14{text}\x14\x00"
    return body.encode("utf-8", "replace")


@lru_cache
def _base_annotations() -> bytes:
    from stqs_core.annotations import write_hypnogram

    return write_hypnogram(_WORK / "base-hypnogram.edf", np.array([0, 0, 1, 2, 2, 3, 4, 4])).read_bytes()


STAGE_TEXTS = st.one_of(
    st.sampled_from(
        ["Sleep stage W", "Sleep stage 2", "Sleep stage R", "Sleep stage ?", "Lights off", "Sleep stage 9"]
    ),
    st.text(max_size=20),
)


@BUDGET
@given(
    events=st.lists(st.tuples(NUMBERS, st.one_of(st.none(), NUMBERS), STAGE_TEXTS), max_size=6),
    garbage=st.one_of(st.none(), st.binary(max_size=200)),
    n_epochs=st.one_of(st.none(), st.integers(1, 20)),
)
def test_edf_annotations_read_or_raise_a_hypnogram_error(events, garbage, n_epochs):
    from stqs_core.annotations import read_hypnogram

    raw = bytearray(_base_annotations())
    header = 256 * (int(raw[252:256]) + 1)
    record = int(raw[256 + 216 : 256 + 224]) * 2
    tal = b"+0\x14\x14\x00" + b"".join(_tal(*e) for e in events) if garbage is None else garbage
    raw[header : header + record] = tal[:record].ljust(record, b"\x00")
    path = _WORK / "fuzz-hypnogram.edf"
    path.write_bytes(bytes(raw))
    stages = _check("EDF+ annotations", lambda: read_hypnogram(path, n_epochs))
    assert stages is None or n_epochs is None or len(stages) == n_epochs


@BUDGET
@given(
    events=st.lists(
        st.tuples(
            st.one_of(st.none(), NUMBERS),
            st.one_of(st.none(), NUMBERS),
            st.one_of(st.none(), st.sampled_from(["Wake|0", "Stage 2 sleep|2", "REM sleep|5", "Bogus|7", "", "Wake"])),
        ),
        max_size=6,
    ),
    n_epochs=st.one_of(st.none(), st.integers(1, 20)),
)
def test_nsrr_xml_reads_or_raises_a_hypnogram_error(events, n_epochs):
    from xml.sax.saxutils import escape

    from stqs_core.annotations import read_hypnogram

    def tag(name, value):
        return "" if value is None else f"<{name}>{escape(value)}</{name}>"

    xml = "".join(
        f"<ScoredEvent><EventType>Stages|Stages</EventType>{tag('EventConcept', concept)}"
        f"{tag('Start', start)}{tag('Duration', duration)}</ScoredEvent>"
        for start, duration, concept in events
    )
    path = _WORK / "fuzz.xml"
    path.write_text(f"<PSGAnnotation><ScoredEvents>{xml}</ScoredEvents></PSGAnnotation>")
    _check("NSRR XML", lambda: read_hypnogram(path, n_epochs))


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10**20), st.floats(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)


@BUDGET
@given(value=JSON, n_epochs=st.one_of(st.none(), st.integers(1, 20)))
def test_json_hypnograms_read_or_raise_a_hypnogram_error(value, n_epochs):
    from stqs_core.annotations import read_hypnogram

    path = _WORK / "fuzz.json"
    path.write_text(json.dumps(value))
    _check("JSON hypnogram", lambda: read_hypnogram(path, n_epochs))


@BUDGET
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(
                ["W", "N1", "N2", "N3", "REM", "?", "stage", "a,stage", "x,N2", "Sleep stage 4", "9", "#", ""]
            ),
            st.text(max_size=12),
        ),
        max_size=30,
    ),
    raw=st.one_of(st.none(), st.binary(max_size=100)),
    n_epochs=st.one_of(st.none(), st.integers(1, 20)),
)
def test_csv_hypnograms_read_or_raise_a_hypnogram_error(lines, raw, n_epochs):
    from stqs_core.annotations import read_hypnogram

    path = _WORK / "fuzz.csv"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") if raw is None else raw)
    _check("CSV hypnogram", lambda: read_hypnogram(path, n_epochs))


@lru_cache
def _base_checkpoint() -> dict:
    from stqs_core import STQS, STQSConfig
    from stqs_core.checkpoint import FORMAT, default_info

    torch.manual_seed(0)
    model = STQS(STQSConfig(variant="cnn"))
    return {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "info": default_info(),
    }


CONFIG_VALUES = st.one_of(
    st.integers(-10, 10**12),
    st.floats(),
    st.text(max_size=6),
    st.none(),
    st.booleans(),
    st.sampled_from(["cnn", "cnnlstm", "gru"]),
)


@BUDGET
@given(
    config=st.dictionaries(
        st.sampled_from(
            [
                "variant",
                "n_samples",
                "n_filters",
                "kernel_size",
                "pool_size",
                "dropout",
                "lstm_hidden",
                "window",
                "n_classes",
                "n_channels",
                "colour",
            ]
        ),
        CONFIG_VALUES,
        max_size=3,
    ),
    drop=st.lists(st.sampled_from(["format", "config", "state_dict", "info", "blocks.eeg.spatial.weight"]), max_size=2),
    reshape=st.one_of(st.none(), st.tuples(st.integers(0, 30), st.lists(st.integers(0, 9), max_size=3))),
    raw=st.one_of(st.none(), st.binary(max_size=64)),
)
def test_checkpoints_load_or_raise_a_model_error(config, drop, reshape, raw):
    from stqs_core.checkpoint import load_model

    payload = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _base_checkpoint().items()}
    payload["config"].update(config)
    for key in drop:
        payload.pop(key, None)
        payload.get("state_dict", {}).pop(key, None)
    if reshape is not None and "state_dict" in payload:
        key = sorted(payload["state_dict"])[reshape[0] % len(payload["state_dict"])]
        payload["state_dict"][key] = torch.zeros(reshape[1])
    path = _WORK / "fuzz.pt"
    if raw is None:
        torch.save(payload, path)
    else:
        path.write_bytes(raw)
    _check("checkpoint", lambda: load_model(path))


@lru_cache
def _base_store() -> bytes:
    from stqs_core.store import EpochStore

    path = _WORK / "base-store.h5"
    with EpochStore(path, "w") as store:
        for i, name in enumerate(["a", "b", "c"]):
            store.append(name, np.random.default_rng(i).standard_normal((2, 5, 3750)).astype(np.float32), [i, -1])
    return path.read_bytes()


INDEX_INTEGERS = st.one_of(
    st.integers(-3, 8), st.sampled_from([10**7, -(2**31), 2**31, 2**62, -(2**63)]), st.integers(-(2**63), 2**63 - 1)
)
INTEGER_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint64"]


@BUDGET
@given(
    index=st.dictionaries(
        st.sampled_from(["offset", "length", "crc32"]),
        st.tuples(st.lists(INDEX_INTEGERS, max_size=4), st.sampled_from([*INTEGER_DTYPES, "float64"])),
        max_size=2,
    ),
    ids=st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c", "", "é", "a:b"]), max_size=4)),
    labels=st.one_of(
        st.none(),
        st.tuples(st.lists(st.integers(-300, 300), max_size=8), st.sampled_from(INTEGER_DTYPES)),
        st.tuples(st.lists(st.floats(-10, 300) | st.just(float("nan")), max_size=8), st.sampled_from(["float32"])),
    ),
    declared=st.one_of(st.none(), st.integers(0, 2_000_000)),
    drop=st.lists(
        st.sampled_from(["recordings", "recordings/id", "recordings/offset", "recordings/length", "labels", "epochs"]),
        max_size=1,
    ),
)
def test_store_indexes_read_or_raise_a_store_error(index, ids, labels, declared, drop):
    """Whatever the index fields and labels, a store opens and reads whole recordings of finite epochs and stage
    codes -1..4, or raises a StoreError; the epochs are never read on open."""
    import h5py

    from stqs_core.sampling import EpochSource
    from stqs_core.store import EpochStore

    path = _WORK / "fuzz-store.h5"
    path.write_bytes(_base_store())
    with h5py.File(path, "a") as f:
        for key, (values, dtype) in index.items():
            del f[f"recordings/{key}"]
            f[f"recordings/{key}"] = np.array(values, dtype=np.int64).astype(dtype)
        if ids is not None:
            del f["recordings/id"]
            f.create_dataset("recordings/id", data=ids, dtype=h5py.string_dtype())
        if labels is not None:
            del f["labels"]
            f["labels"] = np.array(labels[0], dtype=np.float64 if labels[1] == "float32" else np.int64).astype(
                labels[1]
            )
        if declared is not None:
            f["epochs"].resize(declared, axis=0)
        for key in drop:
            del f[key]

    def read_everything():
        with EpochStore(path) as store:
            for name in store.recordings:
                epochs, stages = store.read(name)
                assert len(epochs) == len(stages) and np.isfinite(epochs).all()
                assert stages.dtype == np.int8 and ((stages >= -1) & (stages <= 4)).all()
        with EpochSource([path]) as source:
            for rid in source.recordings:
                assert len(source.read(rid)) == source.n_epochs(rid)

    _check("store index", read_everything)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    lines=st.lists(st.sampled_from(["W", "N2", "REM", "?", "bogus", "nan", ""]), max_size=12),
    suffix=st.sampled_from([".csv", ".json", ".edf"]),
)
def test_score_leaves_a_whole_output_or_none(lines, suffix):
    """``stqs score`` with a fuzzed hypnogram: exit 0 and a complete output, or exit 2 and no file at all."""
    from stqs_core.cli import main

    folder = _WORK / "score"
    folder.mkdir(exist_ok=True)
    recording, model = _score_inputs()
    for leftover in folder.iterdir():
        leftover.unlink()
    hypnogram = folder / "h.csv"
    hypnogram.write_text("\n".join(lines))
    out = folder / f"out{suffix}"
    code = main(["score", str(recording), "--model", str(model), "--annotations", str(hypnogram), "--out", str(out)])
    written = sorted(p.name for p in folder.iterdir() if p != hypnogram)
    STATS.setdefault("score output", [0, 0, 0])[0] += 1
    STATS["score output"][1] += code == 2
    assert (code, written) in ((0, [out.name]), (2, []))


@lru_cache
def _score_inputs() -> tuple[Path, Path]:
    from stqs_core import STQS, STQSConfig, save_model
    from stqs_core.edf import write_edf

    data = np.random.default_rng(0).standard_normal((5, 125 * 240)) * 30
    recording = write_edf(_WORK / "night.edf", data, SHHS_NAMES, 125)
    torch.manual_seed(0)
    return recording, save_model(STQS(STQSConfig(variant="cnn")).eval(), _WORK / "model.pt")


def test_zz_report_the_fuzzing_budget():
    """Print the cases generated per reader and the peak memory seen (run with -s to read it)."""
    if not STATS:
        pytest.skip("run with the fuzz tests above")
    for kind, (cases, errors, peak) in STATS.items():
        print(f"{kind}: {cases} cases, {errors} raised StqsError, peak traced memory {peak / 2**20:.1f} MB")
    print(f"total: {sum(s[0] for s in STATS.values())} cases")
