"""The two-stage recipe: :func:`train` splits the stores, runs :class:`~.loop._Run`, saves the model and its card.

See :mod:`stqs_core.training` for the recipe itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from torch import nn

from ..checkpoint import save_model
from ..distributed import BACKEND, process_group
from ..errors import StoreError
from ..metrics import classification_metrics
from ..model import STQS
from ..sampling import EpochSource, class_weights, split_recordings
from .config import TrainConfig
from .logs import plain, write_logs
from .loop import _Run

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Parameters
    ----------
    model : STQS
        The trained model in eval mode, with the best weights of each stage.
    path : Path
        The model file written.
    card : dict
        Its model card (plain JSON types), as saved in ``model.info["model_card"]``.
    split : dict of str to list of str
        Recording names of the ``train``, ``validation`` and ``test`` sets.
    history : list of dict
        One row per training pass: ``stage``, ``epoch`` (the pass, from 1), ``train_loss``, ``n_train`` (30-s
        epochs seen), validation ``val_*``, ``seconds``, ``epochs_per_s``, ``best``.
    """

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
    progress : bool
        Show progress bars (tqdm), on rank 0 only.
    on_epoch_end : callable | None
        Called after each training pass (not each 30-s epoch) with its history row (dict) and the model (at the
        end of a stage: its best weights). An exception raised there stops the run; ``resume=True`` continues it.

    Returns
    -------
    TrainResult
        The model, its file, card, split and history. Beside ``out`` go ``<stem>.history.csv`` and
        ``<stem>.training.json`` (:func:`~.logs.write_logs`); ``<out>.resume`` is removed at the end.

    Launched by ``torchrun`` (``WORLD_SIZE`` > 1) it trains with DistributedDataParallel as
    :mod:`stqs_core.distributed` describes; the card's ``distributed`` then holds ``world_size``, ``backend`` and
    ``max_rank_difference`` (the largest difference of any weight or buffer between a rank and rank 0 at the end).

    Examples
    --------
    Train on simulated nights and evaluate on the held-out ones (about a minute; ``stqs train`` and
    ``stqs evaluate`` do the same from the command line):

    >>> from stqs_core.evaluation import evaluate, write_report
    >>> from stqs_core.simulate import simulate_store
    >>> from stqs_core.training import TrainConfig, train
    >>> simulate_store("runs/sim.h5", n_nights=6, hours=0.5, seed=0)  # an HDF5 epoch store  # doctest: +SKIP
    >>> result = train("runs/sim.h5", "runs/model.pt", TrainConfig(variant="cnn", epochs=1))  # doctest: +SKIP
    >>> result.split  # recordings per split: train, validation, test  # doctest: +SKIP
    >>> report = evaluate("runs/model.pt", "runs/sim.h5", split="test")  # the card's test nights  # doctest: +SKIP
    >>> report["overall"]["kappa"]  # doctest: +SKIP
    >>> write_report(report, "runs/evaluation")  # report.json, per_recording.csv, figures  # doctest: +SKIP
    """
    config = config or TrainConfig()
    data = [Path(p) for p in ([data] if isinstance(data, (str, Path)) else data)]
    out = Path(out)
    with process_group() as group:
        return _train(data, out, config, resume, card, progress, on_epoch_end, group)


def _train(data, out, config, resume, card, progress, on_epoch_end, group) -> TrainResult:
    """:func:`train` inside the process group ``group`` (:class:`~stqs_core.distributed.Group`)."""
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
        from ..evaluation import predict_recordings

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
        model_card = json.loads(json.dumps(model_card, default=plain))  # weights_only-loadable: plain types only
    if not group.main:
        return TrainResult(model, out, model_card, split, run.history)
    save_model(model, out, model_card)
    write_logs(
        out, run.history, {"config": asdict(config), "split": split, "history": run.history, "model_card": model_card}
    )
    run.resume_path.unlink(missing_ok=True)
    logger.info("saved %s (%s)", out, ", ".join(f"{k} kappa {v['kappa']:.3f}" for k, v in metrics.items()))
    return TrainResult(model, out, model_card, split, run.history)
