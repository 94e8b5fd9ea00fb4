"""Train an STQS model on HDF5 epoch stores: split by recording, class-imbalance options, the two-stage recipe.

Stage ``cnn`` trains the CNN on shuffled batches of 30-s epochs (for sequence variants through a temporary
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
weights restored at its end (a *pass* is one sweep over the training data; ``epochs`` counts passes, its
name kept from the ``--epochs`` option and the saved cards). After every pass the complete state is written
atomically to ``<out>.resume``; ``train(..., resume=True)`` continues from it with the same result as an
uninterrupted run (each pass is seeded from ``(seed, stage, pass)``). Beside ``out`` go ``<stem>.history.csv`` (one row
per pass) and ``<stem>.training.json`` (settings, split, history, card).

The model card (``model.info["model_card"]``) holds ``variant``, ``imbalance``, ``data`` (stores, recordings,
epochs), ``split`` (recording names per set) and ``split_seed``, ``command`` (the ``stqs train`` call that
reproduces the model), ``date``, ``training`` (all settings), ``stages`` (passes run, best pass, early stop) and
``metrics`` (``validation`` / ``test``: accuracy, balanced accuracy, macro-F1, weighted F1, kappa, per stage),
plus the ``card`` fields given to :func:`train`.

Imbalance (:data:`~stqs_core.sampling.IMBALANCE`): ``oversampling`` resamples minority stages per recording
in the ``cnn`` stage (the ``sequence`` stage reads nights as they are, unweighted); the ``weighted-*`` options
weight the loss of both stages (and of the validation loss used for early stopping).

Modules: :mod:`.config` (:class:`TrainConfig`), :mod:`.recipe` (:func:`train`, :class:`TrainResult`: split, stages,
model card), :mod:`.loop` (the passes, early stopping and the resume file), :mod:`.logs` (history CSV, JSON).
"""

from .config import TrainConfig
from .recipe import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
