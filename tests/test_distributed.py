"""Training with DistributedDataParallel: two CPU processes under torchrun."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from stqs_core import STQS, EpochStore, STQSConfig
from stqs_core.checkpoint import load_model
from stqs_core.sampling import n_indices

from .conftest import write_synthetic_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["cnn", "cnnlstm"])
def test_torchrun_two_processes_train_one_model(variant, tmp_path):
    store = write_synthetic_store(tmp_path / "tiny.h5", n_nights=6, n_epochs=48)
    out = tmp_path / "m.pt"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    cmd += ["--master-port", str(_free_port()), "-m", "stqs_core.cli", "train", "--data", str(store)]
    cmd += ["--variant", variant, "--epochs", "2", "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count(f"-> {out}") == 1  # rank 0 reports
    assert out.is_file() and not out.with_name(out.name + ".resume").exists()
    model = load_model(out)
    card = model.info["model_card"]
    # both ranks ended with the same weights and batch-norm statistics (DDP averages the gradients on every rank)
    assert card["distributed"]["world_size"] == 2 and card["distributed"]["max_rank_difference"] <= 1e-6
    torch.manual_seed(0)  # the trainer's initial model for seed 0
    init = STQS(STQSConfig(variant=variant)).state_dict()
    change = max(float((model.state_dict()[k] - v).abs().max()) for k, v in init.items() if v.is_floating_point())
    assert change > 1e-4
    # the two shards together cover every training epoch once per pass (the sequence stage: those in full windows)
    window = model.config.window
    with EpochStore(store) as s:
        labels = [s.labels(r) for r in card["split"]["train"]]
    history = np.genfromtxt(out.with_suffix(".history.csv"), delimiter=",", names=True, dtype=None, encoding=None)
    assert list(history["n_train"][history["stage"] == "cnn"]) == [sum(n_indices(y, True) for y in labels)] * 2
    if variant != "cnn":
        full = sum(int((y[: len(y) // window * window] >= 0).sum()) for y in labels)
        assert list(history["n_train"][history["stage"] == "sequence"]) == [full] * 2
