"""The training loop behind :func:`stqs_core.training.train`: stages, passes, early stopping, resume files.

See :mod:`stqs_core.training` for the recipe; this module holds its mechanics. A *pass* is one sweep over the
training data; an *epoch* is a 30-s window of a recording (the names ``epochs``, ``epoch``, ``best_epoch``,
``epochs_run`` and ``next_epoch`` that count passes are kept only where they are read from outside: the settings,
the history rows, the stage summaries and the resume file).

A loss or validation score that becomes NaN or inf stops the run with a :class:`~stqs_core.errors.TrainingError`
naming the stage, the pass, and the recording and epoch where it first appears (the epochs themselves are
checked for NaN and inf as they are read, :mod:`stqs_core.sampling`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._atomic import atomic_path
from ..distributed import SINGLE, Group
from ..errors import StqsError, TrainingError
from ..metrics import classification_metrics
from ..model import STQS, STQSConfig
from ..sampling import EpochSource, epoch_batches, epoch_indices, n_indices
from .config import TrainConfig

logger = logging.getLogger(__name__)

STAGE_IDS = {"cnn": 0, "sequence": 1}
"""Number of each stage in the seed of its passes, ``(seed, stage id, pass)``."""
CHUNK = 256
"""30-s epochs per CNN call when computing features or validating."""


class _Run:
    """One training run: the model, its history, and the resume file ``<out>.resume``.

    Parameters
    ----------
    config : TrainConfig
        The settings.
    source : EpochSource
        The epoch stores read.
    split : dict of str to list of str
        Recording names of the ``train``, ``validation`` and ``test`` sets.
    weights : ndarray, shape (5,), or None
        Loss weight of each stage (None: unweighted).
    out : Path
        The model file to be written; the resume file is ``<out>.resume``.
    on_pass_end : callable or None
        Called after each pass with its history row and the model (``train``'s ``on_epoch_end``).
    progress : bool
        Show progress bars (on the main rank).
    group : Group
        This process's place in a distributed run.
    """

    def __init__(
        self,
        config: TrainConfig,
        source: EpochSource,
        split: dict,
        weights: np.ndarray | None,
        out: Path,
        on_pass_end: Callable[[dict, STQS], None] | None,
        progress: bool,
        group: Group = SINGLE,
    ):
        self.config, self.source, self.split, self.group = config, source, split, group
        self.progress = progress and group.main
        if len(split["train"]) < group.world_size:
            raise StqsError(
                f"{group.world_size} processes but {len(split['train'])} training recordings: each process needs "
                "at least one; launch fewer processes"
            )
        self.weight = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        self.resume_path = out.with_name(out.name + ".resume")
        self.on_pass_end = on_pass_end
        self.history: list[dict] = []
        self.summary: dict[str, dict] = {}
        self.saved: dict | None = None
        self.settings = json.dumps({"config": asdict(config), "split": split}, sort_keys=True, default=list)

    def start(self, resume: bool) -> None:
        """Build the seeded model, or load the state of ``<out>.resume`` when resuming."""
        from ..checkpoint import load_model

        torch.manual_seed(self.config.seed)
        if self.config.init_model is not None:
            source = load_model(self.config.init_model)
            if source.config.variant != self.config.variant:
                raise StqsError(
                    f"init_model {self.config.init_model} is a {source.config.variant} model, not {self.config.variant}"
                )
            self.model = STQS(source.config, {**source.info, "model_card": {}})
            self.model.load_state_dict(source.state_dict())
        else:
            self.model = STQS(STQSConfig(variant=self.config.variant))
        if self.config.init_cnn is not None:
            self.model.blocks.load_state_dict(load_model(self.config.init_cnn).blocks.state_dict())
        if not (resume and self.resume_path.is_file()):
            return
        saved = torch.load(self.resume_path, map_location="cpu", weights_only=True)
        if saved["settings"] != self.settings:
            raise StqsError(
                f"{self.resume_path} was written with other settings or another split; run with the "
                "same options, or delete it to start afresh"
            )
        self.model.load_state_dict(saved["model"])
        self.history, self.summary, self.saved = saved["history"], saved["summary"], saved
        logger.info("resuming from %s: stage %s, pass %d", self.resume_path, saved["stage"], saved["next_epoch"] + 1)

    # ---------------------------------------------------------------- one stage
    def stage(self, name: str, head: nn.Module | None) -> None:
        """Train stage ``name`` (``"cnn"`` with classifier ``head``, or ``"sequence"``) to its end."""
        if self.summary.get(name, {}).get("done"):
            return
        cfg, model = self.config, self.model
        train_cnn = cfg.fine_tune_cnn or (cfg.init_model is None and (name == "cnn" or not cfg.two_stage))
        params = (
            list(head.parameters()) if name == "cnn" else [*model.head.parameters(), *model.classifier.parameters()]
        )
        if train_cnn:
            params = [*model.blocks.parameters(), *params]
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=cfg.lr)
        first, best, best_loss, bad = 0, None, math.inf, 0
        saved, self.saved = self.saved, None
        if saved is not None and saved["stage"] == name:
            if saved["head"] is not None:
                head.load_state_dict(saved["head"])
            opt.load_state_dict(saved["optimizer"])
            first, best, best_loss, bad = saved["next_epoch"], saved["best"], saved["best_loss"], saved["bad"]
        features = None if train_cnn else self._features(self.split["train"] + self.split["validation"])
        from tqdm.auto import tqdm

        bar = tqdm(
            range(first, cfg.epochs),
            desc=f"train {name}",
            unit="pass",
            disable=not self.progress,
            initial=first,
            total=cfg.epochs,
        )
        for done in bar:  # passes done before this one
            self.where = (name, done + 1)
            seed = int(np.random.SeedSequence([cfg.seed, STAGE_IDS[name], done]).generate_state(1)[0])
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            tic = time.perf_counter()
            if name == "cnn":
                loss, n = self._cnn_pass(head, opt, rng, features)
                seconds = time.perf_counter() - tic
                per_epoch = None if features is not None else lambda x: head(model.features(x))
                val = self._validate(per_epoch, features)
            else:
                loss, n = self._sequence_pass(opt, rng, features, train_cnn)
                seconds = time.perf_counter() - tic
                val = self._validate(None, features)
            monitor = val.get("val_loss", loss)
            if self.group.world_size > 1:
                monitor = self.group.broadcast_float(monitor)  # every rank stops at the same pass
            improved = monitor < best_loss or best is None
            if improved:
                best_loss, bad = monitor, 0
                best = {
                    "model": copy.deepcopy(model.state_dict()),
                    "head": None if head is None or head is model.classifier else copy.deepcopy(head.state_dict()),
                }
            else:
                bad += 1
            row = {
                "stage": name,
                "epoch": done + 1,  # the pass (key kept for the history CSV and the card)
                "train_loss": loss,
                "n_train": n,
                **val,
                "seconds": round(seconds, 2),
                "epochs_per_s": round(n / seconds, 1),
                "best": improved,
            }  # of the pass
            self.history.append(row)
            bar.set_postfix({k: round(v, 4) for k, v in row.items() if k in ("train_loss", "val_loss", "val_kappa")})
            stop = bad >= cfg.patience or done + 1 == cfg.epochs
            if stop:
                model.load_state_dict(best["model"])
                if best["head"] is not None:
                    head.load_state_dict(best["head"])
                best_pass = max(r["epoch"] for r in self.history if r["stage"] == name and r["best"])
                self.summary[name] = {
                    "epochs_run": done + 1,
                    "best_epoch": best_pass,
                    "best_loss": best_loss,
                    "stopped_early": bad >= cfg.patience,
                    "done": True,
                }
            self._save(name, done + 1, head, opt, best, best_loss, bad)
            if self.on_pass_end is not None:
                self.on_pass_end(row, self.model)
            if stop:
                break
        for p in model.parameters():
            p.requires_grad_(True)

    def _save(self, name, next_pass, head, opt, best, best_loss, bad) -> None:
        """Write the complete state after a pass to ``<out>.resume``, atomically (main rank only)."""
        if not self.group.main:
            return
        state = {
            "settings": self.settings,
            "stage": name,
            "next_epoch": next_pass,  # passes done (key kept: resume files of earlier versions still load)
            "model": self.model.state_dict(),
            "head": None if head is None or head is self.model.classifier else head.state_dict(),
            "optimizer": opt.state_dict(),
            "best": best,
            "best_loss": best_loss,
            "bad": bad,
            "history": self.history,
            "summary": self.summary,
        }
        with atomic_path(self.resume_path) as tmp:
            torch.save(state, tmp)

    # ---------------------------------------------------------------- passes
    def _cnn_pass(self, head: nn.Module, opt, rng: np.random.Generator, features: dict | None) -> tuple[float, int]:
        """One pass over the training epochs in shuffled batches (oversampled if asked); with ``features`` (a
        frozen CNN's, :meth:`_features`) over those instead of the epochs. In a distributed run over this rank's
        share of the training recordings, the gradients averaged by DistributedDataParallel."""
        from tqdm.auto import tqdm

        cfg, model, group = self.config, self.model, self.group
        oversample = cfg.imbalance == "oversampling"
        train = self.split["train"][group.rank :: group.world_size]
        n_total = sum(n_indices(self.source.labels(r), oversample) for r in train)
        model.train()
        head.train()
        net = _Classify(model, head, encode=features is None)
        if features is None:
            batches = epoch_batches(self.source, train, cfg.batch_size, rng, oversample, origins=True)
        else:
            model.blocks.eval()
            rows = {r: epoch_indices(self.source.labels(r), oversample, rng) for r in train}
            x = torch.cat([features[r][i] for r, i in rows.items()])
            y = np.concatenate([self.source.labels(r)[i] for r, i in rows.items()]).astype(np.int64)
            where = [(r, int(e)) for r, i in rows.items() for e in i]
            order = rng.permutation(len(y))
            batches = (
                (x[i], y[i], [where[k] for k in i])
                for i in (order[b : b + cfg.batch_size] for b in range(0, len(y), cfg.batch_size))
            )
        bar = tqdm(
            batches, total=math.ceil(n_total / cfg.batch_size), desc="batches", leave=False, disable=not self.progress
        )
        if group.world_size == 1:
            return self._cnn_batches(bar, net, opt)
        from torch.distributed.algorithms.join import Join
        from torch.nn.parallel import DistributedDataParallel

        # Buffers synchronised before each forward (DDP's default): rank 0's batch-norm statistics rule. The
        # convolution biases that batch norm cancels get no gradient in fastconv's training path: "unused".
        ddp = DistributedDataParallel(net, find_unused_parameters=True)
        with Join([ddp]):  # ranks with fewer batches shadow the others' gradient all-reduces
            loss, n = self._cnn_batches(bar, ddp, opt)
        total, n = group.sum(loss * n, n)
        return total / max(n, 1), int(n)

    def _cnn_batches(self, bar, net: nn.Module, opt) -> tuple[float, int]:
        """Train ``net`` (a :class:`_Classify`, possibly wrapped in DistributedDataParallel) on ``(x, y)`` batches."""
        total, n = 0.0, 0
        for x, y, where in bar:
            y = torch.from_numpy(y)
            logits = net(torch.as_tensor(x))
            loss = F.cross_entropy(logits, y, weight=self.weight)
            self._check_loss(loss, logits, y, where.__getitem__)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(y), n + len(y)
            bar.set_postfix(loss=f"{total / n:.4f}")
        return total / max(n, 1), n

    def _sequence_pass(
        self, opt, rng: np.random.Generator, features: dict | None, train_cnn: bool
    ) -> tuple[float, int]:
        """One pass over whole training nights (in a distributed run this rank's share, the gradients averaged by
        DistributedDataParallel): windows in order, state carried, a step every few windows."""
        cfg, model, window, group = self.config, self.model, self.model.config.window, self.group
        model.train()
        if not train_cnn or cfg.init_model is not None:
            model.blocks.eval()  # a trained CNN's batch-norm statistics: windows of a few nights would skew them
        train = self.split["train"][group.rank :: group.world_size]
        nights = [r for r in (train[i] for i in rng.permutation(len(train))) if self.source.n_epochs(r) >= window]
        net, joined = _Call(model), contextlib.nullcontext()
        if group.world_size > 1:
            from torch.distributed.algorithms.join import Join
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(net, find_unused_parameters=True)  # frozen CNN or LSTM parts: unused
            joined = Join([net])
        total, n = 0.0, 0
        with joined:
            for g in range(0, len(nights), cfg.nights_per_batch):
                loss, scored = self._sequence_group(nights[g : g + cfg.nights_per_batch], opt, features, net)
                total, n = total + loss, n + scored
        if group.world_size > 1:
            total, n = group.sum(total, n)
        return total / max(n, 1), int(n)

    def _sequence_group(self, batch: list[str], opt, features: dict | None, net: nn.Module) -> tuple[float, int]:
        """Train on a batch of nights side by side through ``net`` (a :class:`_Call`, possibly in DDP); returns the
        summed loss and the scored epochs."""
        cfg, window = self.config, self.model.config.window
        total, n = 0.0, 0
        batch = sorted(batch, key=lambda r: -self.source.n_epochs(r))
        n_windows = [self.source.n_epochs(r) // window for r in batch]
        state = None
        for w0 in range(0, n_windows[0], cfg.bptt_windows):
            w1 = min(w0 + cfg.bptt_windows, n_windows[0])
            k = sum(c > w0 for c in n_windows)
            stops = [min(w1, c) * window for c in n_windows[:k]]
            y = torch.full((k, max(stops) - w0 * window), -1, dtype=torch.long)
            for i, (rid, stop) in enumerate(zip(batch, stops)):
                y[i, : stop - w0 * window] = torch.from_numpy(self.source.labels(rid)[w0 * window : stop].astype(int))
            scored = int((y >= 0).sum())
            args = (batch[:k], w0, w1, stops, n_windows, y, features, state)
            if not scored:  # nothing to learn from: only carry the state (no DDP step without a backward)
                with torch.no_grad():
                    state = self._windows(*args)[2]
                continue
            logits, labels, state = net(self._windows, *args)
            state = tuple(s.detach() for s in state)
            loss = F.cross_entropy(logits, labels, weight=self.weight, ignore_index=-1)
            self._check_loss(loss, logits, labels, lambda i, a=args: _window_row(i, *a[:5], window))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item() * scored, n + scored
        return total, n

    def _check_loss(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, locate: Callable) -> None:
        """Raise a :class:`TrainingError` when ``loss`` is not finite, naming the first epoch whose loss is not;
        ``locate(i)`` gives ``(recording, epoch)`` of row ``i`` of ``logits``."""
        if torch.isfinite(loss):
            return
        with torch.no_grad():
            per = F.cross_entropy(logits.detach(), labels, reduction="none", ignore_index=-1)
            bad = (~torch.isfinite(per) & (labels >= 0)).nonzero().flatten()
        rid, epoch = locate(int(bad[0]) if len(bad) else 0)
        stage, done = getattr(self, "where", ("?", 0))
        raise TrainingError(
            f"the training loss became {loss.item()} in stage {stage}, pass {done}, first at recording {rid!r} "
            f"epoch {epoch}: the epochs read are finite, so the weights diverged (or a start model overflows on "
            "these data); train again with a smaller learning rate (--lr). Nothing was saved."
        )

    def _windows(self, nights, w0, w1, stops, n_windows, y, features, state):
        """Logits ``(n, 5)``, labels ``(n,)`` and the LSTM state after windows ``w0:w1`` of ``nights`` (the first
        ``len(stops)`` of a batch sorted longest first), ``y`` their labels ``(k, L)``."""
        model, window = self.model, self.model.config.window
        x = self._chunk(nights, w0 * window, stops, features)  # (k, L, 400)
        logits, labels = [], []
        for w in range(w0, w1):
            kw = sum(c > w for c in n_windows)
            if state is not None:
                state = tuple(s[:, :kw].contiguous() for s in state)
            rows = slice((w - w0) * window, (w - w0 + 1) * window)
            out, state = model.head(x[:kw, rows], state)
            logits.append(model.classifier(out).reshape(-1, model.config.n_classes))
            labels.append(y[:kw, rows].reshape(-1))
        return torch.cat(logits), torch.cat(labels), state

    def _chunk(self, nights: list[str], start: int, stops: list[int], features: dict | None) -> torch.Tensor:
        """Features ``(k, max(stops) - start, 400)`` of rows ``start:stop`` of each night, zero-padded."""
        if features is not None:
            parts = [features[r][start:stop] for r, stop in zip(nights, stops)]
        else:
            epochs = [self.source.read(r, start, stop) for r, stop in zip(nights, stops)]
            flat = self.model.features(torch.from_numpy(np.concatenate(epochs)))
            parts = list(torch.split(flat, [len(e) for e in epochs]))
        return nn.utils.rnn.pad_sequence(parts, batch_first=True)

    @torch.no_grad()
    def _features(self, recordings: list[str]) -> dict[str, torch.Tensor]:
        """Frozen-CNN features ``{recording: (n, 400)}`` (eval mode), computed once for the ``sequence`` stage."""
        self.model.eval()
        return {
            r: torch.cat(
                [
                    self.model.features(torch.from_numpy(self.source.read(r, i, i + CHUNK)))
                    for i in range(0, self.source.n_epochs(r), CHUNK)
                ]
            )
            for r in recordings
        }

    @torch.no_grad()
    def _validate(self, per_epoch: Callable | None, features: dict | None) -> dict:
        """Validation loss (weighted like training) and accuracy, kappa, macro-F1 over scored epochs."""
        if not self.split["validation"]:
            return {}
        self.model.eval()
        logits, labels = [], []
        for rid in self.split["validation"]:
            first = len(logits)
            if per_epoch is not None:
                logits += [
                    per_epoch(torch.from_numpy(self.source.read(rid, i, i + CHUNK)))
                    for i in range(0, self.source.n_epochs(rid), CHUNK)
                ]
            else:
                feats = features[rid] if features is not None else self._features([rid])[rid]
                logits.append(self.model.classify(feats))
            finite = torch.isfinite(torch.cat(logits[-1:] if per_epoch is None else logits[first:])).all(1)
            if not finite.all():
                stage, done = getattr(self, "where", ("?", 0))
                raise TrainingError(
                    f"the model's scores became NaN or inf in stage {stage}, pass {done}, on validation recording "
                    f"{rid!r} epoch {int((~finite).nonzero()[0])}: the weights diverged; train again with a smaller "
                    "learning rate (--lr)"
                )
            labels.append(torch.from_numpy(self.source.labels(rid).astype(np.int64)))
        logits, labels = torch.cat(logits), torch.cat(labels)
        loss = F.cross_entropy(logits, labels, weight=self.weight, ignore_index=-1).item()
        m = classification_metrics(labels.numpy(), logits.argmax(1).numpy())
        return {"val_loss": loss, "val_accuracy": m["accuracy"], "val_kappa": m["kappa"], "val_macro_f1": m["macro_f1"]}


def _window_row(i: int, nights: list[str], w0: int, w1: int, stops: list[int], n_windows: list[int], window: int):
    """``(recording, epoch)`` of row ``i`` of the logits of :meth:`_Run._windows` (window by window, night by night
    within a window, epochs in order within a night)."""
    for w in range(w0, w1):
        block = sum(c > w for c in n_windows[: len(stops)]) * window
        if i < block:
            return nights[i // window], w * window + i % window
        i -= block
    return nights[0], w0 * window


class _Classify(nn.Module):
    """``head(model.features(x))`` (``encode``) or ``head(x)`` (x: features) as one module, for DDP to wrap."""

    def __init__(self, model: STQS, head: nn.Module, encode: bool):
        super().__init__()
        self.model, self.head, self.encode = model, head, encode  # the children keep their train/eval modes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.model.features(x) if self.encode else x)


class _Call(nn.Module):
    """``model`` as the module whose parameters DDP synchronises; ``forward(fn, *args)`` returns ``fn(*args)``."""

    def __init__(self, model: STQS):
        super().__init__()
        self.model = model  # keeps its train/eval modes

    def forward(self, fn: Callable, *args):
        return fn(*args)
