"""Does the model rely on what the AASM manual says defines each stage? One row per stage rule.

Each rule names its evidence as (band, modality) pairs. Frequency occlusion removes every band of
:data:`~stqs_core.interpret.bands.DEFAULT_BANDS` from every modality in turn (15 occlusions). For a stage
``s`` and an occlusion ``o``:

- ``drop(s, o)``: how much ``o`` lowers the model's probability of ``s``, averaged over the epochs of ``s`` (the
  expert's stage when labels are given, else the model's own);
- ``specific(s, o) = drop(s, o) - mean over the other stages s' of drop(s', o)``: the part of the damage that is
  particular to ``s``. An occlusion that harms every stage alike (e.g. removing the EEG's delta, which all of
  sleep has) tells what the model needs to score *sleep*, not what it uses to tell ``s`` from the others, which
  is what a stage rule describes.

The occlusions are ranked by ``specific``; a rule **agrees** when one of its evidence occlusions is among the
``top_k`` (default 2) for its stage. The rank by raw ``drop`` is reported too (``raw_rank``).

A model with fewer modalities (e.g. EEG only) is checked on the evidence it can see: a rule whose evidence lies
only in absent modalities (REM: rapid eye movements in the EOG, low chin EMG) is **not testable** (``agrees``
None), not disagreeing; a rule with some evidence in an absent modality is checked on the rest, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..constants import ROLES, STAGES
from ..errors import StqsError
from ..model import STQS
from .bands import DEFAULT_BANDS, absent_modalities
from .occlusion import frequency_occlusion


@dataclass(frozen=True)
class Rule:
    """An AASM scoring rule.

    Parameters
    ----------
    stage : str
        The stage it defines (``"W"``, ``"N1"``, ``"N2"``, ``"N3"``, ``"REM"``).
    rule : str
        Its text, abridged from the AASM manual.
    evidence : tuple of (str, str)
        The evidence it names, as ``(band, modality)`` pairs (e.g. ``("sigma", "eeg")`` for spindles).
    """

    stage: str
    rule: str
    evidence: tuple[tuple[str, str], ...]


RULES: tuple[Rule, ...] = (
    Rule(
        "W",
        "alpha rhythm (8-12 Hz) or beta (eyes open) in the EEG, with high chin EMG tone",
        (("alpha", "eeg"), ("beta", "eeg"), ("sigma", "emg"), ("beta", "emg")),
    ),
    Rule(
        "N1",
        "low-amplitude mixed-frequency EEG, mostly theta (4-7 Hz), replacing the alpha rhythm",
        (("theta", "eeg"),),
    ),
    Rule("N2", "sleep spindles (11-16 Hz) in the EEG", (("sigma", "eeg"),)),
    Rule("N3", "slow waves (0.5-2 Hz, >75 µV) in at least 20% of the epoch's EEG", (("delta", "eeg"),)),
    Rule(
        "REM",
        "rapid eye movements in the EOG with low chin EMG tone",
        (("delta", "eog"), ("theta", "eog"), ("sigma", "emg"), ("beta", "emg")),
    ),
)
"""The five stage rules. Chin tone is the EMG's 10-30 Hz content (sigma and beta); rapid eye movements are
EOG deflections of 0.3-5 Hz (delta and theta). N2 names spindles only: K-complexes share the delta band with
N3's slow waves and so cannot tell which of the two the model reads."""


def _label(band: str, modality: str) -> str:
    lo, hi = DEFAULT_BANDS[band]
    return f"{modality.upper()} {band} ({lo:g}-{hi:g} Hz)"


def _no(modalities) -> str:
    """``"no EOG/EMG"`` style note for absent modalities (role order)."""
    return "no " + "/".join(r.upper() for r in ROLES if r in modalities)


def untested(rule: Rule, absent) -> tuple[str, ...]:
    """The absent modalities (role order) that hold some of ``rule``'s evidence.

    Parameters
    ----------
    rule : Rule
        An AASM rule.
    absent : sequence of str
        Modalities the model has no block for.

    Returns
    -------
    tuple of str
    """
    return tuple(r for r in ROLES if r in absent and any(m == r for _, m in rule.evidence))


