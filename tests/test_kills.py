"""SIGKILL ``stqs score`` and ``stqs train --resume`` at seeded random points of their run (kill times drawn
uniformly over an uninterrupted run's measured duration, as the ``stqs prepare`` test in test_store.py does), and
at the moment they write: an output is absent or complete, never partial; the next run finishes and leaves no
temporary file and, for training, the same model as an uninterrupted run. ``stqs prepare``'s test is in
test_store.py."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from stqs_core import load_model
from stqs_core.annotations import read_hypnogram

from .conftest import SHHS_NAMES, write_synthetic_store


def _start(args, log, ready=lambda: True):
    """Start ``stqs *args`` (stderr to the file ``log``); poll until ``ready()`` or the process ends; returns the
    process and that moment (perf_counter, s)."""
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "stqs_core.cli", *map(str, args)],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    while process.poll() is None and not ready():
        time.sleep(0.001)
    return process, time.perf_counter()


def _kill(process, log):
    """SIGKILL ``process``; returns ``"killed"``, or ``"finished"`` when it had ended on its own."""
    process.send_signal(signal.SIGKILL)
    code = process.wait()
    assert code in (0, -signal.SIGKILL), log.read_text()[-2000:]
    return "finished" if code == 0 else "killed"


def _finish(process, log):
    assert process.wait() == 0, log.read_text()[-2000:]
    return time.perf_counter()


def _temporaries(out):
    """The temporary files of ``out`` (``stqs_core._atomic``: ``.<name>.<random>.part<suffix>``)."""
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*.part{out.suffix}"))


def _n_epochs(path):
    """Epochs in a ``stqs score`` output, read back (its JSON holds the summary and one column per field)."""
    if path.suffix == ".json":
        return len(json.loads(path.read_text())["stage"])
    return len(read_hypnogram(path))


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".json", ".edf"])
def test_score_killed_at_random_points_leaves_no_partial_output(tmp_path, random_night, model_file, suffix):
    """SIGKILL ``stqs score`` of a 1-hour night at 3 seeded random points of its run, and once the moment its
    temporary output appears: the output is absent or byte-identical to an uninterrupted run's (120 epochs), never
    partial; the next run writes it and removes the temporaries the kills left."""
    from stqs_core.edf import write_edf

    edf = write_edf(tmp_path / "night.edf", random_night(60, seed=3), SHHS_NAMES, 125)
    log = tmp_path / "stderr.txt"
    reference = tmp_path / f"reference{suffix}"
    process, started = _start(["score", edf, "--model", model_file, "--out", reference], log)
    duration = _finish(process, log) - started
    assert _n_epochs(reference) == 120
    out = tmp_path / f"killed{suffix}"
    args = ["score", edf, "--model", model_file, "--out", out]
    states = []
    for delay in [*np.random.default_rng(1).uniform(0, duration, 3), "on writing"]:
        out.unlink(missing_ok=True)
        if delay == "on writing":
            process, _ = _start(args, log, lambda: bool(_temporaries(out)))
        else:
            process, started = _start(args, log)
            time.sleep(max(0.0, delay - (time.perf_counter() - started)))
            delay = round(float(delay), 2)
        outcome = _kill(process, log)
        states.append((delay, outcome, out.exists(), _temporaries(out)))
        if out.exists():
            assert out.read_bytes() == reference.read_bytes(), states
        assert out.exists() or outcome == "killed", states
    _finish(_start(args, log)[0], log)
    assert out.read_bytes() == reference.read_bytes() and _n_epochs(out) == 120
    assert _temporaries(out) == [], states
    print(f"uninterrupted run {duration:.2f} s; kill points (s after start, outcome, output written, temporaries):")
    print("\n".join(map(str, states)))


@pytest.mark.slow
def test_train_killed_at_random_points_resumes_to_the_uninterrupted_model(tmp_path):
    """SIGKILL ``stqs train --resume`` (cnnlstm: 2 passes of the CNN stage, 2 of the sequence stage) at 3 seeded
    random points of its training loop, then right after it saved a pass, then while it writes the next pass's
    resume file, each rerun resuming from the ``.resume`` file the last one left; then let it finish: the model's
    weights equal an uninterrupted run's bit for bit (each pass is seeded from (seed, stage, pass) and the resume
    file holds the complete state: model, optimiser, best weights, early-stopping counters), a model file present
    after a kill is a complete one, and no temporary or resume file is left."""
    store = write_synthetic_store(tmp_path / "tiny.h5", n_nights=4, n_epochs=8)
    options = "--variant cnnlstm --imbalance none --epochs 2 --patience 5 --lr 1e-3 --batch-size 16"
    options = ["train", *options.split(), "--fractions", "0.6,0.2,0.2", "--resume", "--data", store, "--out"]
    log = tmp_path / "stderr.txt"
    looping = lambda: b"train " in log.read_bytes()  # noqa: E731  (a stage's progress bar: imports done)
    reference = tmp_path / "reference.pt"
    process, started = _start([*options, reference], log, looping)
    duration = _finish(process, log) - started
    expected = load_model(reference).state_dict()
    out = tmp_path / "killed.pt"
    resume = out.with_name(out.name + ".resume")
    states = []
    points = [*np.random.default_rng(9).uniform(0, duration, 3), "after a save", "on saving"]
    for delay in points:
        since = time.time()
        if delay == "after a save":
            process, _ = _start([*options, out], log, lambda t=since: resume.exists() and resume.stat().st_mtime >= t)
        elif delay == "on saving":
            process, _ = _start([*options, out], log, lambda: bool(_temporaries(resume)))
        else:
            process, started = _start([*options, out], log, looping)
            time.sleep(max(0.0, delay - (time.perf_counter() - started)))
            delay = round(float(delay), 2)
        outcome = _kill(process, log)
        saved = torch.load(resume, weights_only=True) if resume.exists() else None
        at = None if saved is None else f"{saved['stage']} pass {saved['next_epoch']} saved"
        states.append((delay, outcome, at, out.exists(), _temporaries(out) + _temporaries(resume)))
        if out.exists():  # a model file is complete: it loads, with the uninterrupted run's weights
            got = load_model(out).state_dict()
            assert all(torch.equal(got[k], v) for k, v in expected.items()), states
    states.append(("final run", "resumed from", at))
    _finish(_start([*options, out], log)[0], log)
    got = load_model(out).state_dict()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), (key, states)
    assert not resume.exists() and not list(tmp_path.glob(".*.part*")), states
    print(f"training loop {duration:.2f} s; kill points (s into the loop, outcome, resume file, model written, temps):")
    print("\n".join(map(str, states)))
