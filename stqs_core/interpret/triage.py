"""Evidence triage: for every epoch, the evidence its stage was decided on, and whether the AASM rule names it.

The right stage can rest on the wrong evidence: an N2 decided on the EOG's theta band, with no spindle in sight.
For each epoch of a night:

- **deciding evidence**: the band x modality (5 :data:`~stqs_core.interpret.occlusion.DEFAULT_BANDS` x EEG, EOG,
  EMG: 15 occlusions, one :func:`~stqs_core.interpret.occlusion.frequency_occlusion` of the night) whose removal
  lowers the predicted stage's probability most, and that drop;
- **rule evidence**: of the (band, modality) pairs the stage's AASM rule names (:data:`~stqs_core.interpret.aasm.
  RULES`, the one source of them), the one whose removal lowers it most, its drop and its rank among the 15;
- **rule_ok**: the rule's evidence is among the ``top_k`` occlusions (as in :func:`~stqs_core.interpret.aasm.
  aasm_report`), or its drop is at least ``share`` of the deciding drop, or the decision rests on no single band
  (deciding drop below ``min_drop``: nothing to contradict). An epoch that is not ``rule_ok`` is **flagged**, with
  a reason in words;
- **key second**: for the flagged epochs (or all, or none), the second of the epoch that matters most to the
  decision, by the attribution module's default method (:func:`~stqs_core.interpret.attribution.attribute`).

Over a night the mean drops per band x modality, by stage, are its **reliance profile** (:meth:`Triage.reliance`); a
cohort compares them across nights (:func:`stqs_core.cohort.reliance_outliers`).

A model with fewer modalities (e.g. EEG only) has fewer occlusions (5 per modality it reads); an epoch whose stage's
rule names evidence only in modalities the model lacks (REM without EOG and EMG) cannot contradict it: its rule
evidence reads ``"not testable: no EOG/EMG"`` and it is never flagged.

For sequence models a band is removed from the whole night, so an epoch's decision may rest on its neighbours'
evidence (an N2 continued from spindles before it, which the AASM continuation rules allow); CNN models read each
epoch on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..constants import EPOCH_SEC, ROLES, STAGES
from ..errors import StqsError, check_option, check_range
from ..model import STQS
from .aasm import RULES, _label, _no, testable_evidence, untested
from .baseline import BaselinePass, _baseline
from .occlusion import DEFAULT_BANDS, FrequencyOcclusion, frequency_occlusion

logger = logging.getLogger(__name__)

TOP_K = 2
"""The rule's evidence is fine when among this many most damaging occlusions (as the AASM report counts)."""
SHARE = 0.1
"""... or when removing it costs at least this share of what removing the deciding evidence costs."""
MIN_DROP = 0.02
"""A decision no single band removal lowers by this much rests on no single band: never flagged."""
RELIANCE_MIN_EPOCHS = 5
"""A stage needs this many epochs in a night for its reliance profile (:meth:`Triage.reliance`)."""
SECONDS = ("flagged", "all", "none")
"""Which epochs get their key second (:func:`evidence_triage`'s ``seconds``)."""
_CHUNK = 16  # epochs per attribution call (progress bar steps)


@dataclass
class Triage:
    """Result of :func:`evidence_triage` for one night of ``N`` epochs.

    Parameters
    ----------
    per_epoch : DataFrame
        One row per epoch: ``epoch``, ``stage`` (predicted, 0-4), ``deciding_band``, ``deciding_modality``,
        ``deciding_evidence`` (e.g. ``"EOG theta"``), ``deciding_drop`` (drop of the stage's probability when that
        band is removed, in [-1, 1]), ``rule_evidence``, ``rule_drop``, ``rule_rank`` (1-15, 1 = the deciding
        one), ``rule_ok`` (bool), ``key_second`` (second of the epoch, 0-29, that matters most; NaN where not
        computed) and ``reason`` (empty unless flagged).
    drops : ndarray, shape (N, 15)
        Drop of each epoch's predicted-stage probability per occlusion, columns in the order of ``occlusions``.
    occlusions : list of (band, modality)
        The 15 occlusions.
    seconds : ndarray, shape (N, 30)
        Mean importance of each second of each epoch by ``method``; rows not computed are NaN.
    method : str or None
        The attribution method of ``seconds`` (None: none computed).
    """

    per_epoch: pd.DataFrame
    drops: np.ndarray
    occlusions: list
    seconds: np.ndarray
    method: str | None = None

    @property
    def flagged(self) -> pd.DataFrame:
        """The epochs whose deciding evidence contradicts their stage's AASM rule (rows of :attr:`per_epoch`)."""
        return self.per_epoch[~self.per_epoch.rule_ok]

    def reliance(self, min_epochs: int = RELIANCE_MIN_EPOCHS) -> pd.DataFrame:
        """The night's reliance profile by predicted stage: mean drop of the stage's probability per occlusion over
        the epochs of that stage. By stage, so that nights with other stage mixes compare alike.

        Parameters
        ----------
        min_epochs : int
            Stages with fewer predicted epochs than this get NaN.

        Returns
        -------
        DataFrame, shape (5, 15)
            Rows ``"W"`` ... ``"REM"``, columns ``"eeg delta"`` ... ``"emg beta"``: mean drop (probability, -1 to 1).
        """
        stages = self.per_epoch.stage.to_numpy()
        profile = np.full((len(STAGES), len(self.occlusions)), np.nan)
        for code in range(len(STAGES)):
            if np.sum(stages == code) >= min_epochs:
                profile[code] = self.drops[stages == code].mean(0)
        names = [f"{modality} {band}" for band, modality in self.occlusions]
        return pd.DataFrame(profile, index=list(STAGES), columns=names)

    def summary(self) -> dict:
        """The night's triage in numbers.

        Returns
        -------
        dict
            ``n_epochs``, ``n_flagged``, ``flagged_share`` (0-1) and ``flagged_by_stage`` (count per predicted
            stage).
        """
        flagged = self.flagged
        return {
            "n_epochs": len(self.per_epoch),
            "n_flagged": len(flagged),
            "flagged_share": round(len(flagged) / max(len(self.per_epoch), 1), 4),
            "flagged_by_stage": {s: int((flagged.stage == i).sum()) for i, s in enumerate(STAGES)},
        }


