"""The review queue under the epoch viewer: the epochs a scorer should look at first, with why; a click shows one.

Two reasons put an epoch in the queue: the model is unsure (highest stage probability below
:data:`stqs_core.cohort.LOW_CONFIDENCE`), or its stage rests on evidence the AASM rule of that stage does not name
(:func:`stqs_core.interpret.triage.evidence_triage`: e.g. an N2 decided on the EOG's theta band, no spindles). The
triage (15 rescored nights) is computed once per night and model, off the event loop, and cached with the night.
"""

from __future__ import annotations

import html
import time
from functools import partial

import numpy as np
import pandas as pd
import panel as pn
import param
import sources

from stqs_core.cohort import LOW_CONFIDENCE
from stqs_core.constants import EPOCH_SEC, STAGES


def triage(night: sources.Night, model_key: str):
    """:func:`stqs_core.interpret.triage.evidence_triage` of the night, without key seconds (the time tab has them)."""
    from stqs_core.interpret.triage import evidence_triage

    return night.derived.get(
        triage_key(model_key),
        lambda: evidence_triage(
            sources.night_model(night, model_key),
            sources.model_epochs(night, model_key),
            seconds="none",
            baseline=sources.baseline(night, model_key),
        ),
    )


def triage_key(model_key: str) -> tuple:
    """Key of :func:`triage` in ``night.derived`` (for :meth:`sources.Memo.peek`)."""
    return ("triage", sources.model_identity(model_key))


def queue_table(per_epoch: pd.DataFrame, proba: np.ndarray, below: float = LOW_CONFIDENCE) -> pd.DataFrame:
    """The queue: one row per epoch flagged by the triage or with confidence below ``below``, in time order.

    Parameters
    ----------
    per_epoch : DataFrame
        :attr:`~stqs_core.interpret.triage.Triage.per_epoch` of the night.
    proba : array, shape (n_epochs, 5)
        Stage probabilities.

    Returns
    -------
    DataFrame
        ``epoch``, ``time`` (hh:mm:ss from the start), ``stage`` (the model's), ``p`` (its probability), ``why``
        (``"evidence"``, ``"low confidence"`` or both), ``decided on`` (deciding band x modality) and ``reason``.
    """
    confidence = proba.max(1)
    flagged = ~per_epoch.rule_ok.to_numpy()
    unsure = confidence < below
    keep = np.flatnonzero(flagged | unsure)
    why = [", ".join(w for w, on in (("evidence", flagged[i]), ("low confidence", unsure[i])) if on) for i in keep]
    return pd.DataFrame(
        {
            "epoch": keep,
            "time": [time.strftime("%H:%M:%S", time.gmtime(i * EPOCH_SEC)) for i in keep],
            "stage": [STAGES[s] for s in proba[keep].argmax(1)],
            "p": confidence[keep].round(2),
            "why": why,
            "decided on": per_epoch.deciding_evidence.to_numpy()[keep],
            "reason": per_epoch.reason.to_numpy()[keep],
        }
    )


class ReviewQueue(param.Parameterized):
    """The queue of a dashboard session: a table whose rows select their epoch in the epoch viewer.

    ``dash`` is the session's ``app.Dashboard`` (its ``night``, ``model_key`` and ``epoch``); ``in_background`` is
    ``app.in_background`` (work on a worker thread, then the result on the session's event loop).
    """

    result = param.Parameter(None, doc="(key, Triage or error) computed off the event loop")

    def __init__(self, dash, in_background, **params):
        super().__init__(**params)
        self.dash, self.in_background = dash, in_background

    def panel(self) -> pn.viewable.Viewable:
        return pn.panel(pn.bind(self.view, self.dash.param.night, self.dash.param.model_key, self.param.result))

    def view(self, night, model_key, result) -> pn.viewable.Viewable:
        if night is None:
            return pn.Column()
        key = (id(night), triage_key(model_key))
        done = result[1] if result is not None and result[0] == key else night.derived.peek(key[1])
        if done is None:
            self.in_background(partial(triage, night, model_key), lambda out: setattr(self, "result", (key, out)))
            done = self.result[1] if self.result is not None and self.result[0] == key else None
        if done is None:
            return pn.pane.Markdown("*Review queue: finding the evidence each epoch was decided on…*")
        if isinstance(done, Exception):
            return pn.pane.Alert(f"**Evidence triage failed:** {html.escape(str(done)[:300])}", alert_type="danger")
        table = queue_table(done.per_epoch, sources.probabilities(night, model_key))
        n_flagged = sum("evidence" in why for why in table.why)  # (an empty queue has no string column)
        n_unsure = sum("low confidence" in why for why in table.why)
        head = pn.pane.Markdown(
            f"#### Review queue: <span class='stqs-review-count' data-flagged='{n_flagged}' data-unsure='{n_unsure}'>"
            f"{len(table)} epochs</span>\n"
            f"{n_flagged} decided on evidence their stage's AASM rule does not name, {n_unsure} with confidence "
            f"below {LOW_CONFIDENCE:g}. Click a row to show the epoch."
        )
        if table.empty:
            return pn.Column(head)
        widget = pn.widgets.Tabulator(
            table,
            show_index=False,
            disabled=True,
            selectable=1,
            height=min(60 + 30 * len(table), 260),
            layout="fit_data_fill",
            css_classes=["stqs-review"],
            sizing_mode="stretch_width",
        )
        widget.on_click(lambda event: setattr(self.dash, "epoch", int(table.epoch.iloc[event.row])))
        return pn.Column(head, widget)
