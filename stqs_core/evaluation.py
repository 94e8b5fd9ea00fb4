"""Evaluate a model on the recordings of epoch stores: one report (dict) that notebooks and the dashboard read.

Report keys (``report.json``; ``per_recording.csv`` holds the ``per_recording`` table):

- ``format`` ``"stqs-evaluation/1"``; ``date`` (UTC ISO); ``model`` ``{path, name, variant, imbalance,
  training_data}``; ``data`` (store paths); ``split`` (``"test"``, ``"validation"``, ``"train"`` or ``"all"``);
  ``recordings`` (names scored); ``adaptation`` (the label-free method each night was scored with, or None).
- ``n_recordings``, ``n_epochs``, ``n_scored`` (unscored epochs are left out of every metric).
- ``overall`` ``{accuracy, balanced_accuracy, macro_f1, weighted_f1, kappa}`` over all scored epochs pooled.
- ``per_stage`` ``{W|N1|N2|N3|REM: {precision, recall, f1, support}}``.
- ``confusion`` ``{labels, counts, normalised}``: 5x5 lists, rows true stage, columns predicted; ``counts``
  sums to ``n_scored``; ``normalised`` rows sum to 1.
- ``per_recording``: list of ``{recording, n_epochs, n_scored, accuracy, balanced_accuracy, macro_f1,
  weighted_f1, kappa, expert_<statistic>..., model_<statistic>...}``: the
  :func:`~stqs_core.sleepstats.sleep_statistics` of the expert's and of the model's hypnogram of the night (the
  model's with the expert's unscored epochs left unscored, so that both cover the same epochs; undefined values
  None); ``per_recording_spread`` ``{metric: {mean, sd, min, max}}``; ``best_recording`` and ``worst_recording``
  (by kappa).
- ``sleep_statistics_agreement``: :func:`~stqs_core.sleepstats.statistics_agreement` of expert (reference) and
  model over the recordings, a list of ``{statistic, reference_mean, other_mean, bias, sd, loa_low, loa_high, n,
  mae}`` (Bland-Altman: bias = mean of model - expert, limits of agreement bias -/+ 1.96 sd; also written as
  ``sleep_statistics_agreement.csv``).
- ``hypnograms`` ``{recording: {"true": [...], "pred": [...]}}`` stage codes per epoch (-1 unscored).
- ``human_reference``: :func:`read_human_reference`, how well expert scorers agree with each other (by default the
  stored figures of DOD-H's five experts, with their ``provenance``), or None.
- ``files`` (after :func:`write_report`): ``{json, csv, agreement, hypnograms, confusion}`` paths.
"""

from __future__ import annotations

import csv
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ._atomic import atomic_path, json_safe
from .adapt import DEFAULT_METHOD, MIN_EPOCHS, adapt_model
from .checkpoint import load_model
from .constants import STAGES, UNSCORED
from .errors import ModelError, StoreError, StqsError
from .metrics import SUMMARY, classification_metrics, inter_scorer_agreement, per_recording, spread
from .model import STQS
from .sampling import EpochSource
from .sleepstats import sleep_statistics, statistics_agreement

logger = logging.getLogger(__name__)

FORMAT = "stqs-evaluation/1"
SPLITS = ("test", "validation", "train", "all")
HUMAN_REFERENCE = Path(__file__).with_name("human_reference.json")
"""DOD-H's inter-scorer agreement (25 nights, 5 experts), stored with its provenance by
``scripts/derive_human_reference.py``."""


def read_human_reference(folder: str | Path | None = None) -> dict:
    """The human reference: how well expert scorers of the same nights agree with each other.

    Parameters
    ----------
    folder : str | Path | None
        A folder of ``scorer_*/<night>.json`` hypnograms (the DOD-H layout) to compute it from; None reads the
        stored DOD-H figures (:data:`HUMAN_REFERENCE`).

    Returns
    -------
    reference : dict
        :func:`~stqs_core.metrics.inter_scorer_agreement`'s ``n_nights``, ``scorers``, ``pairwise``,
        ``vs_consensus`` and ``summary`` (kappa and accuracy: mean, sd, min, max), and ``provenance``
        ``{source, n_files, date, script}``: where the figures come from and what computed them when.
    """
    if folder is None:
        return json.loads(HUMAN_REFERENCE.read_text())
    folder = Path(folder)
    if not folder.is_dir():
        raise StqsError(
            f"no human-reference folder {folder}: give a folder of scorer_*/<night>.json "
            "hypnograms, or leave it out for the stored DOD-H reference"
        )
    reference = inter_scorer_agreement(folder)
    del reference["folder"]
    provenance = {
        "source": str(folder),
        "n_files": len(list(folder.glob("scorer_*/*.json"))),
        "date": datetime.now(timezone.utc).date().isoformat(),
        "script": f"{__name__}.read_human_reference",
    }
    return {**reference, "provenance": provenance}


