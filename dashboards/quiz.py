"""Score it yourself: the dashboard's quiz for students.

Epochs of the open night are shown one at a time as scorers see them (a 30-s page at paper speed, 1-s and 5-s grid
lines, channels stacked in µV with scale bars, the ±37.5 µV slow-wave lines on the EEG); the student picks a stage,
then sees the expert's and the model's stage and the evidence: the simulator's events on a demo night, and where
hiding 5 s of the epoch lowers the model's confidence (time occlusion, computed off the event loop). A running
score and the student x expert confusion matrix cover the session; the epochs can be limited to one expert stage
or to the hard ones (transitions, low model confidence), in an order the seed decides (``stqs_core.teaching``).
"""

from __future__ import annotations

import html
from functools import partial

import holoviews as hv
import numpy as np
import panel as pn
import param
import sources

from stqs_core.constants import EPOCH_SEC, STAGES
from stqs_core.teaching import (
    GRID_S,
    ROW_SPACING_UV,
    SCALE_BAR_UV,
    confusion_table,
    epoch_events,
    page_rows,
    quiz_epochs,
    score_answers,
)

SUBSETS = ("all epochs", *(f"expert {s}" for s in STAGES), "hard epochs")
"""Which epochs the quiz asks about: all scored ones, one expert stage, or the hard ones."""
TIME = hv.Dimension("quiz_time", label="time in epoch (s)", range=(0, EPOCH_SEC + 2.5))
PAGE = hv.Dimension("quiz_uv", label="µV (stacked channels)")
EVENT_COLOURS = {"spindle": "#f4a259", "k_complex": "#5b8e7d", "slow_wave": "#2e4057", "alpha": "#e9c46a"}
"""Colours of the simulator's event types on the page (others: grey)."""


