"""Interpretability: occlusion (frequency, time, modality), learned filters, and the AASM correspondence report.

:mod:`.attribution` per-sample attributions (occlusion, Captum's gradient methods) and deletion curves;
:mod:`.occlusion` rescoring a night with a band, a stretch of time or a modality removed, from the unoccluded
pass of :mod:`.baseline` (:class:`BaselinePass`), with the band filters of :mod:`.bands` and the tables of
:mod:`.tables`; :mod:`.filters` the learned spatial and temporal filters and their frequency responses;
:mod:`.aasm` one row per AASM stage rule: does the model rely on the evidence the rule names? :mod:`.triage` per
epoch: the evidence the stage was decided on and whether the rule names it. Their figures are in
:mod:`stqs_core.plots`.
"""

from .aasm import RULES, aasm_report, agreement_line, render_markdown, rule_table
from .attribution import METHODS, Attribution, attribute, deletion_curve, event_mask
from .bands import DEFAULT_BANDS, MODALITY_ROWS, absent_modalities, band_gain, modality_rows, occlude_band
from .baseline import BaselinePass
from .filters import filter_peaks, kernels, spatial_filters, temporal_filters
from .occlusion import FrequencyOcclusion, TimeOcclusion, frequency_occlusion, modality_importance, time_occlusion
from .triage import Triage, evidence_table, evidence_triage

__all__ = [
    "DEFAULT_BANDS",
    "METHODS",
    "MODALITY_ROWS",
    "RULES",
    "Attribution",
    "BaselinePass",
    "FrequencyOcclusion",
    "TimeOcclusion",
    "Triage",
    "aasm_report",
    "absent_modalities",
    "agreement_line",
    "attribute",
    "band_gain",
    "deletion_curve",
    "event_mask",
    "evidence_table",
    "evidence_triage",
    "filter_peaks",
    "frequency_occlusion",
    "kernels",
    "modality_importance",
    "modality_rows",
    "occlude_band",
    "render_markdown",
    "rule_table",
    "spatial_filters",
    "temporal_filters",
    "time_occlusion",
]