def predict_recordings(
    model: STQS, source: EpochSource, recordings: list[str], batch_size: int = 64, adapt: bool | str = False
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Score recordings of epoch stores, each night whole and in order.

    Parameters
    ----------
    model : STQS
        The model.
    source : EpochSource
        The stores.
    recordings : list of str
        Recording ids of ``source``.
    batch_size : int
        Epochs per CNN call.
    adapt : bool or str
        Score each night with a copy of ``model`` adapted to it without labels
        (:func:`~stqs_core.adapt.adapt_model`): True for the default method, or a method name.

    Returns
    -------
    dict
        ``{recording: (true, proba)}``: expert stages ``(n_epochs,)`` (-1 unscored) and probabilities
        ``(n_epochs, 5)``.
    """
    method = DEFAULT_METHOD if adapt is True else (adapt or None)

    def proba(x: np.ndarray) -> np.ndarray:
        if method is None or len(x) < MIN_EPOCHS:
            return model.predict_proba(x, batch_size)
        return adapt_model(model, x, method, batch_size).predict_proba(x, batch_size)

    return {rid: (source.labels(rid), proba(source.read(rid))) for rid in recordings}


def select_recordings(model: STQS, source: EpochSource, split: str) -> list[str]:
    """The recordings of a source in one of the model card's splits.

    Names are matched by store stem and recording name, then by recording name alone.

    Parameters
    ----------
    model : STQS
        A trained model whose card records its split by recording.
    source : EpochSource
        The stores.
    split : str
        ``"test"``, ``"validation"``, ``"train"``, or ``"all"`` for every recording of ``source``.

    Returns
    -------
    list of str
        Recording ids of ``source``.
    """
    if split not in SPLITS:
        raise StqsError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "all":
        return source.recordings
    card = model.info.get("model_card", {})
    if split not in card.get("split", {}):
        raise ModelError(f"the model card holds no {split!r} split (not trained by `stqs train`?); use --split all")
    stems = [Path(d["path"]).stem for d in card.get("data", [])]

    def key(rid: str, default_stem: str | None) -> tuple[str | None, str]:
        stem, _, name = rid.rpartition(":") if ":" in rid else (default_stem, "", rid)
        return stem, name

    wanted = {key(r, stems[0] if len(stems) == 1 else None) for r in card["split"][split]}
    here = {rid: key(rid, source.paths[0].stem if len(source.paths) == 1 else None) for rid in source.recordings}
    chosen = [rid for rid, k in here.items() if k in wanted]
    if not chosen:
        names = {name for _, name in wanted}
        chosen = [rid for rid, (_, name) in here.items() if name in names]
    if not chosen:
        raise StoreError(
            f"none of the model's {split} recordings is in {[str(p) for p in source.paths]}; "
            "give the stores it was trained on, or use --split all"
        )
    return chosen


def evaluate(
    model: STQS | str | Path,
    data: str | Path | list,
    split: str = "test",
    human_reference: bool | str | Path | None = True,
    batch_size: int = 64,
    adapt: bool | str = False,
) -> dict:
    """Score the recordings of one split of some epoch stores and compare with their expert stages.

    Parameters
    ----------
    model : STQS or str or Path
        A model, a model file or a registry name.
    data : str or Path or list
        Epoch stores (:class:`~stqs_core.store.EpochStore`).
    split : str
        ``"test"``, ``"validation"``, ``"train"`` (the model card's split by recording) or ``"all"``.
    human_reference : bool or str or Path or None
        Put :func:`read_human_reference` beside the results: True the stored DOD-H figures, a folder of
        ``scorer_*/<night>.json`` hypnograms those computed from it, None or False none.
    batch_size : int
        Epochs per CNN call.
    adapt : bool or str
        As in :func:`predict_recordings`.

    Returns
    -------
    dict
        The report described in the module docstring (:func:`write_report` writes it).

    Examples
    --------
    >>> from stqs_core.evaluation import evaluate, write_report
    >>> report = evaluate("runs/model.pt", "runs/sim.h5", split="test")  # doctest: +SKIP
    >>> report["overall"]["kappa"]  # doctest: +SKIP
    0.78
    >>> write_report(report, "runs/evaluation")  # doctest: +SKIP
    """
    path = None
    if not isinstance(model, STQS):
        path, model = str(model), load_model(model)
    data = [Path(p) for p in ([data] if isinstance(data, (str, Path)) else data)]
    with EpochSource(data) as source:
        recordings = select_recordings(model, source, split)
        results = predict_recordings(model, source, recordings, batch_size, adapt)
    pairs = {rid: (true, proba.argmax(1)) for rid, (true, proba) in results.items()}
    true = np.concatenate([t for t, _ in pairs.values()])
    pred = np.concatenate([p for _, p in pairs.values()])
    m = classification_metrics(true, pred)
    rows = per_recording(pairs)
    expert = [sleep_statistics(t) for t, _ in pairs.values()]
    scored_by_model = [sleep_statistics(np.where(t == UNSCORED, UNSCORED, p)) for t, p in pairs.values()]
    for row, e, m_ in zip(rows, expert, scored_by_model):
        row.update({f"expert_{k}": json_safe(v) for k, v in e.items()})
        row.update({f"model_{k}": json_safe(v) for k, v in m_.items()})
    agreement = statistics_agreement(expert, scored_by_model).to_dict("records")
    ranked = sorted((r for r in rows if r["kappa"] is not None), key=lambda r: r["kappa"])
    card = model.info.get("model_card", {})
    reference = None
    if human_reference is not None and human_reference is not False:
        reference = read_human_reference(None if human_reference is True else human_reference)
    return {
        "format": FORMAT,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "path": path,
            "name": card.get("name") or (Path(path).stem if path else None),
            "variant": model.config.variant,
            "imbalance": card.get("imbalance"),
            "training_data": card.get("training_data"),
        },
        "data": [str(p) for p in data],
        "split": split,
        "recordings": recordings,
        "adaptation": DEFAULT_METHOD if adapt is True else (adapt or None),
        "n_recordings": len(recordings),
        "n_epochs": int(len(true)),
        "n_scored": m["n_scored"],
        "overall": {k: m[k] for k in SUMMARY},
        "per_stage": m["per_stage"],
        "confusion": {"labels": list(STAGES), "counts": m["confusion"], "normalised": m["confusion_normalised"]},
        "per_recording": rows,
        "per_recording_spread": spread(rows),
        "sleep_statistics_agreement": [{k: json_safe(v) for k, v in row.items()} for row in agreement],
        "best_recording": ranked[-1]["recording"] if ranked else None,
        "worst_recording": ranked[0]["recording"] if ranked else None,
        "hypnograms": {
            rid: {"true": t.astype(int).tolist(), "pred": p.astype(int).tolist()} for rid, (t, p) in pairs.items()
        },
        "human_reference": reference,
    }


def write_report(report: dict, out_dir: str | Path, figures: bool = True) -> dict[str, Path]:
    """Write an evaluation report's files into a folder, each atomically.

    That is ``report.json``, ``per_recording.csv``, ``sleep_statistics_agreement.csv`` and, with ``figures``,
    ``hypnograms.png`` and ``confusion.png``.

    Parameters
    ----------
    report : dict
        As :func:`evaluate` returns; its ``files`` entry is set to the paths written.
    out_dir : str or Path
        The output folder (created).
    figures : bool
        Also draw the two figures.

    Returns
    -------
    dict of str to Path
        The paths written, by kind.
    """
    out = Path(out_dir)
    files = {
        "json": out / "report.json",
        "csv": out / "per_recording.csv",
        "agreement": out / "sleep_statistics_agreement.csv",
    }
    if figures:
        from .plots import plot_confusion, plot_hypnograms

        files.update(hypnograms=out / "hypnograms.png", confusion=out / "confusion.png")
        plot_hypnograms(report, files["hypnograms"])
        plot_confusion(report, files["confusion"])
    report["files"] = {k: str(v) for k, v in files.items()}
    for key, table in (("csv", report["per_recording"]), ("agreement", report["sleep_statistics_agreement"])):
        with atomic_path(files[key]) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, list(table[0]) if table else [])
            writer.writeheader()
            writer.writerows(table)
    with atomic_path(files["json"]) as tmp:
        tmp.write_text(json.dumps(report))
    return files