class Quiz(pn.viewable.Viewer):
    """One student's quiz on the night a :class:`app.Dashboard` has open.

    ``background(work, then)`` runs ``work`` off the event loop and hands its result to ``then`` on it
    (:func:`app.in_background`).
    """

    subset = param.Selector(default=SUBSETS[0], objects=list(SUBSETS), label="Epochs to score")
    seed = param.Integer(0, bounds=(0, 10_000), label="Order (seed)")
    order = param.Array(np.zeros(0, dtype=int), precedence=-1, doc="epochs of this quiz, in the order asked")
    position = param.Integer(0, precedence=-1, doc="index into order of the epoch shown")
    picked = param.Integer(-1, precedence=-1, doc="the student's stage for the epoch shown (-1: not yet)")
    answers = param.List([], precedence=-1, doc="(epoch, student, expert, model) of every pick this session")
    evidence = param.Parameter(None, precedence=-1, doc="(night id, model, epoch, TimeOcclusion or error)")

    def __init__(self, dashboard, background, **params):
        super().__init__(**params)
        self._dash, self._background = dashboard, background
        self._picks = [
            pn.widgets.Button(label=stage, button_type="light", width=70, css_classes=["stqs-quiz-pick"])
            for stage in STAGES
        ]
        for code, button in enumerate(self._picks):
            button.on_click(lambda _, code=code: self.pick(code))
        self._next = pn.widgets.Button(
            label="Next epoch ▶", button_type="primary", width=130, css_classes=["stqs-quiz-next"]
        )
        self._next.on_click(lambda _: self.next())
        dashboard.param.watch(lambda *_: self._new_night(), ["night", "model_key"])
        self._new_night()

    # ------------------------------------------------------------ state

    def _new_night(self) -> None:
        """A new night or model: the session's score starts again."""
        self.answers = []
        self._reorder()

    @param.depends("subset", "seed", watch=True)
    def _reorder(self) -> None:
        night = self._dash.night
        if night is None or night.true is None:
            self.param.update(order=np.zeros(0, dtype=int), position=0, picked=-1)
            return
        stage = self.subset.removeprefix("expert ") if self.subset.startswith("expert ") else None
        order = quiz_epochs(night.true, self._proba(), stage=stage, hard=self.subset == "hard epochs", seed=self.seed)
        self.param.update(order=order, position=0, picked=-1)

    def _proba(self) -> np.ndarray:
        return sources.probabilities(self._dash.night, self._dash.model_key)

    @property
    def epoch(self) -> int | None:
        """The epoch shown (None: the quiz is over or has no epoch)."""
        return int(self.order[self.position]) if self.position < len(self.order) else None

    def pick(self, stage: int) -> None:
        """The student's answer for the epoch shown (a second pick on the same epoch is ignored); the time occlusion
        of the epoch is computed off the event loop, then drawn."""
        epoch = self.epoch
        if epoch is None or self.picked >= 0:
            return
        night, key = self._dash.night, self._dash.model_key
        model = int(self._proba()[epoch].argmax())
        self.answers = [*self.answers, (epoch, int(stage), int(night.true[epoch]), model)]
        self.picked = int(stage)
        if night.recording is not None:
            tag = (id(night), key, epoch)
            self._background(
                partial(sources.time_occlusion, night, key, epoch), lambda out: setattr(self, "evidence", (*tag, out))
            )

    def next(self) -> None:
        """The next epoch of the quiz."""
        if self.position < len(self.order):
            self.param.update(position=self.position + 1, picked=-1)

    # ------------------------------------------------------------ views

    @param.depends("order", "position", "picked")
    def header(self) -> pn.pane.Markdown:
        night, epoch = self._dash.night, self.epoch
        if night is None:
            return pn.pane.Markdown("")
        if night.true is None:
            return pn.pane.Markdown(
                "*The quiz needs a night scored by an expert: open a demo night or a recording with its hypnogram.*"
            )
        if night.recording is None:
            return pn.pane.Markdown(
                "*The quiz draws µV signals: HDF5 stores hold z-scored epochs only; open a demo "
                "night or an EDF recording.*"
            )
        if epoch is None:
            return pn.pane.Markdown(
                f"**The quiz is over** ({len(self.order)} epochs of '{self.subset}'): change the order (seed) or the "
                "epochs to score to start another."
            )
        question = (
            f"<span class='stqs-quiz-question' data-position='{self.position}'>Question {self.position + 1} of "
            f"{len(self.order)}</span> ({self.subset})"
        )
        if self.picked < 0:  # where the epoch lies would give the answer away: the hypnogram is on the page
            return pn.pane.Markdown(f"{question}: which stage is this page?")
        minute = epoch * EPOCH_SEC / 60
        return pn.pane.Markdown(
            f"{question}: <span class='stqs-quiz-epoch' data-epoch='{epoch}'>epoch {epoch}</span> "
            f"(minute {minute:g} of the night); your answer is in, see below."
        )

    @param.depends("order", "position", "picked", "evidence")
    def page(self) -> pn.pane.HoloViews | pn.pane.Markdown | pn.Column:
        """The 30-s page; after a pick, the simulator's events on it and the time occlusion below it."""
        night, epoch = self._dash.night, self.epoch
        if epoch is None or night.recording is None or night.true is None:
            return pn.pane.Markdown("")
        t, signals = sources.scoring_page(night, epoch)
        events = None
        if self.picked >= 0 and night.events is not None:
            events = night.events[night.events.epoch == epoch]
        plot = _page_plot(t, signals, night.recording.channel_names, events, night.recording.roles)
        if self.picked >= 0:
            plot = (plot + self._occlusion_plot(night, epoch)).cols(1)
        pane = pn.pane.HoloViews(plot, css_classes=["stqs-quiz-page"], linked_axes=False)
        note = sources.absent_note(night)
        return pn.Column(pn.pane.Markdown(f"*{note}*", css_classes=["stqs-absent"]), pane) if note else pane

    def _occlusion_plot(self, night, epoch: int) -> hv.Overlay:
        done = self.evidence
        result = done[3] if done is not None and done[:3] == (id(night), self._dash.model_key, epoch) else None
        label = "p drop"
        if result is None or isinstance(result, Exception):
            what = "computing…" if result is None else f"failed: {html.escape(str(result)[:100])}"
            curve = hv.Curve(([0, EPOCH_SEC], [0, 0]), TIME, hv.Dimension("quiz_drop", label=f"{label} ({what})"))
            curve = curve.opts(color="#c62828")
        else:
            data = result.per_sample
            drop = (data.time_s, data.mean_drop)
            dimension = hv.Dimension("quiz_drop", label=label)
            curve = hv.Area(drop, TIME, dimension).opts(color="#c62828", alpha=0.5) * hv.Curve(
                drop, TIME, dimension
            ).opts(color="#c62828")
        return curve.opts(
            responsive=True,
            height=170,
            xlim=TIME.range,
            title="the model's evidence (time occlusion): drop of its p(stage) when 5 s around a moment are hidden",
            fontsize={"title": 10},
        )

    @param.depends("picked", "position")
    def verdict(self) -> pn.pane.Markdown:
        """After a pick: the student's, the expert's and the model's stage, and the events in the epoch."""
        epoch = self.epoch
        if epoch is None or self.picked < 0:
            return pn.pane.Markdown("")
        night = self._dash.night
        proba = self._proba()[epoch]
        you, expert, model = STAGES[self.picked], STAGES[night.true[epoch]], STAGES[proba.argmax()]
        mark = "✔ right" if you == expert else "✘ not the expert's"
        events = epoch_events(night.events, epoch)
        lines = [
            f"<span class='stqs-quiz-reveal' data-you='{you}' data-expert='{expert}' data-model='{model}'>You: "
            f"**{you}** ({mark}) · expert: **{expert}** · model: **{model}** (p = {proba.max():.2f})</span>",
            f"Simulator's events in this epoch (shaded on the page): {events}"
            if events
            else ("No simulator events in this epoch." if night.events is not None else ""),
        ]
        return pn.pane.Markdown("  \n".join(line for line in lines if line))

    @param.depends("answers")
    def score(self) -> pn.Column:
        """The running score and the student x expert confusion matrix of the session."""
        if not self.answers:
            return pn.Column(pn.pane.Markdown("*No answer yet this session.*", css_classes=["stqs-quiz-score"]))
        _, student, expert, model = np.array(self.answers).T
        score = score_answers(expert, student)
        agree = int((model == expert).sum())
        text = (
            f"<span class='stqs-quiz-score' data-correct='{score['correct']}' data-answered='{score['answered']}'>"
            f"**{score['correct']} of {score['answered']}** right ({score['accuracy']:.0%})</span>; the model: "
            f"{agree} of {len(expert)}"
        )
        table = confusion_table(score["confusion"])
        return pn.Column(
            pn.pane.Markdown(text),
            "Rows: the expert's stage; columns: yours",
            pn.pane.DataFrame(table, css_classes=["stqs-quiz-confusion"], sizing_mode=None, width=330),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Row(
            pn.widgets.Select.from_param(self.param.subset, width=180, css_classes=["stqs-quiz-subset"]),
            pn.widgets.IntInput.from_param(self.param.seed, width=120),
            sizing_mode="stretch_width",
        )
        picks = pn.Row(*self._picks, pn.Spacer(width=20), self._next, sizing_mode="stretch_width")
        return pn.Row(
            pn.Column(controls, self.header, picks, self.verdict, self.page, sizing_mode="stretch_width"),
            pn.Column("#### Your session", self.score, width=340, sizing_mode="fixed"),
            sizing_mode="stretch_width",
        )


def _page_plot(t: np.ndarray, signals: np.ndarray, names: list[str], events=None, roles=None) -> hv.Overlay:
    """A 30-s page ``signals`` ``(R, n)`` µV over ``t`` ``(n,)`` s as on paper (``stqs_core.teaching.page_rows``),
    one row per channel the recording has (``roles``: each row's modality); ``events`` (the epoch's rows of the
    simulator's table) shaded on their channels."""
    rows = page_rows(names, roles)
    low, high = -0.75 * ROW_SPACING_UV, rows[0].baseline + 0.75 * ROW_SPACING_UV
    minor, major = (np.arange(0, EPOCH_SEC + s / 2, s) for s in GRID_S)
    layers = [
        hv.Segments([(x, low, x, high) for x in minor], [TIME, PAGE, "x1", "y1"]).opts(color="#e0e0e0", line_width=1),
        hv.Segments([(x, low, x, high) for x in major], [TIME, PAGE, "x1", "y1"]).opts(color="#9e9e9e", line_width=1.5),
        hv.Segments(
            [(0, r.baseline + ref, EPOCH_SEC, r.baseline + ref) for r in rows for ref in r.references],
            [TIME, PAGE, "x1", "y1"],
        ).opts(color="#1565c0", line_dash="dashed", line_width=1),
    ]
    if events is not None and len(events):
        half = ROW_SPACING_UV / 2
        boxes = [
            (
                e.onset_s - e.epoch * EPOCH_SEC,
                rows[e.row].baseline - half,
                e.onset_s - e.epoch * EPOCH_SEC + e.duration_s,
                rows[e.row].baseline + half,
                e.type,
            )
            for e in events.itertuples()
            if 0 <= e.row < len(rows)
        ]
        layers.append(
            hv.Rectangles(boxes, [TIME, PAGE, "x1", "y1"], ["event"]).opts(
                color="event",
                cmap={k: EVENT_COLOURS.get(k, "#bdbdbd") for k in {b[4] for b in boxes}},
                alpha=0.35,
                line_width=0,
                tools=["hover"],
            )
        )
    layers += [
        hv.Curve((t, r.baseline + s), TIME, PAGE).opts(color="black", line_width=0.8) for r, s in zip(rows, signals)
    ]
    bars = [(EPOCH_SEC + 0.5, r.baseline, EPOCH_SEC + 0.5, r.baseline + SCALE_BAR_UV) for r in rows]
    layers += [
        hv.Segments(bars, [TIME, PAGE, "x1", "y1"]).opts(color="black", line_width=3),
        hv.Labels(
            [(EPOCH_SEC + 0.7, r.baseline + SCALE_BAR_UV / 2, f"{SCALE_BAR_UV:g} µV") for r in rows],
            [TIME, PAGE],
            "bar",
        ).opts(text_font_size="8pt", text_align="left", text_color="black"),
    ]
    return hv.Overlay(layers).opts(
        responsive=True,
        height=520,
        xlim=TIME.range,
        ylim=(low, high),
        yticks=[(r.baseline, r.name) for r in rows],
        xticks=list(major),
        ylabel="",
        show_legend=False,
        title="grid 1 s (bold 5 s) · dashed: ±37.5 µV, a 75-µV slow wave's peak to peak",
        fontsize={"title": 10},
    )