def evidence_triage(
    model: STQS,
    epochs,
    *,
    occlusion: FrequencyOcclusion | None = None,
    top_k: int = TOP_K,
    share: float = SHARE,
    min_drop: float = MIN_DROP,
    seconds: str = "flagged",
    method: str | None = None,
    baseline: BaselinePass | None = None,
) -> Triage:
    """The deciding evidence of every epoch of a night, checked against its stage's AASM rule.

    Parameters
    ----------
    model : STQS
        A loaded model.
    epochs : array, shape (N, R, 3750)
        The night's preprocessed epochs in order.
    occlusion : FrequencyOcclusion, optional
        The night's :func:`~stqs_core.interpret.occlusion.frequency_occlusion` with the default bands on
        ``"eeg"``, ``"eog"`` and ``"emg"`` separately, if already computed (else it is computed here: 15 rescored
        nights, the bulk of the cost).
    top_k : int
        The rule is kept when one of its occlusions is among the ``top_k`` most damaging ones.
    share : float
        ... or when its drop is at least ``share`` times the deciding drop.
    min_drop : float
        Epochs whose deciding drop is below this (probability) are never flagged.
    seconds : {"flagged", "all", "none"}
        Epochs whose key second is found (by :func:`~stqs_core.interpret.attribution.attribute`, about 0.1-0.3 s
        an epoch).
    method : str, optional
        Attribution method of the key seconds; default the attribution module's default.
    baseline : BaselinePass, optional
        The unoccluded pass of ``model`` over ``epochs`` (made here when not given), shared by the occlusion and
        the key seconds.

    Returns
    -------
    Triage
    """
    from . import attribution

    check_range("top_k", top_k, 1, 15)
    check_range("share", share, 0, 1)
    check_range("min_drop", min_drop, 0, 1)
    check_option("seconds", seconds, SECONDS)
    method = check_option("method", method or attribution.DEFAULT_METHOD, attribution.METHODS)
    baseline = _baseline(model, epochs, baseline)
    if occlusion is None:
        occlusion = frequency_occlusion(model, epochs, baseline=baseline)
    drops, occlusions, stages = _drop_matrix(occlusion.per_epoch, tuple(baseline.rows))
    table = evidence_table(
        drops, occlusions, stages, top_k=top_k, share=share, min_drop=min_drop, absent=baseline.absent
    )
    importance = np.full((len(table), int(EPOCH_SEC)), np.nan)
    which = {"flagged": np.flatnonzero(~table.rule_ok.to_numpy()), "all": np.arange(len(table)), "none": []}[seconds]
    if len(which):
        for start in tqdm(range(0, len(which), _CHUNK), desc="key seconds", disable=None):
            chunk = which[start : start + _CHUNK]
            importance[chunk] = attribution.attribute(model, epochs, chunk, method, baseline=baseline).per_second()
        table.loc[which, "key_second"] = np.nanargmax(importance[which], axis=1).astype(float)
    logger.info("triage: %d of %d epochs flagged", int((~table.rule_ok).sum()), len(table))
    return Triage(table, drops, occlusions, importance, method if len(which) else None)


def _drop_matrix(per_epoch: pd.DataFrame, modalities=ROLES) -> tuple[np.ndarray, list, np.ndarray]:
    """``(drops (N, K), [(band, modality)], stages (N,))`` from :attr:`FrequencyOcclusion.per_epoch`: K = 5 bands
    x the model's ``modalities`` (15 for the published model)."""
    n = int(per_epoch.epoch.max()) + 1 if len(per_epoch) else 0
    if n == 0 or len(per_epoch) % n:
        raise StqsError("the occlusion table is empty or not one row per (occlusion, epoch)")
    keys = list(zip(per_epoch.band.iloc[::n], per_epoch.modalities.iloc[::n]))
    wanted = [(band, modality) for modality in modalities for band in DEFAULT_BANDS]
    if sorted(keys) != sorted(wanted):
        names = ", ".join(repr(m) for m in modalities)
        raise StqsError(
            f"triage needs the frequency occlusion of every default band on {names} separately "
            "(frequency_occlusion's defaults); got " + ", ".join(f"{m} {b}" for b, m in keys)
        )
    drops = per_epoch["drop"].to_numpy().reshape(len(keys), n).T
    order = [keys.index(k) for k in wanted]
    return drops[:, order], wanted, per_epoch.stage.to_numpy()[:n]


