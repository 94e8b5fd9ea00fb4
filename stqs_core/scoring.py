"""One call from a recording to a scored hypnogram; the CLI, notebooks and dashboard all go through here."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._atomic import atomic_path, json_safe
from .adapt import DEFAULT_METHOD, METHODS, MIN_EPOCHS, OOD_WARN, adapt_model, confidence, normalised_entropy, ood_score
from .annotations import fit_to_length
from .checkpoint import DEFAULT_MODEL, load_model
from .constants import EPOCH_SEC, ROLES, STAGES
from .edf import write_edf
from .errors import ChannelError, ModelError, OutputError, check_option, check_range
from .hypnogram import stage_names
from .model import STQS, keep_modalities
from .preprocess import Epochs, make_epochs
from .recording import Recording, read_recording
from .sleepstats import sleep_statistics

if TYPE_CHECKING:
    from .interpret.triage import Triage

logger = logging.getLogger(__name__)


@dataclass
class ScoredNight:
    """The result of scoring one recording (:func:`score_file`, :func:`score_recording`).

    Parameters
    ----------
    name : str
        The recording's name.
    proba : ndarray of float32, shape (n_epochs, 5)
        Softmax stage probabilities per 30-s epoch, columns W, N1, N2, N3, REM; ``stages`` is their argmax.
    true : ndarray of int, shape (n_epochs,), or None
        The expert stages (-1 unscored), or None.
    flags : dict
        The epochs with NaN or flat channels (:class:`~stqs_core.preprocess.Epochs`).
    model : str
        The model's name.
    adaptation : str or None
        The label-free adaptation method used (:mod:`stqs_core.adapt`), or None.
    ood_score : float or None
        How far the recording lies from the model's training data (0 alike, towards 1 far; None for recordings
        too short to tell).
    review_below : float or None
        Epochs whose confidence (highest stage probability) is below it are marked for review.
    triage : Triage or None
        The evidence triage (:class:`~stqs_core.interpret.triage.Triage`: each epoch's deciding evidence against
        the AASM rule of its stage), or None.
    inputs : dict
        What was scored and why (:func:`choose_model`): ``modalities`` present and scored, ``missing`` ones,
        ``channels`` (the file's channels per modality) and ``why`` (the model's choice, in words).
    """

    name: str
    proba: np.ndarray
    true: np.ndarray | None = None
    flags: dict = field(default_factory=dict)
    model: str = ""
    adaptation: str | None = None
    ood_score: float | None = None
    review_below: float | None = None
    triage: Triage | None = None
    inputs: dict = field(default_factory=dict)

    @property
    def stages(self) -> np.ndarray:
        """The predicted stages ``(n_epochs,)``: the argmax of ``proba``."""
        return self.proba.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """Per-epoch confidence ``(n_epochs,)``: the highest stage probability, in [0.2, 1]."""
        return confidence(self.proba)

    @property
    def entropy(self) -> np.ndarray:
        """Per-epoch normalised entropy ``(n_epochs,)`` of the stage probabilities: 0 certain, 1 all stages alike."""
        return normalised_entropy(self.proba)

    @property
    def review(self) -> np.ndarray | None:
        """Epochs a scorer should look at first ``(n_epochs,)`` bool (confidence below ``review_below``), or None."""
        return None if self.review_below is None else self.confidence < self.review_below

    def summary(self) -> dict:
        """The night in numbers, JSON-ready.

        Returns
        -------
        dict
            Model, what was scored (``modalities``, ``missing``, ``channels``, ``why``), epoch count, predicted
            stage shares, adaptation, out-of-domain score, mean confidence, epochs to
            review, epochs whose evidence contradicts the AASM rule (``n_flagged``, with
            triage), sleep statistics (:func:`~stqs_core.sleepstats.sleep_statistics`: minutes and %, None where
            undefined), and accuracy/kappa and the expert's sleep statistics when the expert stages are known.
        """
        stages = self.stages
        out = {
            "recording": self.name,
            "model": self.model,
            **self.inputs,
            "n_epochs": int(len(stages)),
            "predicted_share": {s: round(float(np.mean(stages == i)), 4) for i, s in enumerate(STAGES)},
            "adaptation": self.adaptation,
            "ood_score": None if self.ood_score is None else round(float(self.ood_score), 4),
            "mean_confidence": round(float(self.confidence.mean()), 4),
        }
        if self.review_below is not None:
            out.update(review_below=self.review_below, n_review=int(self.review.sum()))
        if self.triage is not None:
            out["n_flagged"] = int((~self.triage.per_epoch.rule_ok).sum())
        out["sleep_statistics"] = {k: json_safe(round(v, 4)) for k, v in sleep_statistics(stages).items()}
        if self.true is not None:
            from .metrics import agreement

            out.update(agreement(self.true, stages))
            out["expert_sleep_statistics"] = {k: json_safe(round(v, 4)) for k, v in sleep_statistics(self.true).items()}
        return out

    def to_frame(self):
        """One row per epoch (the CSV's columns).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        return pd.DataFrame(self._columns())

    def _columns(self) -> dict[str, list]:
        cols: dict[str, list] = {
            "epoch": list(range(len(self.proba))),
            "onset_s": [i * EPOCH_SEC for i in range(len(self.proba))],
            "stage": [STAGES[s] for s in self.stages],
        }
        for i, s in enumerate(STAGES):
            cols[f"prob_{s}"] = [round(float(p), 5) for p in self.proba[:, i]]
        cols["confidence"] = [round(float(c), 5) for c in self.confidence]
        cols["entropy"] = [round(float(e), 5) for e in self.entropy]
        if self.review is not None:
            cols["review"] = [bool(r) for r in self.review]
        if self.true is not None:
            cols["true_stage"] = stage_names(self.true)
        if self.triage is not None:
            cols.update(triage_columns(self.triage.per_epoch))
        return cols

    def to_annotations(self):
        """The predicted stages as ``mne.Annotations`` (``Sleep stage W/N1/N2/N3/R``, one per run).

        Returns
        -------
        mne.Annotations
        """
        from .exports import to_annotations

        return to_annotations(self.stages)

    def to_yasa(self):
        """The predicted stages as a ``yasa.Hypnogram`` with the probabilities as its ``proba`` (needs YASA).

        Returns
        -------
        yasa.Hypnogram
        """
        from .exports import to_yasa

        return to_yasa(self.stages, self.proba, scorer=self.model or "STQS")

    def write(self, path: str | Path) -> Path:
        """Write the night to a file, atomically; its suffix chooses the format.

        ``.csv`` (one row per epoch), ``.json`` (summary and columns), ``.edf`` (EDF+ stage annotations, plus one
        ``STQS confidence …, entropy …[, review]`` annotation per epoch and one ``STQS …`` summary annotation at the
        start), ``.tsv`` (BIDS-style events with probabilities) or ``.xml`` (NSRR).

        Parameters
        ----------
        path : str or Path
            The file.

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        OutputError
            For another suffix.
        """
        from .exports import write_events_tsv, write_nsrr_xml

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".edf":
            return write_edf(path, stages=self.stages, events=self._edf_events())
        if suffix == ".tsv":
            return write_events_tsv(path, self.stages, self.proba)
        if suffix == ".xml":
            return write_nsrr_xml(path, self.stages)
        if suffix not in (".csv", ".json"):
            raise OutputError(f"cannot write {path}: the output must end in .csv, .json, .edf, .tsv or .xml")
        with atomic_path(path) as tmp:
            if suffix == ".json":
                tmp.write_text(
                    json.dumps({**self.summary(), "epoch_sec": EPOCH_SEC, "flags": self.flags, **self._columns()})
                )
            else:
                cols = self._columns()
                with open(tmp, "w", newline="") as f:
                    writer = csv.writer(f)
                    writer.writerow(cols)
                    writer.writerows(zip(*cols.values()))
        return path

    def _edf_events(self) -> list[tuple[float, float, str]]:
        s = self.summary()
        ood = "n/a" if s["ood_score"] is None else f"{s['ood_score']:.3f}"
        head = (
            f"STQS model {self.model or '?'}, adaptation {self.adaptation or 'none'}, ood_score {ood}, "
            f"mean confidence {s['mean_confidence']:.3f}"
        )
        events = [(0.0, 0.0, head)]
        review = self.review if self.review is not None else np.zeros(len(self.proba), bool)
        for i, (c, e, r) in enumerate(zip(self.confidence, self.entropy, review)):
            events.append(
                (i * EPOCH_SEC, EPOCH_SEC, f"STQS confidence {c:.2f}, entropy {e:.2f}" + ", review" * bool(r))
            )
        return events


def triage_columns(per_epoch) -> dict[str, list]:
    """The output columns of an evidence triage table.

    Parameters
    ----------
    per_epoch : DataFrame
        :attr:`~stqs_core.interpret.triage.Triage.per_epoch`, one row per 30-s epoch.

    Returns
    -------
    dict of str to list
        ``deciding_evidence``, ``deciding_drop``, ``rule_evidence``, ``rule_drop`` (drops in the predicted stage's
        probability, 0-1; None where the rule is not testable), ``rule_ok``, ``key_second`` (second of the epoch, None
        where not computed) and ``triage_reason``, one value per epoch each.
    """
    return {
        "deciding_evidence": per_epoch.deciding_evidence.tolist(),
        "deciding_drop": [round(float(v), 4) for v in per_epoch.deciding_drop],
        "rule_evidence": per_epoch.rule_evidence.tolist(),
        "rule_drop": [None if v != v else round(float(v), 4) for v in per_epoch.rule_drop],
        "rule_ok": [bool(v) for v in per_epoch.rule_ok],
        "key_second": [None if v != v else int(v) for v in per_epoch.key_second],
        "triage_reason": per_epoch.reason.tolist(),
    }


MODEL_FOR: dict[tuple[str, ...], tuple[str, str]] = {
    ROLES: (DEFAULT_MODEL, "the published SHHS model for a full PSG"),
    ("eeg", "eog"): (
        "shhs-oversampling-cnn",
        "the published SHHS model's EEG and EOG blocks; its EMG block is absent (best of the published models "
        "on simulated nights without EMG)",
    ),
    ("eeg", "emg"): (
        "shhs-oversampling-cnn",
        "the published SHHS model's EEG and EMG blocks; its EOG block is absent (best of the published models "
        "on simulated nights without EOG)",
    ),
    ("eeg",): (
        "shhs-cnn",
        "the EEG block of the published SHHS CNN; its EOG and EMG blocks are absent (best of the published models "
        "on real single-EEG recordings, chosen leaving each recording out)",
    ),
}
"""The model that scores a recording with these modalities when none is given: name, and why."""


def choose_model(modalities, model: STQS | str | Path | None = None) -> tuple[STQS, str]:
    """The model that scores a recording with ``modalities``, with the blocks of those modalities only, and why.

    With ``model=None`` it is :data:`MODEL_FOR`'s model for the modalities. A model with a block the recording
    has no signal for scores without that block (:func:`~stqs_core.model.keep_modalities`); a modality the model
    has no block for is not scored.

    Parameters
    ----------
    modalities : sequence of str
        The recording's modalities, some of ``eeg``, ``eog``, ``emg`` (EEG among them).
    model : STQS or str or Path or None
        A model, a model file or name; None chooses one.

    Returns
    -------
    model : STQS
        The model to score with (a new one when blocks were left out; ``model`` itself otherwise).
    why : str
        The choice, in words.

    Raises
    ------
    ChannelError
        When no model is chosen for the modalities (no EEG), or the model and the recording share none.
    """
    present = tuple(r for r in ROLES if r in set(modalities))
    chosen = model is None
    if chosen:
        if present not in MODEL_FOR:
            raise ChannelError(f"no model is chosen for {'+'.join(present).upper() or 'no signal'}: name one (--model)")
        name, why = MODEL_FOR[present]
        model = load_model(name)
        why = f"{name}: {why}"
    else:
        if not isinstance(model, STQS):
            model = load_model(model)
        why = f"{model.name or 'the model'}, as asked"
    used = tuple(r for r in model.config.modalities if r in present)
    if not used:
        raise ChannelError(
            f"{model.name or 'the model'} reads {', '.join(model.config.modalities).upper()} and the recording has "
            f"only {', '.join(present).upper()}: choose another model (stqs models list) or let STQS choose "
            "(no --model)"
        )
    if used != model.config.modalities:
        absent = [r.upper() for r in model.config.modalities if r not in used]
        model = keep_modalities(model, used)
        if not chosen:  # a chosen model's own words already say so
            why += f"; without its {' and '.join(absent)} block{'s' * (len(absent) > 1)} (no such signal in the file)"
    unused = [r.upper() for r in present if r not in used]
    if unused:
        why += f"; {' and '.join(unused)} not scored (the model has no block for {'them' if len(unused) > 1 else 'it'})"
    return model, why


def recording_epochs(recording: Recording, modalities=None) -> tuple[Epochs, np.ndarray | None]:
    """The network input of a recording, and its expert stages fitted to the epochs.

    Parameters
    ----------
    recording : Recording
        The recording.
    modalities : sequence of str or None
        The modalities to keep (a model's :attr:`~stqs_core.model.STQSConfig.modalities`); None keeps all.

    Returns
    -------
    epochs : Epochs
        :func:`~stqs_core.preprocess.make_epochs` of the recording's rows of those modalities.
    true : ndarray of int, shape (n_epochs,), or None
        The expert stages (-1 unscored), or None without a hypnogram.
    """
    kept = recording if modalities is None else recording.keep(modalities)
    epochs = make_epochs(kept.data, kept.sfreq, kept.channel_names, kept.roles)
    true = None
    if recording.hypnogram is not None:
        true = fit_to_length(recording.hypnogram, len(epochs.data), recording.name)
    return epochs, true


def score_recording(
    recording: Recording,
    model: STQS | str | Path | None = None,
    batch_size: int = 64,
    adapt: bool | str = False,
    review_below: float | None = None,
    triage: bool = False,
) -> ScoredNight:
    """Preprocess and score one :class:`~stqs_core.recording.Recording`.

    Parameters
    ----------
    recording : Recording
        The recording (rows of its modalities in µV).
    model : STQS | str | Path | None
        A model, a model file or a shipped model's name. It is never modified. None chooses the model for the
        recording's modalities (:func:`choose_model`).
    batch_size : int
        Epochs per CNN call.
    adapt : bool | str
        Adapt a copy of the model to this recording without labels before scoring (:func:`~stqs_core.adapt.
        adapt_model`): True for the default method (:data:`~stqs_core.adapt.DEFAULT_METHOD`), or a method name.
    review_below : float | None
        Mark the epochs whose confidence (highest stage probability) is below this for review.
    triage : bool
        Also find each epoch's deciding evidence and check it against the AASM rule of its stage
        (:func:`~stqs_core.interpret.triage.evidence_triage`, with the key second of the flagged epochs): 15
        rescored nights, about 10-15 ms an epoch on one core, plus 0.1-0.3 s per flagged epoch.

    Returns
    -------
    ScoredNight
        With its ``ood_score`` and ``inputs`` (what was scored, and why); a warning is logged when the
        ``ood_score`` exceeds :data:`~stqs_core.adapt.OOD_WARN`.

    Raises
    ------
    ModelError
        When the model's stage probabilities or out-of-domain score are not finite (nothing is scored).
    """
    method = DEFAULT_METHOD if adapt is True else (adapt or None)
    if method is not None:
        check_option("adapt", method, METHODS)
    if review_below is not None:
        check_range("review_below", review_below, 0, 1)
    model, why = choose_model(recording.modalities, model)
    used = model.config.modalities
    eeg_only = used == ("eeg",)
    logger.info("%s: scored with %s", recording.name, why)
    inputs = {
        "modalities": list(used),
        "missing": [r for r in ROLES if r not in recording.modalities],
        "channels": {
            role: list(dict.fromkeys(n for n, r in zip(recording.channel_names, recording.roles) if r == role))
            for role in used
        },
        "why": why,
    }
    if method is not None and eeg_only:
        logger.warning(
            "%s: adapting an EEG-only model: on real single-EEG recordings no adaptation method raised Cohen's "
            "kappa on average (docs/real_eeg.md); compare with a run without --adapt",
            recording.name,
        )
    epochs, true = recording_epochs(recording, used)
    name = model.name
    ood, scorer = None, model
    proba = model.predict_proba(epochs.data, batch_size=batch_size)
    if len(epochs.data) >= MIN_EPOCHS:
        ood = ood_score(model, epochs.data, proba, batch_size=batch_size)
        if not np.isfinite(ood):
            raise ModelError(
                f"{recording.name}: {name or 'the model'}'s out-of-domain score is {ood}: its batch-norm statistics "
                "or weights are not finite; use another model or train it again"
            )
        if method is not None:
            scorer = adapt_model(model, epochs.data, method, batch_size)
    elif method is not None:
        logger.warning(
            "%s: %d epochs are too few to adapt to (at least %d); scored without adaptation",
            recording.name,
            len(epochs.data),
            MIN_EPOCHS,
        )
        method = None
    if ood is not None and ood > OOD_WARN and method is None:
        logger.warning(
            "%s lies far from %s's training data (ood_score %.2f > %.2f): %sfine-tune it on a few scored nights "
            "of your lab (stqs finetune)",
            recording.name,
            name or "the model",
            ood,
            OOD_WARN,
            "" if eeg_only else "adapt the model to it (stqs score --adapt) or ",
        )
    if scorer is not model:
        proba = scorer.predict_proba(epochs.data, batch_size=batch_size)
    evidence = None
    if triage:
        from .interpret.triage import evidence_triage

        evidence = evidence_triage(scorer, epochs.data)
    return ScoredNight(recording.name, proba, true, epochs.flags, name, method, ood, review_below, evidence, inputs)


def score_file(
    path: str | Path,
    model: STQS | str | Path | None = None,
    eeg: list[str] | None = None,
    eog: list[str] | None = None,
    emg: list[str] | None = None,
    preset: str | None = None,
    annotations: str | Path | None = None,
    adapt: bool | str = False,
    review_below: float | None = None,
    triage: bool = False,
) -> ScoredNight:
    """Read a PSG file and score it (``stqs score`` does the same from the command line).

    Parameters
    ----------
    path : str or Path
        An EDF, EDF+ or BDF file.
    model : STQS or str or Path or None
        A model, a model file or a shipped or published model's name. It is never modified. None chooses the
        model for the modalities the file has (:func:`choose_model`): any file with an EEG channel is scored.
    eeg, eog, emg : list of str or None
        Channel names per role (see :func:`~stqs_core.recording.read_recording`); None finds them by name.
    preset : str or None
        ``"shhs"``, ``"sleep-edf"`` or ``"aasm"``; None tries each.
    annotations : str or Path or None
        A hypnogram file for accuracy and kappa; None uses the stage annotations inside the file, if any.
    adapt : bool or str
        As in :func:`score_recording`: True or a method name adapts the model to the recording without labels.
    review_below : float or None
        As in :func:`score_recording`: epochs less confident than this (0-1) are marked for review.
    triage : bool
        As in :func:`score_recording`: add each epoch's deciding evidence and whether the AASM rule names it.

    Returns
    -------
    ScoredNight
        Stage probabilities ``(n_epochs, 5)`` per 30-s epoch and what was found about the night.

    Examples
    --------
    >>> from stqs_core import score_file
    >>> night = score_file("night.edf", preset="shhs", adapt=True, review_below=0.5)  # doctest: +SKIP
    >>> night.proba.shape  # stage probabilities per 30-s epoch, W N1 N2 N3 REM  # doctest: +SKIP
    (960, 5)
    >>> night.summary()["sleep_statistics"]["TST"]  # total sleep time (min)  # doctest: +SKIP
    412.5
    >>> night.ood_score  # 0 alike the model's training data, towards 1 far  # doctest: +SKIP
    0.21
    >>> night.write("night.csv")  # or .json, .edf (EDF+ annotations), .tsv (BIDS events), .xml (NSRR)  # doctest: +SKIP
    """
    recording = read_recording(
        path, eeg=eeg, eog=eog, emg=emg, preset=preset, annotations=annotations, required=("eeg",)
    )
    if model is not None and not isinstance(model, STQS):
        model = load_model(model)
    if model is not None and "SIMULATED" in str((model.info.get("model_card") or {}).get("training_data", "")):
        logger.warning(
            "%s was trained on simulated nights only: on real PSG let STQS choose a published SHHS model "
            "(no --model) or use a model trained on your own data (stqs train)",
            model.name or "this model",
        )
    return score_recording(recording, model, adapt=adapt, review_below=review_below, triage=triage)
