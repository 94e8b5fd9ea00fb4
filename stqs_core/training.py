"""Train an STQS model on HDF5 epoch stores: split by recording, class-imbalance options, the two-stage recipe.

Stage ``cnn`` trains the CNN epoch by epoch on shuffled batches (for sequence variants through a temporary
linear 400->5 classifier). Stage ``sequence`` (sequence variants) trains the bi-LSTM head and classifier on
whole nights in order: ``nights_per_batch`` nights side by side, windows of 8 epochs, the LSTM state carried
from window to window within a night (reset per night) and an optimiser step every ``bptt_windows`` windows;
the CNN is frozen (its features computed once, in eval mode) unless ``fine_tune_cnn``. Only full windows
are trained on in this stage (a night's last < 8 epochs are not). ``two_stage=False`` skips the ``cnn``
stage and trains everything in the ``sequence`` stage; ``init_cnn`` (a trained model file) copies that model's CNN
and skips the ``cnn`` stage (e.g. the sequence variants on top of a trained ``cnn`` model). ``init_model`` starts
from all the weights (and the channel/preprocessing ``info``) of a trained model of the same variant and runs
one stage (``cnn`` for the cnn variant, ``sequence`` otherwise) in which the CNN, batch-norm statistics
included, stays frozen (eval mode) unless ``fine_tune_cnn`` (then its weights train; in the ``sequence`` stage
it stays in eval mode, its batch-norm statistics kept): what :mod:`stqs_core.finetune` builds on. ``train``
names the training recordings explicitly (with ``validation`` / ``test``; the others are left out).

Each stage: Adam, at most ``epochs`` passes, early stopping on validation loss with ``patience``, the best
weights restored at its end. After every pass the complete state is written atomically to
``<out>.resume``; ``train(..., resume=True)`` continues from it with the same result as an uninterrupted
run (each pass is seeded from ``(seed, stage, pass)``). Beside ``out`` go ``<stem>.history.csv`` (one row
per pass) and ``<stem>.training.json`` (settings, split, history, card).

The model card (``model.info["model_card"]``) holds ``variant``, ``imbalance``, ``data`` (stores, recordings,
epochs), ``split`` (recording names per set) and ``split_seed``, ``command`` (the ``stqs train`` call that
reproduces the model), ``date``, ``training`` (all settings), ``stages`` (passes run, best pass, early stop) and
``metrics`` (``validation`` / ``test``: accuracy, balanced accuracy, macro-F1, weighted F1, kappa, per stage),
plus the ``card`` fields given to :func:`train`.

Imbalance (:data:`~stqs_core.sampling.IMBALANCE`): ``oversampling`` resamples minority stages per recording
in the ``cnn`` stage (the ``sequence`` stage reads nights as they are, unweighted); the ``weighted-*`` options
weight the loss of both stages (and of the validation loss used for early stopping).
"""

from __future__ import annotations

import csv
import json
import logging
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from torch import nn

