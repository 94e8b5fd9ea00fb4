"""Interpretability: occlusion (frequency, time, modality), learned filters, and the AASM correspondence report.

:mod:`.attribution` per-sample attributions (occlusion, Captum's gradient methods) and deletion curves;
:mod:`.occlusion` rescoring a night with a band, a stretch of time or a modality removed; :mod:`.filters` the
learned spatial and temporal filters and their frequency responses; :mod:`.aasm` one row per AASM stage rule:
does the model rely on the evidence the rule names? :mod:`.triage` per epoch: the evidence the stage was decided
on and whether the rule names it. :mod:`.plots` static figures of occlusion results.
"""

from .aasm import RULES, aasm_report, render_markdown, rule_table
from .attribution import METHODS, Attribution, attribute, deletion_curve, event_mask
from .filters import filter_peaks, kernels, plot_filters, spatial_filters, temporal_filters
from .occlusion import (
    DEFAULT_BANDS,
    MODALITY_ROWS,
    FrequencyOcclusion,
    TimeOcclusion,
    band_gain,
    frequency_occlusion,
    modality_importance,
    occlude_band,
    time_occlusion,
)
from .plots import plot_frequency_occlusion, plot_time_occlusion
from .triage import Triage, evidence_table, evidence_triage

__all__ = [
    "DEFAULT_BANDS",
    "METHODS",
    "MODALITY_ROWS",
    "RULES",
    "Attribution",
    "FrequencyOcclusion",
    "TimeOcclusion",
    "Triage",
    "aasm_report",
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
    "occlude_band",
    "plot_filters",
    "plot_frequency_occlusion",
    "plot_time_occlusion",
    "render_markdown",
    "rule_table",
    "spatial_filters",
    "temporal_filters",
    "time_occlusion",
]