def evidence_table(
    drops: np.ndarray,
    occlusions: list,
    stages: np.ndarray,
    *,
    top_k: int = TOP_K,
    share: float = SHARE,
    min_drop: float = MIN_DROP,
    absent=(),
) -> pd.DataFrame:
    """Deciding evidence and rule check of each epoch from its occlusion drops (see :func:`evidence_triage`).

    Parameters
    ----------
    drops : array, shape (N, K)
        Drop of each epoch's predicted-stage probability when occlusion ``k`` is applied.
    occlusions : list of (band, modality), length K
        Must hold every (band, modality) the rules of :data:`~stqs_core.interpret.aasm.RULES` name.
    stages : array of int, shape (N,)
        Predicted stages 0-4.
    top_k, share, min_drop
        As in :func:`evidence_triage`.
    absent : sequence of str
        Modalities the model has no block for: the rules' evidence there is not testable (an epoch whose rule
        names nothing else is never flagged, its ``rule_drop`` and ``rule_rank`` NaN).

    Returns
    -------
    DataFrame
        The columns of :attr:`Triage.per_epoch` (``key_second`` NaN).
    """
    drops = np.asarray(drops, dtype=np.float64)
    stages = np.asarray(stages, dtype=int)
    if drops.ndim != 2 or drops.shape != (len(stages), len(occlusions)):
        raise StqsError(
            f"drops must have shape (n_epochs, n_occlusions) = ({len(stages)}, {len(occlusions)}); got {drops.shape}"
        )
    missing = {e for rule in RULES for e in testable_evidence(rule, absent)} - set(occlusions)
    if missing:
        raise StqsError(f"the occlusions lack {sorted(missing)}, which the AASM rules name")
    rules = [next(rule for rule in RULES if rule.stage == stage) for stage in STAGES]
    named = np.array([[occ in rule.evidence for occ in occlusions] for rule in rules]).reshape(len(rules), -1)
    checkable = named[stages].any(1)
    deciding = drops.argmax(1)
    deciding_drop = drops[np.arange(len(drops)), deciding]
    evidence_drops = np.where(named[stages], drops, -np.inf)
    evidence = evidence_drops.argmax(1)
    rule_drop = drops[np.arange(len(drops)), evidence]
    rank = (drops > rule_drop[:, None]).sum(1) + 1
    ok = (rank <= top_k) | (rule_drop >= share * deciding_drop) | (deciding_drop < min_drop) | ~checkable
    labels = [f"{modality.upper()} {band}" for band, modality in occlusions]
    labels_for = [
        labels[k] if c else f"not testable: {_no(untested(rules[s], absent))}"
        for k, c, s in zip(evidence, checkable, stages)
    ]
    if not checkable.all():
        rule_drop, rank = np.where(checkable, rule_drop, np.nan), np.where(checkable, rank, np.nan)
    table = pd.DataFrame(
        {
            "epoch": np.arange(len(stages)),
            "stage": stages,
            "deciding_band": [occlusions[k][0] for k in deciding],
            "deciding_modality": [occlusions[k][1] for k in deciding],
            "deciding_evidence": [labels[k] for k in deciding],
            "deciding_drop": deciding_drop,
            "rule_evidence": labels_for,
            "rule_drop": rule_drop,
            "rule_rank": rank,
            "rule_ok": ok,
            "key_second": np.nan,
        }
    )
    table["reason"] = [
        "" if good else _reason(rules[s], occlusions[d], dd, occlusions[e], rd, r, len(occlusions))
        for good, s, d, dd, e, rd, r in zip(ok, stages, deciding, deciding_drop, evidence, rule_drop, rank)
    ]
    return table


def _reason(rule, deciding, deciding_drop, evidence, rule_drop, rank: int, n: int) -> str:
    """E.g. "N2 decided on EOG theta (4-8 Hz), p(N2) -0.41; not on what the AASM rule names (sleep spindles ...):
    removing EEG sigma (12-16 Hz) lowers it by 0.01 only (rank 7 of 15)"."""
    name = rule.stage
    if abs(rule_drop) < 0.005:
        verb = "does not change it"
    else:
        verb = f"lowers it by {rule_drop:.2f} only" if rule_drop > 0 else f"raises it by {-rule_drop:.2f}"
    return (
        f"{name} decided on {_label(*deciding)}, p({name}) -{deciding_drop:.2f}; not on what the AASM rule names "
        f"({rule.rule}): removing {_label(*evidence)} {verb} (rank {rank} of {n})"
    )
