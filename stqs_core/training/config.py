"""The settings of a training run (:class:`TrainConfig`) and the ``stqs train`` call that reproduces them."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import StqsError, check_option
from ..model import VARIANTS
from ..sampling import CACHE_BYTES, IMBALANCE


@dataclass
class TrainConfig:
    """Training settings; the defaults are those of ``stqs train``.

    An *epoch* is a 30-s window of a recording everywhere in STQS; a *pass* is one sweep over the training data.
    ``epochs`` below counts passes: it keeps the name of the ``--epochs`` option and of the saved model cards.

    Parameters
    ----------
    variant : str
        Network variant, one of :data:`~stqs_core.model.VARIANTS`.
    imbalance : str
        Class-imbalance option, one of :data:`~stqs_core.sampling.IMBALANCE`.
    epochs : int
        Maximum number of passes over the training data, per stage (>= 1).
    patience : int
        Early stopping: passes without a lower validation loss before a stage ends (>= 1).
    lr : float
        Adam learning rate.
    batch_size : int
        30-s epochs per batch in the ``cnn`` stage (>= 1).
    seed : int
        Seed of the split, the initial weights and every pass.
    fractions : tuple of 3 float
        Train, validation and test shares of the recordings (ignored when ``validation`` or ``test`` is given).
    validation, test, train : list of str or None
        Recording names of each set, instead of ``fractions`` (``train`` None: every other recording).
    two_stage : bool
        Sequence variants: train the CNN alone first (``cnn`` stage), then the bi-LSTM (``sequence`` stage).
    fine_tune_cnn : bool
        Keep training the CNN's weights in the ``sequence`` stage (or when starting from ``init_model``).
    nights_per_batch : int
        Sequence stage: nights trained side by side.
    bptt_windows : int
        Sequence stage: windows of 8 epochs per optimiser step (the LSTM state is carried across).
    init_cnn : str or None
        A trained model file whose CNN a sequence variant starts from (the ``cnn`` stage is skipped).
    init_model : str or None
        A trained model file of the same variant to start from (fine-tuning: one stage, CNN frozen).
    cache_bytes : int
        Memory (bytes) for epochs read from the stores.
    """

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
        check_option("variant", self.variant, VARIANTS)
        check_option("imbalance", self.imbalance, IMBALANCE)
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise StqsError("epochs, patience and batch_size must be at least 1")
        self.fractions = tuple(self.fractions)
        if self.init_cnn is not None and self.variant == "cnn":
            raise StqsError("init_cnn starts a sequence variant from a trained CNN; the cnn variant has no stage 2")
        if self.init_cnn is not None and self.init_model is not None:
            raise StqsError("give init_cnn or init_model, not both")

    def command(self, data: list[str | Path], out: str | Path) -> str:
        """The ``stqs train`` command line that reproduces this run.

        Parameters
        ----------
        data : list of str or Path
            The HDF5 epoch stores trained on.
        out : str or Path
            The model file written.

        Returns
        -------
        str
            One shell-quoted command line.
        """
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
