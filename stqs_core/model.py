"""The STQS network (Pathak et al., 2021) as small composable modules.

Shapes: ``N`` epochs, ``C`` channels of a modality, ``T`` samples per epoch (3750 at 125 Hz), ``F`` temporal
filters. A recording's epochs are always given consecutive and in order: sequence variants read them as a night.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .constants import EPOCH_SAMPLES, N_CHANNELS, ROLES, STAGES
from .errors import ModelError, StqsError
from .fastconv import spatial_layer, temporal_layer

VARIANTS = ("cnn", "cnnlstm", "cnnlstm-residual")


@dataclass(frozen=True)
class STQSConfig:
    """Hyper-parameters of the network; the defaults are the published ones.

    Parameters
    ----------
    variant : str
        ``"cnn"`` (epoch by epoch), ``"cnnlstm"`` (a bi-LSTM over consecutive epochs) or ``"cnnlstm-residual"``
        (the bi-LSTM plus a residual projection of the CNN features).
    n_channels : dict of str to int
        Input rows per modality present, in the order ``eeg``, ``eog``, ``emg`` (published: 2, 2, 1). A model
        for fewer modalities leaves the absent ones out (``{"eeg": 2}``: EEG only): it has no block for them.
    n_samples : int
        Samples per epoch (3750: 30 s at 125 Hz).
    n_filters : int
        Filters per temporal convolution.
    kernel_size : int
        Taps per temporal convolution (64: 0.5 s at 125 Hz).
    pool_size : int
        Max-pool size after each temporal convolution.
    dropout : float
        Dropout probability on the CNN features.
    lstm_hidden : int
        Hidden units per direction of the bi-LSTM.
    window : int
        Consecutive epochs the bi-LSTM reads at a time.
    n_classes : int
        Stages (5: W, N1, N2, N3, REM).
    """

    variant: str = "cnnlstm"
    n_channels: dict[str, int] = field(default_factory=lambda: dict(N_CHANNELS))
    n_samples: int = EPOCH_SAMPLES
    n_filters: int = 8
    kernel_size: int = 64
    pool_size: int = 16
    dropout: float = 0.5
    lstm_hidden: int = 20
    window: int = 8
    n_classes: int = len(STAGES)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ModelError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        given = tuple(self.n_channels)
        if not given or given != tuple(r for r in ROLES if r in self.n_channels):
            raise ModelError(f"n_channels must give some of {ROLES}, in that order, got {given}")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities the network has a block for, in the order ``eeg``, ``eog``, ``emg``."""
        return tuple(self.n_channels)

    @property
    def total_channels(self) -> int:
        """Input rows over all modalities (5 for the published network)."""
        return sum(self.n_channels.values())

    def to_dict(self) -> dict:
        """The config as a JSON-ready dict (as checkpoints store it).

        Returns
        -------
        dict
        """
        return asdict(self)


