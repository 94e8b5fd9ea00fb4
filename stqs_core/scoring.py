"""One call from a recording to a scored hypnogram; the CLI, notebooks and dashboard all go through here."""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .annotations import fit_to_length, stage_name
from .checkpoint import DEFAULT_MODEL, load_model
from .constants import EPOCH_SEC, STAGES
from .errors import OutputError
from .model import STQS
from .preprocess import Epochs, make_epochs
from .recording import Recording, read_recording, write_edf

logger = logging.getLogger(__name__)


@dataclass
class ScoredNight:
    """The result of scoring one recording.

    ``proba`` ``(n_epochs, 5)`` softmax probabilities, ``stages`` ``(n_epochs,)`` their argmax, ``true``
    the expert stages (-1 unscored) or None, ``flags`` the epochs with NaN or flat channels.
    """

    name: str
    proba: np.ndarray
    true: np.ndarray | None = None
    flags: dict = field(default_factory=dict)
    model: str = ""

    @property
    def stages(self) -> np.ndarray:
        return self.proba.argmax(axis=1)

    def summary(self) -> dict:
        """Epoch count, predicted stage shares, and accuracy/kappa against the expert stages when known."""
        stages = self.stages
        out = {"recording": self.name, "model": self.model, "n_epochs": int(len(stages)),
               "predicted_share": {s: round(float(np.mean(stages == i)), 4) for i, s in enumerate(STAGES)}}
        if self.true is not None:
            from .metrics import agreement

            out.update(agreement(self.true, stages))
        return out

    def to_frame(self):
        """A pandas DataFrame, one row per epoch (the CSV's columns)."""
        import pandas as pd

        return pd.DataFrame(self._columns())

    def _columns(self) -> dict[str, list]:
        cols: dict[str, list] = {"epoch": list(range(len(self.proba))),
                                 "onset_s": [i * EPOCH_SEC for i in range(len(self.proba))],
                                 "stage": [STAGES[s] for s in self.stages]}
        for i, s in enumerate(STAGES):
            cols[f"prob_{s}"] = [round(float(p), 5) for p in self.proba[:, i]]
        if self.true is not None:
            cols["true_stage"] = [stage_name(t) for t in self.true]
        return cols

    def to_annotations(self):
        """The predicted stages as ``mne.Annotations`` (``Sleep stage W/N1/N2/N3/R``, one per run)."""
        from .exports import to_annotations

        return to_annotations(self.stages)

    def to_yasa(self):
        """The predicted stages as a ``yasa.Hypnogram`` with the probabilities as its ``proba`` (needs YASA)."""
        from .exports import to_yasa

        return to_yasa(self.stages, self.proba, scorer=self.model or "STQS")

    def write(self, path: str | Path) -> Path:
        """Write atomically as ``.csv`` (one row per epoch), ``.json``, ``.edf`` (EDF+ stage annotations), ``.tsv``
        (BIDS-style events with probabilities) or ``.xml`` (NSRR)."""
        from .exports import write_events_tsv, write_nsrr_xml

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".edf":
            return write_edf(path, stages=self.stages)
        if suffix == ".tsv":
            return write_events_tsv(path, self.stages, self.proba)
        if suffix == ".xml":
            return write_nsrr_xml(path, self.stages)
        if suffix not in (".csv", ".json"):
            raise OutputError(f"cannot write {path}: the output must end in .csv, .json, .edf, .tsv or .xml")
        with atomic_path(path) as tmp:
            if suffix == ".json":
                tmp.write_text(json.dumps({**self.summary(), "epoch_sec": EPOCH_SEC, "flags": self.flags,
                                           **self._columns()}))
            else:
                cols = self._columns()
                with open(tmp, "w", newline="") as f:
                    writer = csv.writer(f)
                    writer.writerow(cols)
                    writer.writerows(zip(*cols.values()))
        return path


def recording_epochs(recording: Recording) -> tuple[Epochs, np.ndarray | None]:
    """The network input of a recording (:func:`~stqs_core.preprocess.make_epochs`) and its expert stages
    ``(n_epochs,)`` fitted to the epochs (-1 unscored), or None without a hypnogram."""
    epochs = make_epochs(recording.data, recording.sfreq, recording.channel_names)
    true = None
    if recording.hypnogram is not None:
        true = fit_to_length(recording.hypnogram, len(epochs.data), recording.name)
    return epochs, true


def score_recording(recording: Recording, model: STQS | str | Path = DEFAULT_MODEL,
                    batch_size: int = 64) -> ScoredNight:
    """Preprocess and score one :class:`~stqs_core.recording.Recording`."""
    if not isinstance(model, STQS):
        model = load_model(model)
    epochs, true = recording_epochs(recording)
    proba = model.predict_proba(epochs.data, batch_size=batch_size)
    return ScoredNight(recording.name, proba, true, epochs.flags,
                       model.info.get("model_card", {}).get("name") or model.info.get("model_card", {}).get("file", ""))


def score_file(path: str | Path, model: STQS | str | Path = DEFAULT_MODEL, eeg: list[str] | None = None,
               eog: list[str] | None = None, emg: list[str] | None = None, preset: str | None = None,
               annotations: str | Path | None = None) -> ScoredNight:
    """Read a PSG file (channels by name, see :func:`~stqs_core.recording.read_recording`) and score it."""
    recording = read_recording(path, eeg=eeg, eog=eog, emg=emg, preset=preset, annotations=annotations)
    if not isinstance(model, STQS):
        model = load_model(model)
    if "SIMULATED" in str(model.info.get("model_card", {}).get("training_data", "")):
        logger.warning("%s was trained on simulated nights only: on real PSG prefer a published SHHS checkpoint "
                       "(the default, --model %s) or a model trained on your own data (stqs train)",
                       model.info["model_card"].get("name", "this model"), DEFAULT_MODEL)
    return score_recording(recording, model)