def testable_evidence(rule: Rule, absent) -> tuple[tuple[str, str], ...]:
    """The (band, modality) evidence of ``rule`` that lies in a modality the model has.

    Parameters
    ----------
    rule : Rule
        An AASM rule.
    absent : sequence of str
        Modalities the model has no block for.

    Returns
    -------
    tuple of (str, str)
        Empty when the rule is not testable without those modalities.
    """
    return tuple(e for e in rule.evidence if e[1] not in absent)


def stage_drops(per_epoch: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Mean drop of each stage's probability over that stage's epochs, per occlusion.

    Parameters
    ----------
    per_epoch : pandas.DataFrame
        :attr:`FrequencyOcclusion.per_epoch` (one or more nights concatenated).
    by : str or None
        The column giving each epoch's stage: ``"true"`` (expert) or ``"stage"`` (the model's original
        prediction); None takes ``"true"`` where the table has it.

    Returns
    -------
    pandas.DataFrame
        One row per (band, modalities, stage) with ``n``, ``drop`` and ``specific`` (see the module docstring;
        NaN when the epochs hold only one stage, and the report then ranks by ``drop``).
    """
    by = by or ("true" if "true" in per_epoch else "stage")
    rows = []
    for stage_code, stage in enumerate(STAGES):
        sel = per_epoch[per_epoch[by] == stage_code]
        if sel.empty:
            continue
        groups = sel.groupby(["band", "modalities"], sort=False)
        drop = (-groups[f"d_{stage}"].mean()).rename("drop").reset_index()
        rows.append(drop.assign(stage=stage, n=len(sel) // groups.ngroups))
    drops = pd.concat(rows, ignore_index=True)
    total = drops.groupby(["band", "modalities"], sort=False)["drop"].transform("sum")
    count = drops.groupby(["band", "modalities"], sort=False)["drop"].transform("size")
    drops["specific"] = drops["drop"] - (total - drops["drop"]) / (count - 1).where(count > 1)
    return drops


def aasm_report(model: STQS, epochs, labels=None, *, top_k: int = 2, renormalize: bool = True) -> pd.DataFrame:
    """One row per AASM stage rule: the evidence it names and what occlusion shows the model relies on.

    Parameters
    ----------
    model : STQS
        A loaded model.
    epochs : ndarray, shape (n_epochs, R, 3750), or list of them
        Preprocessed epochs of one night in order (the rows of the model's modalities), or a list of nights.
    labels : ndarray of int, shape (n_epochs,), or list of them, or None
        Expert stages (one array per night); without them each epoch counts as the stage the model predicted.
    top_k : int
        A rule agrees when one of its evidence occlusions is among the ``top_k`` most damaging.
    renormalize : bool
        Z-score each filtered channel of each epoch again, as preprocessing would have (see
        :func:`~stqs_core.interpret.occlusion.occlude_band`).

    Returns
    -------
    pandas.DataFrame
        ``stage``, ``rule``, ``evidence``, ``n_epochs``; for the rule's best-ranked evidence occlusion
        ``evidence_occlusion``, ``evidence_drop``, ``evidence_specific``, ``evidence_rank`` (rank by specific drop
        among the 15, 1 = first) and ``raw_rank`` (rank by raw drop); ``top_occlusion``/``top_specific`` and
        ``second_occlusion``/``second_specific`` (the two first-ranked); ``agrees`` (None for a rule the model
        cannot be checked on: its evidence lies only in modalities the model lacks); ``explanation`` (one
        paragraph of text).

    Examples
    --------
    >>> from stqs_core import load_model
    >>> from stqs_core.interpret import aasm_report, render_markdown
    >>> report = aasm_report(load_model("stqs-cnnlstm-sim"), epochs, labels)  # doctest: +SKIP
    >>> print(render_markdown(report))  # doctest: +SKIP
    """
    single = not isinstance(epochs, (list, tuple))
    nights = [epochs] if single else list(epochs)
    night_labels = [None] * len(nights) if labels is None else [labels] if single else list(labels)
    if len(night_labels) != len(nights):
        raise StqsError(f"give one label array per night: {len(nights)} nights, {len(night_labels)} label arrays")
    tables = []
    for i, (x, y) in enumerate(zip(nights, night_labels)):
        result = frequency_occlusion(model, x, y, renormalize=renormalize)
        tables.append(result.per_epoch.assign(night=i))
    return rule_table(pd.concat(tables, ignore_index=True), top_k=top_k, absent=absent_modalities(model))


def rule_table(per_epoch: pd.DataFrame, top_k: int = 2, *, absent=()) -> pd.DataFrame:
    """The report of :func:`aasm_report` from frequency-occlusion tables already computed.

    Parameters
    ----------
    per_epoch : pandas.DataFrame
        :attr:`FrequencyOcclusion.per_epoch` (nights concatenated), holding every band of ``DEFAULT_BANDS`` on
        ``"eeg"``, ``"eog"`` and ``"emg"`` separately (the defaults of :func:`frequency_occlusion`); epochs count
        as their expert stage where it has a ``true`` column, else as the model's.
    top_k : int
        As for :func:`aasm_report`.
    absent : sequence of str
        Modalities the model has no block for (:func:`~.bands.absent_modalities`): their evidence is not
        testable, and a rule with no other evidence is reported as such.

    Returns
    -------
    pandas.DataFrame
        As :func:`aasm_report`.
    """
    expert = "true" in per_epoch
    drops = stage_drops(per_epoch)
    present = set(zip(drops.band, drops.modalities))
    missing = {e for rule in RULES for e in testable_evidence(rule, absent)} - present
    if missing:
        raise StqsError(
            f"the occlusions lack {sorted(missing)}: run frequency_occlusion with the default bands and modalities"
        )
    rows = []
    for rule in RULES:
        if not testable_evidence(rule, absent):
            rows.append(_not_testable(rule, absent))
            continue
        ranked = drops[drops.stage == rule.stage]
        ranked = ranked.assign(specific=ranked.specific.fillna(ranked["drop"]))  # one stage only: raw drops
        ranked = ranked.sort_values("specific", ascending=False, kind="stable")
        if ranked.empty:
            rows.append(
                {
                    "stage": rule.stage,
                    "rule": rule.rule,
                    "evidence": ", ".join(_label(*e) for e in rule.evidence),
                    "n_epochs": 0,
                    "agrees": False,
                    "explanation": f"No {rule.stage} epochs: the rule cannot be checked.",
                }
            )
            continue
        names = [_label(b, m) for b, m in zip(ranked.band, ranked.modalities)]
        evidence = testable_evidence(rule, absent)
        is_evidence = np.array([(b, m) in evidence for b, m in zip(ranked.band, ranked.modalities)])
        rank = int(np.argmax(is_evidence)) + 1
        specific, drop = ranked["specific"].to_numpy(), ranked["drop"].to_numpy()
        raw_rank = int((drop > drop[rank - 1]).sum()) + 1
        row = {
            "stage": rule.stage,
            "rule": rule.rule,
            "evidence": ", ".join(_label(*e) for e in rule.evidence),
            "n_epochs": int(ranked.n.iloc[0]),
            "evidence_occlusion": names[rank - 1],
            "evidence_specific": float(specific[rank - 1]),
            "evidence_drop": float(drop[rank - 1]),
            "evidence_rank": rank,
            "raw_rank": raw_rank,
            "top_occlusion": names[0],
            "top_specific": float(specific[0]),
            "second_occlusion": names[min(1, len(names) - 1)],
            "second_specific": float(specific[min(1, len(names) - 1)]),
            "agrees": bool(rank <= top_k),
        }
        row["explanation"] = _explain(rule, row, len(names), top_k, expert) + _partly(rule, absent)
        rows.append(row)
    return pd.DataFrame(rows)


def _not_testable(rule: Rule, absent) -> dict:
    """The row of a rule whose evidence lies only in modalities the model lacks."""
    missing = _no(untested(rule, absent))
    return {
        "stage": rule.stage,
        "rule": rule.rule,
        "evidence": ", ".join(_label(*e) for e in rule.evidence),
        "n_epochs": 0,
        "agrees": None,
        "explanation": f"AASM {rule.stage}: {rule.rule}. Not testable: {missing} (the model does not read them).",
    }


def _partly(rule: Rule, absent) -> str:
    """A note on the evidence of ``rule`` that is not testable for want of a modality ("" when all is)."""
    missing = untested(rule, absent)
    return f" Its {'/'.join(m.upper() for m in missing)} evidence is not testable: {_no(missing)}." if missing else ""


def _explain(rule: Rule, row: dict, n_occlusions: int, top_k: int, expert: bool) -> str:
    whose = "expert-scored" if expert else "model-scored"
    verb = "lowers" if row["evidence_drop"] >= 0 else "raises"
    text = (
        f"AASM {rule.stage}: {rule.rule}. Over {row['n_epochs']} {whose} {rule.stage} epochs, removing "
        f"{row['evidence_occlusion']} {verb} the model's {rule.stage} probability by "
        f"{abs(row['evidence_drop']):.3f} on average, {row['evidence_specific']:+.3f} beyond what it does to "
        f"the other stages: rank "
        f"{row['evidence_rank']} of {n_occlusions} band x modality occlusions"
    )
    if row["evidence_rank"] == 1:
        text += f" (next: {row['second_occlusion']}, {row['second_specific']:+.3f})."
    else:
        text += f" (first: {row['top_occlusion']}, {row['top_specific']:+.3f})."
    verdict = (
        f" The model relies on the evidence the rule names (top {top_k})."
        if row["agrees"]
        else f" The model leans on other evidence more than on what the rule names (not in the top {top_k})."
    )
    return text + verdict


def render_markdown(report: pd.DataFrame, title: str | None = None) -> str:
    """The report as a Markdown table followed by the explanation of each rule.

    Parameters
    ----------
    report : pandas.DataFrame
        As :func:`aasm_report` returns.
    title : str or None
        A heading.

    Returns
    -------
    str
    """
    lines = [f"## {title}", ""] if title else []
    lines += [
        agreement_line(report) + ".",
        "",
        "| stage | AASM evidence | best evidence occlusion | specific drop | rank (raw rank) | "
        "first occlusion | specific drop | agrees |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report.itertuples():
        if r.agrees is None or (isinstance(r.agrees, float) and np.isnan(r.agrees)):
            lines.append(f"| {r.stage} | {r.evidence} | - | - | - | - | - | {_verdict(r.explanation)} |")
            continue
        if r.n_epochs == 0:
            lines.append(f"| {r.stage} | {r.evidence} | - | - | - | - | - | no epochs |")
            continue
        lines.append(
            f"| {r.stage} | {r.evidence} | {r.evidence_occlusion} | {r.evidence_specific:+.3f} | "
            f"{r.evidence_rank} ({r.raw_rank}) | {r.top_occlusion} | {r.top_specific:+.3f} | "
            f"{'yes' if r.agrees else 'no'} |"
        )
    lines += [""] + [f"- **{r.stage}**: {r.explanation}" for r in report.itertuples()]
    return "\n".join(lines) + "\n"


def _verdict(explanation: str) -> str:
    """``"not testable: no EOG/EMG"`` from the explanation of a rule that is not testable."""
    return "not testable: " + explanation.split("Not testable: ")[-1].split(" (")[0]


def testable(report: pd.DataFrame) -> pd.Series:
    """Which rules of a report could be checked (``agrees`` not None: the model reads some of their evidence).

    Parameters
    ----------
    report : pandas.DataFrame
        As :func:`aasm_report` returns.

    Returns
    -------
    pandas.Series of bool
    """
    return report.agrees.notna()


def verdicts(report: pd.DataFrame) -> pd.Series:
    """The ``agrees`` column with each rule that is not testable as ``"not testable: no EOG/EMG"`` instead.

    Parameters
    ----------
    report : pandas.DataFrame
        As :func:`aasm_report` returns.

    Returns
    -------
    pandas.Series
        ``report.agrees`` itself when every rule was testable.
    """
    checked = testable(report)
    if checked.all():
        return report.agrees
    return report.agrees.where(checked, [_verdict(e) for e in report.explanation]).rename("agrees")


def agreement_line(report: pd.DataFrame) -> str:
    """E.g. ``"3 of 5 AASM rules agree with what the model relies on"``, with the rules not testable named.

    Parameters
    ----------
    report : pandas.DataFrame
        As :func:`aasm_report` returns.

    Returns
    -------
    str
    """
    n_agree = int(report.agrees.eq(True).sum())
    checked = testable(report)
    text = f"{n_agree} of {int(checked.sum())} AASM rules agree with what the model relies on"
    if not checked.all():
        notes = [f"{r.stage} ({_verdict(r.explanation)})" for r in report[~checked].itertuples()]
        text += "; not testable: " + ", ".join(notes)
    return text