from ._atomic import atomic_path
from .checkpoint import save_model
from .distributed import BACKEND, process_group
from .errors import StoreError, StqsError
from .metrics import classification_metrics
from .model import STQS, VARIANTS
from .sampling import CACHE_BYTES, IMBALANCE, EpochSource, class_weights, split_recordings
from .trainer import _Run

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training settings; the defaults are those of ``stqs train``."""

    variant: str = "cnnlstm"
    imbalance: str = "oversampling"
    epochs: int = 20
    patience: int = 5
    lr: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    validation: list[str] | None = None
    test: list[str] | None = None
    two_stage: bool = True
    fine_tune_cnn: bool = False
    nights_per_batch: int = 8
    bptt_windows: int = 4
    init_cnn: str | None = None
    init_model: str | None = None
    train: list[str] | None = None
    cache_bytes: int = CACHE_BYTES

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise StqsError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.imbalance not in IMBALANCE:
            raise StqsError(f"imbalance must be one of {IMBALANCE}, got {self.imbalance!r}")
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise StqsError("epochs, patience and batch_size must be at least 1")
        self.fractions = tuple(self.fractions)
        if self.init_cnn is not None and self.variant == "cnn":
            raise StqsError("init_cnn starts a sequence variant from a trained CNN; the cnn variant has no stage 2")
        if self.init_cnn is not None and self.init_model is not None:
            raise StqsError("give init_cnn or init_model, not both")

    def command(self, data: list[str | Path], out: str | Path) -> str:
        """The ``stqs train`` command line that reproduces this run."""
        args = [
            "stqs",
            "train",
            "--data",
            *map(str, data),
            "--variant",
            self.variant,
            "--imbalance",
            self.imbalance,
            "--epochs",
            str(self.epochs),
            "--patience",
            str(self.patience),
            "--lr",
            str(self.lr),
            "--batch-size",
            str(self.batch_size),
            "--seed",
            str(self.seed),
        ]
        if self.validation is not None or self.test is not None:
            args += ["--validation", ",".join(self.validation or []), "--test", ",".join(self.test or [])]
        else:
            args += ["--fractions", ",".join(map(str, self.fractions))]
        if self.variant != "cnn":
            args += ["--nights-per-batch", str(self.nights_per_batch), "--bptt-windows", str(self.bptt_windows)]
        args += ["--fine-tune-cnn"] * self.fine_tune_cnn + ["--single-stage"] * (not self.two_stage)
        args += ["--init-cnn", str(self.init_cnn)] if self.init_cnn else []
        return shlex.join([*args, "--out", str(out)])


@dataclass
class TrainResult:
    """What :func:`train` returns: the model (eval mode, best weights), its card, the split and the history."""

    model: STQS
    path: Path
    card: dict
    split: dict[str, list[str]]
    history: list[dict]


def train(
    data: list[str | Path] | str | Path,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    card: dict | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict, STQS], None] | None = None,
) -> TrainResult:
    """Train a model on epoch stores ``data`` and save it to ``out`` with its model card.

    Parameters
    ----------
    data : path or list of paths
        HDF5 epoch stores (``stqs prepare``).
    out : str | Path
        The model file (``.pt``) to write.
    config : TrainConfig | None
        Settings (default :class:`TrainConfig`).
    resume : bool
        Continue from ``<out>.resume`` when it exists (the settings must match).
    card : dict | None
        Extra model-card fields (e.g. ``name``, ``training_data``).
    on_epoch_end : callable | None
        Called after each pass with its history row (dict) and the model (at the end of a stage: its best
        weights). An exception raised there stops the run; ``resume=True`` continues it.

    Launched by ``torchrun`` (``WORLD_SIZE`` > 1) it trains with DistributedDataParallel as
    :mod:`stqs_core.distributed` describes; the card's ``distributed`` then holds ``world_size``, ``backend`` and
    ``max_rank_difference`` (the largest difference of any weight or buffer between a rank and rank 0 at the end).
    """
    config = config or TrainConfig()
    data = [Path(p) for p in ([data] if isinstance(data, (str, Path)) else data)]
    out = Path(out)
    with process_group() as group:
        return _train(data, out, config, resume, card, progress, on_epoch_end, group)


def _train(data, out, config, resume, card, progress, on_epoch_end, group) -> TrainResult:
    with EpochSource(data, config.cache_bytes) as source:
        split = split_recordings(
            source.recordings, config.fractions, config.seed, config.validation, config.test, config.train
        )
        train_labels = np.concatenate([source.labels(r) for r in split["train"]] or [np.empty(0, np.int8)])
        if not (train_labels >= 0).any():
            raise StoreError("the training recordings hold no scored epoch; give stores with expert hypnograms")
        weights = class_weights(train_labels, config.imbalance)
        run = _Run(config, source, split, weights, out, on_epoch_end, progress, group)
        run.start(resume)
        if config.variant == "cnn":
            run.stage("cnn", run.model.classifier)
        else:
            if config.two_stage and config.init_cnn is None and config.init_model is None:
                n_features = sum(block.out_features for block in run.model.blocks.values())
                run.stage("cnn", nn.Linear(n_features, run.model.config.n_classes))  # temporary classifier
            run.stage("sequence", None)
        model = run.model.eval()
        from .evaluation import predict_recordings

        metrics = {}
        for part in ("validation", "test"):
            if split[part]:
                pairs = {r: (t, p.argmax(1)) for r, (t, p) in predict_recordings(model, source, split[part]).items()}
                m = classification_metrics(
                    np.concatenate([t for t, _ in pairs.values()]), np.concatenate([p for _, p in pairs.values()])
                )
                metrics[part] = {
                    k: m[k]
                    for k in (
                        "n_scored",
                        "accuracy",
                        "balanced_accuracy",
                        "macro_f1",
                        "weighted_f1",
                        "kappa",
                        "per_stage",
                    )
                }
        model_card = {
            "variant": config.variant,
            "imbalance": config.imbalance,
            "data": source.describe(),
            "split": split,
            "split_seed": config.seed,
            "command": config.command(data, out),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "training": {k: v for k, v in asdict(config).items() if k not in ("train", "validation", "test")},
            "stages": run.summary,
            "metrics": metrics,
            **(card or {}),
        }
        if group.world_size > 1:
            spread = group.weight_spread(model)
            model_card["distributed"] = {"world_size": group.world_size, "backend": BACKEND}
            model_card["distributed"]["max_rank_difference"] = spread
        model_card = json.loads(json.dumps(model_card, default=_plain))  # weights_only-loadable: plain types only
    if not group.main:
        return TrainResult(model, out, model_card, split, run.history)
    save_model(model, out, model_card)
    _write_logs(
        out, run.history, {"config": asdict(config), "split": split, "history": run.history, "model_card": model_card}
    )
    run.resume_path.unlink(missing_ok=True)
    logger.info("saved %s (%s)", out, ", ".join(f"{k} kappa {v['kappa']:.3f}" for k, v in metrics.items()))
    return TrainResult(model, out, model_card, split, run.history)


def _plain(value):
    """JSON form of numpy scalars and paths."""
    return value.item() if hasattr(value, "item") else str(value)


def _write_logs(out: Path, history: list[dict], summary: dict) -> None:
    with atomic_path(out.with_suffix(".training.json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=str))
    keys = list(dict.fromkeys(k for row in history for k in row))
    with atomic_path(out.with_suffix(".history.csv")) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(history)
