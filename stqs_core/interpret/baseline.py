"""The unoccluded pass of one night through one model, computed once and shared by the occlusion analyses.

An occlusion changes the input of some modalities of some epochs; everything else the network computes stays
as in the unoccluded pass. :class:`BaselinePass` keeps that pass (per-modality CNN features, probabilities and,
for sequence models, the bi-LSTM state entering each window of 8 epochs) so that each analysis recomputes only
the modality blocks whose input changed, and for sequence models the bi-LSTM over all variants of the night at
once (or only the window holding one epoch).

Make one per night and model and pass it to every analysis of that night (``baseline=``); an analysis given
none makes its own. Nothing is cached behind the caller's back: a pass lives as long as the caller keeps it.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..errors import StqsError, check_type
from ..model import STQS
from .bands import absent_modalities, modality_rows

logger = logging.getLogger(__name__)


class BaselinePass:
    """The unoccluded pass of one night: network, per-modality features, probabilities, bi-LSTM states.

    Puts ``model`` in eval mode. ``epochs`` is read, not copied, when it is float32: change neither the model's
    weights nor the epochs while the pass is in use (an analysis given a pass that no longer matches its model
    and epochs refuses it, see :meth:`matches`).

    Parameters
    ----------
    model : STQS
        A loaded model.
    epochs : array_like, shape (N, R, 3750)
        Preprocessed epochs of one night in order (z-scored as by :func:`~stqs_core.preprocess.make_epochs`), the
        rows of the model's modalities (R = 5 for the published model).
    batch_size : int
        Epochs per CNN call.

    Attributes
    ----------
    model : STQS
        The model.
    x : Tensor, shape (N, R, 3750)
        The epochs (float32).
    rows : dict of str to list of int
        Input rows of each modality the model has (:func:`~.bands.modality_rows`).
    absent : tuple of str
        The modalities the model has no block for (empty for the published model).
    features : Tensor, shape (N, F)
        CNN features, the model's modalities concatenated in role order (EEG, EOG, EMG; F = 400 published).
    slices : dict of str to slice
        Columns of ``features`` of each modality.
    states : list
        Sequence models: the bi-LSTM state entering each window of ``model.head.window`` epochs (None for the
        first); empty for the ``cnn`` variant.
    logits : Tensor, shape (N, 5)
        Logits of the night.
    proba : ndarray, shape (N, 5)
        Stage probabilities (float64).
    stages : ndarray, shape (N,)
        Predicted stages (0-4).

    Examples
    --------
    >>> from stqs_core import STQS, STQSConfig
    >>> from stqs_core.interpret import frequency_occlusion, time_occlusion
    >>> import numpy as np
    >>> model = STQS(STQSConfig(variant="cnn"))
    >>> epochs = np.random.default_rng(0).standard_normal((16, 5, 3750)).astype(np.float32)
    >>> baseline = BaselinePass(model, epochs)  # one pass of the whole night ...
    >>> bands = frequency_occlusion(model, epochs, baseline=baseline)  # ... shared by every analysis
    >>> window = time_occlusion(model, epochs, 3, baseline=baseline)
    >>> baseline.proba.shape
    (16, 5)
    """

    def __init__(self, model: STQS, epochs, batch_size: int = 128):
        self.x = model._as_input(epochs)
        self.batch_size = batch_size
        model.eval()
        self.model = model
        self._key = _fingerprint(model, self.x)
        self.rows = modality_rows(model.config)
        self.absent = absent_modalities(model.config)
        self.slices, start = {}, 0
        for role, block in self.model.blocks.items():
            self.slices[role] = slice(start, start + block.out_features)
            start += block.out_features
        logger.info("unoccluded pass of %d epochs (%s)", len(self.x), model.config.variant)
        with torch.inference_mode():
            self.features = torch.cat([self.block(role, self.x[:, rows]) for role, rows in self.rows.items()], dim=1)
            self.states = self._window_states()
            self.logits = self.classify(self.features[None])[0]
        self.proba = torch.softmax(self.logits, -1).numpy().astype(np.float64)
        self.stages = self.proba.argmax(1)

    def matches(self, model: STQS, epochs) -> bool:
        """Whether this is the pass of ``model`` (the same object, its weights unchanged) over ``epochs``.

        Compares checksums of the weights and of the epochs (a sum and a norm, float64) with those taken when
        the pass was made.

        Parameters
        ----------
        model : STQS
            The model an analysis is asked about.
        epochs : array_like, shape (N, R, 3750)
            The epochs an analysis is asked about.

        Returns
        -------
        bool
        """
        return _fingerprint(model, model._as_input(epochs)) == self._key

    @property
    def nbytes(self) -> int:
        """Memory the pass holds (bytes): features, states, logits, probabilities, stages (not the epochs)."""
        tensors = [self.features, self.logits, *(t for state in self.states if state is not None for t in state)]
        return sum(t.numel() * t.element_size() for t in tensors) + self.proba.nbytes + self.stages.nbytes

    def block(self, role: str, x: torch.Tensor) -> torch.Tensor:
        """Features of one modality's rows, in chunks of :attr:`batch_size` epochs.

        Parameters
        ----------
        role : str
            ``"eeg"``, ``"eog"`` or ``"emg"``.
        x : Tensor, shape (n, C, 3750)
            That modality's rows of ``n`` epochs.

        Returns
        -------
        Tensor, shape (n, F_role)
        """
        block = self.model.blocks[role]
        return torch.cat([block(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)])

    def _window_states(self) -> list:
        """The bi-LSTM state entering each window of the night (sequence models), None for the first."""
        head = self.model.head
        if head is None:
            return []
        states, state = [None], None
        for start in range(0, len(self.x), head.window):
            _, state = head(self.features[None, start : start + head.window], state)
            states.append(state)
        return states[:-1]

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of ``V`` variants of the night's features, all at once.

        Parameters
        ----------
        features : Tensor, shape (V, N, 400)
            Each variant's features of every epoch of the night.

        Returns
        -------
        Tensor, shape (V, N, 5)
        """
        head = self.model.head
        if head is None:
            return self.model.classifier(features)
        state, outputs = None, []
        for start in range(0, features.shape[1], head.window):
            out, state = head(features[:, start : start + head.window], state)
            outputs.append(out)
        return self.model.classifier(torch.cat(outputs, dim=1))

    def classify_epoch(self, index: int, features: torch.Tensor) -> torch.Tensor:
        """Logits of epoch ``index`` for ``W`` variants of its features, the rest of the night unchanged.

        Sequence models rerun only the bi-LSTM window holding the epoch, from the state the preceding windows
        leave (later windows do not affect this epoch's decision).

        Parameters
        ----------
        index : int
            The epoch (0 to N - 1).
        features : Tensor, shape (W, 400)
            The epoch's features in each variant.

        Returns
        -------
        Tensor, shape (W, 5)
        """
        head = self.model.head
        if head is None:
            return self.model.classifier(features)
        w = index // head.window
        start = w * head.window
        window = self.features[start : start + head.window].repeat(len(features), 1, 1)
        window[:, index - start] = features
        state = self.states[w]
        if state is not None:
            state = tuple(s.expand(-1, len(features), -1).contiguous() for s in state)
        out, _ = head(window, state)
        return self.model.classifier(out[:, index - start])

    def with_blocks(self, x: torch.Tensor, rows: list[int]) -> torch.Tensor:
        """The night's features with the blocks recomputed whose rows ``rows`` (in role order) are now ``x``.

        Parameters
        ----------
        x : Tensor, shape (N, len(rows), 3750)
            New input of those rows; every modality of ``rows`` must be given whole.
        rows : list of int
            Input rows (of :attr:`rows`) in role order.

        Returns
        -------
        Tensor, shape (N, F)
            A copy of :attr:`features` with those modalities' columns replaced.
        """
        features = self.features.clone()
        for role, own in self.rows.items():
            if own[0] in rows:
                at = rows.index(own[0])
                features[:, self.slices[role]] = self.block(role, x[:, at : at + len(own)])
        return features


def _fingerprint(model: STQS, x: torch.Tensor) -> tuple:
    """The model's identity, the epochs' shape, and float64 checksums of the weights and of the epochs."""
    with torch.no_grad():
        weights = tuple(float(t.double().sum()) for t in model.state_dict().values() if t.is_floating_point())
        data = (float(np.sum(x.numpy(), dtype=np.float64)), float(torch.linalg.vector_norm(x)))
    return id(model), tuple(x.shape), weights, data


def _baseline(model: STQS, epochs, baseline: BaselinePass | None) -> BaselinePass:
    """``baseline`` once checked to be the pass of ``model`` over ``epochs``; a new pass when it is None."""
    if baseline is None:
        return BaselinePass(model, epochs)
    check_type("baseline", baseline, BaselinePass)
    if not baseline.matches(model, epochs):
        raise StqsError(
            "baseline is the unoccluded pass of another model, other weights or other epochs; "
            "make a new one with BaselinePass(model, epochs)"
        )
    return baseline