class ModalityBlock(nn.Module):
    """One modality: spatial mixing of its channels, then two temporal convolutions.

    Input ``(N, C, T)``; output ``(N, F * C * L)`` where ``L`` is the length left after two
    convolution + max-pool stages. With one channel (EMG) there is no spatial layer. The layers are ordinary
    ``nn`` modules (their state dict is the published one); :meth:`forward` computes them the fast way of
    :mod:`stqs_core.fastconv`, :meth:`reference_forward` the plain way.

    Parameters
    ----------
    n_channels : int
        The modality's channels ``C``.
    n_samples : int
        Samples per epoch ``T``.
    n_filters : int
        Filters per temporal convolution ``F``.
    kernel_size : int
        Taps per temporal convolution.
    pool_size : int
        Max-pool size after each temporal convolution.
    dropout : float
        Dropout probability on the output.
    """

    def __init__(
        self, n_channels: int, n_samples: int, n_filters: int, kernel_size: int, pool_size: int, dropout: float
    ):
        super().__init__()
        self.n_channels = n_channels
        self.spatial = None
        if n_channels > 1:  # a (C, 1) convolution is a 1x1 Conv1d over channels
            self.spatial = nn.Sequential(nn.Conv1d(n_channels, n_channels, 1), nn.BatchNorm1d(n_channels), nn.ReLU())
        self.temporal1 = _temporal(1, n_filters, kernel_size, pool_size)
        self.temporal2 = _temporal(n_filters, n_filters, kernel_size, pool_size)
        self.dropout = nn.Dropout(dropout)
        length = ((n_samples - kernel_size + 1) // pool_size - kernel_size + 1) // pool_size
        if length < 1:
            raise ModelError(
                f"{n_samples} samples are too few for two kernels of {kernel_size} and pools of {pool_size}"
            )
        self.out_features = n_filters * n_channels * length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch of epochs (fast path, :mod:`stqs_core.fastconv`).

        Parameters
        ----------
        x : torch.Tensor, shape (N, C, T)
            Preprocessed epochs of this modality.

        Returns
        -------
        torch.Tensor, shape (N, F * C * L)
        """
        return self._run(x, spatial_layer, temporal_layer)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` through the plain ``nn`` layers (slow on CPU; the definition the fast path matches).

        Parameters
        ----------
        x : torch.Tensor, shape (N, C, T)
            Preprocessed epochs of this modality.

        Returns
        -------
        torch.Tensor, shape (N, F * C * L)
        """

        def plain(h, layers):
            return layers(h)

        return self._run(x, plain, plain)

    def _run(self, x: torch.Tensor, spatial, temporal) -> torch.Tensor:
        n, c, t = x.shape
        if self.spatial is not None:
            x = spatial(x, self.spatial)
        x = temporal(temporal(x.reshape(n * c, 1, t), self.temporal1), self.temporal2)  # (N*C, F, L)
        x = x.reshape(n, c, x.shape[1], x.shape[2]).transpose(1, 2)  # (N, F, C, L): the published flatten order
        return self.dropout(x.reshape(n, -1))


def _temporal(n_in: int, n_out: int, kernel_size: int, pool_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(n_in, n_out, kernel_size), nn.BatchNorm1d(n_out), nn.ReLU(), nn.MaxPool1d(pool_size))


class SequenceHead(nn.Module):
    """Bi-LSTM over windows of consecutive epochs, optionally with a residual projection.

    Parameters
    ----------
    in_features : int
        Features per epoch (400 for the published CNN).
    hidden : int
        Hidden units per direction.
    window : int
        Epochs per window in :meth:`night`.
    residual : bool
        Add a projection (linear, batch norm, ReLU) of the input to the LSTM's output.
    """

    def __init__(self, in_features: int, hidden: int, window: int, residual: bool):
        super().__init__()
        self.window = window
        self.lstm = nn.LSTM(in_features, hidden, batch_first=True, bidirectional=True)
        self.residual = None
        if residual:
            self.residual = nn.Sequential(nn.Linear(in_features, 2 * hidden), nn.BatchNorm1d(2 * hidden), nn.ReLU())
        self.out_features = 2 * hidden

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Run over a batch of windows from a given state.

        Parameters
        ----------
        x : torch.Tensor, shape (B, L, in_features)
            Windows of ``L`` consecutive epochs' features.
        state : tuple of torch.Tensor or None
            ``(h, c)``, each ``(2, B, hidden)``; None for zeros.

        Returns
        -------
        out : torch.Tensor, shape (B, L, 2 * hidden)
        state : tuple of torch.Tensor
            The final ``(h, c)``, to be passed with the next window.
        """
        out, state = self.lstm(x, state)
        if self.residual is not None:
            b, length, f = x.shape
            out = out + self.residual(x.reshape(b * length, f)).reshape(b, length, -1)
        return out, state

    def night(self, features: torch.Tensor) -> torch.Tensor:
        """Run over one recording in non-overlapping windows, the state carried from window to window.

        The state starts at zeros; a last window shorter than ``window`` is read as it is (nothing padded,
        nothing dropped).

        Parameters
        ----------
        features : torch.Tensor, shape (N, in_features)
            The features of the recording's epochs, in order.

        Returns
        -------
        torch.Tensor, shape (N, 2 * hidden)
        """
        state = None
        outputs = []
        for start in range(0, features.shape[0], self.window):
            out, state = self(features[None, start : start + self.window], state)
            outputs.append(out[0])
        return torch.cat(outputs)


class STQS(nn.Module):
    """The STQS stager: one :class:`ModalityBlock` per modality, optional :class:`SequenceHead`, a linear classifier.

    Input ``(N, R, T)``: the preprocessed epochs of one recording in order, ``R`` rows of the modalities the model
    has (:attr:`STQSConfig.total_channels`): EEG, EEG, EOG, EOG, EMG for the published network, EEG, EEG for an
    EEG-only one. Features ``(N, 400)`` for the published network are ``(N, 160)`` for an EEG-only one.

    Parameters
    ----------
    config : STQSConfig or None
        Hyper-parameters; None for the published defaults.
    info : dict or None
        What a checkpoint knows beyond weights (channel names, sampling rate, model card).

    Examples
    --------
    >>> import numpy as np
    >>> from stqs_core import STQS, STQSConfig
    >>> model = STQS(STQSConfig(variant="cnn"))
    >>> model.predict_proba(np.zeros((4, 5, 3750), np.float32)).shape
    (4, 5)
    """

    def __init__(self, config: STQSConfig | None = None, info: dict | None = None):
        super().__init__()
        self.config = config = config or STQSConfig()
        self.info = dict(info or {})
        self.blocks = nn.ModuleDict(
            {
                role: ModalityBlock(
                    n, config.n_samples, config.n_filters, config.kernel_size, config.pool_size, config.dropout
                )
                for role, n in config.n_channels.items()
            }
        )
        n_features = sum(block.out_features for block in self.blocks.values())
        self.head = None
        if config.variant != "cnn":
            self.head = SequenceHead(
                n_features, config.lstm_hidden, config.window, residual=config.variant == "cnnlstm-residual"
            )
            n_features = self.head.out_features
        self.classifier = nn.Linear(n_features, config.n_classes)

    @property
    def name(self) -> str:
        """The model card's ``name``, else its ``file``; empty for a model without either."""
        card = self.info.get("model_card")
        card = card if isinstance(card, dict) else {}
        return str(card.get("name") or card.get("file") or "")

    def features(self, x: torch.Tensor, reference: bool = False) -> torch.Tensor:
        """Per-epoch CNN features, the modalities' blocks concatenated in the order EEG, EOG, EMG.

        Parameters
        ----------
        x : torch.Tensor, shape (N, R, T)
            Preprocessed epochs.
        reference : bool
            Compute through the plain ``nn`` layers (:meth:`ModalityBlock.reference_forward`), for checks.

        Returns
        -------
        torch.Tensor, shape (N, n_features)
        """
        parts, row = [], 0
        for block in self.blocks.values():
            rows = x[:, row : row + block.n_channels]
            parts.append(block.reference_forward(rows) if reference else block(rows))
            row += block.n_channels
        return torch.cat(parts, dim=1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from the features of one recording's epochs, in order.

        Parameters
        ----------
        features : torch.Tensor, shape (N, n_features)
            As :meth:`features` returns.

        Returns
        -------
        torch.Tensor, shape (N, 5)
        """
        if self.head is not None:
            features = self.head.night(features)
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the epochs of one recording, in order.

        Parameters
        ----------
        x : torch.Tensor, shape (N, R, T)
            Preprocessed epochs.

        Returns
        -------
        torch.Tensor, shape (N, 5)
        """
        return self.classify(self.features(x))

    @torch.inference_mode()
    def predict_logits(self, epochs, batch_size: int = 64) -> np.ndarray:
        """Logits of the preprocessed epochs of one recording, in order.

        The CNN runs in chunks of ``batch_size`` epochs so that memory stays flat on long nights. The model runs
        in eval mode; each submodule's training mode is restored afterwards.

        Parameters
        ----------
        epochs : ndarray or torch.Tensor, shape (N, R, T) or (N, 1, R, T)
            Preprocessed epochs (:func:`~stqs_core.preprocess.make_epochs`).
        batch_size : int
            Epochs per CNN call.

        Returns
        -------
        ndarray of float32, shape (N, 5)

        Raises
        ------
        StqsError
            When an epoch holds NaN or inf.
        ModelError
            When the model's scores of finite epochs are not finite (non-finite or overflowing weights).
        """
        x = self._as_input(epochs)
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            features = torch.cat([self.features(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
            logits = self.classify(features)
        finally:
            for module, training in modes:
                module.training = training
        finite = torch.isfinite(logits).all(1)
        if not finite.all():
            bad = (~finite).nonzero().flatten().tolist()
            raise ModelError(
                f"{self.name or 'the model'} gives NaN or inf stage scores for {len(bad)} of {len(x)} finite epochs "
                f"(first: epoch {bad[0]}): its weights hold non-finite values or overflow; use another model "
                "or train it again"
            )
        return logits.numpy()

    def predict_proba(self, epochs, batch_size: int = 64) -> np.ndarray:
        """Softmax stage probabilities of the preprocessed epochs of one recording, in order.

        Parameters
        ----------
        epochs : ndarray or torch.Tensor, shape (N, R, T) or (N, 1, R, T)
            Preprocessed epochs (:func:`~stqs_core.preprocess.make_epochs`).
        batch_size : int
            Epochs per CNN call.

        Returns
        -------
        ndarray of float32, shape (N, 5)
            Columns W, N1, N2, N3, REM; rows sum to 1.
        """
        logits = torch.from_numpy(self.predict_logits(epochs, batch_size))
        return torch.softmax(logits, dim=1).numpy()

    def _as_input(self, epochs) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(epochs), dtype=torch.float32)
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        expected = (self.config.total_channels, self.config.n_samples)
        if x.ndim != 3 or tuple(x.shape[1:]) != expected:
            raise StqsError(
                f"epochs must have shape (N, {expected[0]}, {expected[1]}) or "
                f"(N, 1, {expected[0]}, {expected[1]}); got {tuple(x.shape)}. "
                "Use stqs_core.preprocess.make_epochs to cut a recording into epochs."
            )
        if len(x) == 0:
            raise StqsError("no epochs to score: a recording needs at least one 30-s epoch")
        finite = torch.isfinite(x).flatten(1).all(1)
        if not finite.all():
            bad = (~finite).nonzero().flatten().tolist()
            raise StqsError(
                f"{len(bad)} of {len(x)} epochs hold NaN or inf values (first: epoch {bad[0]}); preprocess the "
                "recording with stqs_core.make_epochs, which sets NaN samples to 0 and flags them"
            )
        return x.contiguous()


def keep_modalities(model: STQS, modalities) -> STQS:
    """A copy of ``model`` with the blocks of ``modalities`` only: the others are absent, not fed with zeros.

    The kept blocks are the model's own. The layer that reads the concatenated features (the classifier, or the
    bi-LSTM's input weights and residual projection) keeps the columns of the kept blocks' features, so the absent
    modalities contribute nothing: the scores of a model that never saw them. A model trained for the subset
    (:mod:`stqs_core.subsets`) usually does better; this is where such a model starts.

    Parameters
    ----------
    model : STQS
        A model with every block of ``modalities``.
    modalities : sequence of str
        Modalities to keep, some of ``eeg``, ``eog``, ``emg``.

    Returns
    -------
    STQS
        A new model in eval mode; ``info["model_card"]`` records the base model and the kept modalities.

    Raises
    ------
    ModelError
        For a modality the model has no block for, or none at all.

    Examples
    --------
    >>> from stqs_core.model import STQS, STQSConfig, keep_modalities
    >>> eeg_only = keep_modalities(STQS(STQSConfig(variant="cnn")), ["eeg"])
    >>> eeg_only.config.n_channels, eeg_only.classifier.in_features
    ({'eeg': 2}, 160)
    """
    wanted = tuple(r for r in ROLES if r in set(modalities))
    unknown = sorted(set(modalities) - set(model.config.modalities))
    if unknown or not wanted:
        raise ModelError(f"cannot keep {sorted(set(modalities))}: the model has blocks for {model.config.modalities}")
    config = STQSConfig(**{**model.config.to_dict(), "n_channels": {r: model.config.n_channels[r] for r in wanted}})
    card = dict(model.info.get("model_card") or {})
    card["modalities"] = list(wanted)
    card["base_model"] = card.get("name") or card.get("file")
    info = {**model.info, "model_card": card}
    if isinstance(info.get("channels"), dict):
        info["channels"] = {r: names for r, names in info["channels"].items() if r in wanted}
    subset = STQS(config, info)
    columns, at = [], 0
    for role, block in model.blocks.items():
        if role in wanted:
            columns.extend(range(at, at + block.out_features))
        at += block.out_features
    columns = torch.tensor(columns)
    lstm_inputs = ("head.lstm.weight_ih_l0", "head.lstm.weight_ih_l0_reverse", "head.residual.0.weight")
    readers = ("classifier.weight",) if model.head is None else lstm_inputs  # the weights that read the features
    state = {
        key: tensor[:, columns] if key in readers else tensor
        for key, tensor in model.state_dict().items()
        if not key.startswith("blocks.") or key.split(".")[1] in wanted
    }
    subset.load_state_dict(state)
    return subset.eval()
