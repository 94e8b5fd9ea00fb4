"""The STQS dashboard: one night, its hypnogram, and why the network scored it so.

Run ``stqs dashboard`` (or ``panel serve dashboards/app.py``, see the README's "Serving the dashboard to a lab").
It opens on a simulated demo night scored by the default model; the sidebar picks another recording (an EDF file
or HDF5 store in the operator's data folders, or an upload) or model. URL arguments set the start state, e.g.
``?hours=1&seed=3&epoch=40&band=8,12&modalities=eeg,eog&mode=pass&method=saliency&model=name-or-file``; bad ones are
reported and left at their defaults (no ``modalities``: no occlusion until one is picked). The environment variable
``STQS_DASHBOARD_HOURS`` sets the demo night's length when the URL does not; see :mod:`sources` for the data
folders, upload limit and cache size.

The heavy work (preprocessing, scoring, occlusion, filters, AASM rules) is ``stqs_core``'s, cached per night and
model in :mod:`sources`; this module holds the state (a :class:`param.Parameterized`) and lays out the views.
Served, nights are read, scored and occluded on worker threads (:func:`in_background`) so that sessions do not
queue behind one another; pages are drawn on the event loop.
"""

from __future__ import annotations

import html
import logging
import os
import sys
from functools import partial
from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.io.document import hold
from panel.io.state import set_curdoc

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, also when imported from elsewhere

import quiz  # noqa: E402
import review  # noqa: E402
import sources  # noqa: E402
import views  # noqa: E402

from stqs_core.allocator import keep_freed_memory  # noqa: E402
from stqs_core.constants import EPOCH_SEC, ROLES, STAGES  # noqa: E402
from stqs_core.errors import StqsError, check_option, check_range  # noqa: E402
from stqs_core.interpret.aasm import testable, verdicts  # noqa: E402
from stqs_core.interpret.attribution import DEFAULT_METHOD, METHODS  # noqa: E402
from stqs_core.interpret.bands import row_labels  # noqa: E402
from stqs_core.metrics import agreement  # noqa: E402

logger = logging.getLogger(__name__)
keep_freed_memory()  # the server owns its process: fast scoring and occlusion

hv.extension("bokeh", logo=False)
pn.extension("filedropper", "tabulator", notifications=True, loading_indicator=True, sizing_mode="stretch_width")

SOURCES = ("demo night", "EDF file", "HDF5 store", "upload")
CONTEXT = 1
"""Epochs shown on each side of the selected one in the epoch viewer."""
HOURS = (0.1, 12.0)
"""Shortest and longest demo night (h)."""
MAX_SEED = 10_000
NYQUIST = 62.5
"""Highest frequency of the 125-Hz epochs (Hz): the limit of an occluded band."""


def describe(err: Exception) -> str:
    """A message for the page: the project's errors say what to do; others only their kind (details in the log),
    so that no file content reaches a visitor. HTML-escaped: messages may quote what a visitor typed."""
    text = (
        str(err)[:400]
        if isinstance(err, StqsError)
        else (f"unexpected {type(err).__name__} (the details are in the server's log)")
    )
    return html.escape(text, quote=False)


class UploadDropper(pn.widgets.FileDropper):
    """Panel's chunked file dropper, each chunk written straight to the session's :class:`sources.UploadFolder`.

    The browser sends the file in chunks (each well below the websocket message limit) and shows the progress;
    the server never holds the whole file in memory and refuses it past :func:`sources.max_upload_bytes`.
    ``on_upload(path, filename, error)`` is called when a file is complete (``error`` None) or refused.
    """

    def __init__(self, folder: sources.UploadFolder, on_upload, **params):
        limit = sources.max_upload_bytes()
        # no accepted_filetypes: browsers give EDF files no MIME type, which the dropper then refuses; the
        # suffix is checked here (sources.UploadFolder.new_file)
        params = {
            "chunk_size": 4_000_000,
            "max_file_size": f"{limit // 2**20}MB",
            "multiple": False,
            "previews": [],
            **params,
        }
        super().__init__(**params)
        self.limit, self._folder, self._on_upload, self._writers = limit, folder, on_upload, {}

    def _process_event(self, event) -> None:
        data = event.data
        name = str(data["name"])[:200]
        if event.event_name == "delete_event":
            if (writer := self._writers.pop(name, None)) is not None:
                writer.discard()
            return
        try:
            if data["chunk"] == 1:
                if (old := self._writers.pop(name, None)) is not None:
                    old.discard()
                self._writers[name] = sources.UploadWriter(self._folder, name, self.limit)
            if (writer := self._writers.get(name)) is None:
                return  # the rest of a refused file
            writer.add(bytes(data["data"]))
        except (StqsError, OSError) as err:
            self._writers.pop(name, None)
            self._on_upload(None, name, err)
            return
        if data["chunk"] >= data["total_chunks"]:
            self._on_upload(self._writers.pop(name).close(), name, None)


class Dashboard(param.Parameterized):
    """State of one browser session; the views depend on these parameters.

    ``defer``: do not read the first night now but on :meth:`start` (a served page shows first, then fills in).
    """

    source = param.Selector(default=SOURCES[0], objects=list(SOURCES), doc="where the night comes from")
    hours = param.Number(8.0, bounds=HOURS, doc="length of the demo night (h)")
    seed = param.Integer(0, bounds=(0, MAX_SEED), doc="seed of the demo night")
    edf_path = param.String("", doc="EDF/BDF file in a data folder (absolute, or relative to the folder)")
    eeg = param.String("", doc="EEG channel names, comma-separated (empty: found by preset)")
    eog = param.String("", doc="EOG channel names, left then right")
    emg = param.String("", doc="chin EMG channel name")
    preset = param.Selector(default="any", objects=["any", "shhs", "sleep-edf", "aasm"], doc="channel-name preset")
    store_path = param.String("", doc="HDF5 epoch store in a data folder")
    store_recording = param.String("", doc="recording name in the store")
    model = param.Selector(default=None, objects=[], doc="shipped model or a model file of the data folders")
    model_path = param.String("", doc="or a model's name or file in a data folder; overrides the list")
    adapt = param.Boolean(
        False,
        label="Adapt the model to this night (no labels)",
        doc="re-estimate the batch-norm statistics on the night, balanced over its stages (a copy: stqs score --adapt)",
    )
    load = param.Action(lambda self: self.load_night(), label="Load night and model")

    epoch = param.Integer(0, bounds=(0, None), doc="selected epoch")
    band = param.Range((12.0, 16.0), bounds=(0.0, NYQUIST), doc="occluded frequency band (Hz)")
    modalities = param.ListSelector(
        default=[], objects=list(ROLES), doc="modalities the band is occluded in (none: no occlusion)"
    )
    mode = param.Selector(default="stop", objects=["stop", "pass"], doc="remove the band, or keep only the band")
    method = param.Selector(default=DEFAULT_METHOD, objects=list(METHODS), doc="attribution method of the time tab")
    attributed = param.Parameter(None, precedence=-1, doc="(key, Attribution or error) computed off the event loop")

    night = param.ClassSelector(class_=sources.Night, precedence=-1)
    model_key = param.String("", precedence=-1)
    model_warning = param.String("", precedence=-1)
    loading = param.String("", precedence=-1, doc="what is being read now (empty: idle)")

    def __init__(self, defer: bool = False, **params):
        choices = sources.model_choices()
        key, warning = sources.default_model()
        super().__init__(**params)
        self.param.model.objects = list(choices.values())
        self.param.model.names = choices
        if self.model is None:
            self.model = key if key in choices.values() else next(iter(choices.values()))
        self.model_warning = warning
        self.uploads = sources.UploadFolder()
        self.uploaded: tuple[Path, str] | None = None
        self.upload_input = UploadDropper(self.uploads, self._uploaded, label="EDF/BDF upload")
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False)
        self.content = pn.Column(self.progress, self.alert)
        self.review = review.ReviewQueue(self, in_background)
        self._notice = ""
        if not defer:
            self.load_night()

    @param.depends("adapt", watch=True)
    def _readapt(self) -> None:
        if self.night is not None:
            self.load_night()

    @param.depends("night", "model_key", watch=True)
    def _offer_read_modalities(self) -> None:
        """Offer occlusion only in the modalities the model reads on this night (an absent one is not a choice)."""
        if self.night is None or not self.model_key:
            return
        read = list(sources.night_model(self.night, self.model_key).config.modalities)
        self.param.modalities.objects = read
        if any(m not in read for m in self.modalities):
            self.modalities = [m for m in self.modalities if m in read]

    def start(self) -> None:
        """Read the first night (of a deferred session)."""
        self.load_night()

    def close(self) -> None:
        """End of the session: delete its uploads."""
        self.uploaded = None
        self.uploads.remove()

    # ------------------------------------------------------------ loading

    def load_night(self) -> None:
        """Read the chosen night and model and score it, off the event loop when served (see :func:`in_background`).

        A bad choice leaves the current night with a message; a second request while one runs is refused.
        """
        if self.loading:
            self._say(f"Still reading {self.loading}: wait for it to finish.", kind="warning")
            return
        self.loading = self._describe_source()
        request = dict(self.param.values(), channels=self._channels(), uploaded=self.uploaded)
        in_background(partial(_compute, request), self._loaded)

    def _loaded(self, result: tuple | Exception) -> None:
        """Show a night read by :meth:`load_night` (on the event loop), or say why it could not be read."""
        self.loading = ""
        if isinstance(result, Exception):
            self._say(f"Could not load: {describe(result)}")
            fallback = {name: self.param[name].default for name in ("source", "model_path")}
            if self.night is None and any(getattr(self, k) != v for k, v in fallback.items()):
                self._notice = self.alert.object  # a first night from bad URL arguments: open on the defaults
                self.param.update(fallback)
                self.load_night()
            return
        night, model_key, proba = result
        first = self.night is None
        self.alert.param.update(object=self._notice, visible=bool(self._notice))
        self._notice = ""
        self.param.epoch.bounds = (0, len(proba) - 1)
        self.param.update(night=night, model_key=model_key, epoch=min(self.epoch, len(proba) - 1))
        if first:  # the night first (sent to the browser at once when served), then the tabs
            self.content.objects = self.overview()
            in_background(lambda: None, lambda _: self.content.append(self.tabs()))

    def _set_band(self, band: tuple[float, float]) -> None:
        """A new occlusion band: its stages are computed off the event loop, then the views redrawn."""
        if self.night is None or not self.modalities:
            self.band = band
            return
        work = partial(sources.occluded_stages, self.night, self.model_key, band, tuple(self.modalities), self.mode)
        in_background(work, lambda _: setattr(self, "band", band))  # a failure is shown by the views

    def _channels(self) -> dict:
        channels = {
            role: tuple(n.strip() for n in getattr(self, role).split(",") if n.strip()) or None for role in ROLES
        }
        return {**channels, "preset": None if self.preset == "any" else self.preset}

    def _describe_source(self) -> str:
        if self.source == "demo night":
            return f"the demo night ({self.hours:g} h, seed {self.seed})"
        if self.source == "upload" and self.uploaded is not None:
            path, filename = self.uploaded
            return f"{html.escape(Path(filename).name[:100])} ({path.stat().st_size / 2**20:.1f} MB)"
        return (
            html.escape({"EDF file": self.edf_path, "HDF5 store": self.store_path}.get(self.source, "")[:100])
            or self.source
        )

    def _say(self, message: str, kind: str = "error") -> None:
        self.alert.param.update(
            object=f"**{message}**" if kind == "error" else message,
            alert_type="danger" if kind == "error" else "warning",
            visible=True,
        )
        if pn.state.curdoc is not None and pn.state.notifications is not None:
            getattr(pn.state.notifications, kind)(message, duration=8000)

    def _uploaded(self, path: Path | None, filename: str, error: Exception | None) -> None:
        """A finished (or refused) upload: the previous one is deleted, the new one read."""
        if error is not None:
            self._say(f"Upload refused: {describe(error)}")
            return
        if self.uploaded is not None:
            self.uploaded[0].unlink(missing_ok=True)
        self.uploaded = (path, filename)
        self.source = "upload"
        self.load_night()

    @param.depends("loading")
    def progress(self) -> pn.Row:
        """What is being read, with an activity bar, while a night loads."""
        if not self.loading:
            return pn.Row()
        return pn.Row(
            pn.indicators.Progress(active=True, width=120, sizing_mode="fixed"),
            pn.pane.Markdown(f"Reading and scoring {self.loading}…", css_classes=["stqs-loading"]),
        )

    # ------------------------------------------------------------ derived data (cached in sources)

    @param.depends("night", "model_key")
    def original(self) -> np.ndarray:
        """Probabilities ``(n_epochs, 5)`` of the unaltered night."""
        return sources.probabilities(self.night, self.model_key)

    @param.depends("night", "model_key", "band", "modalities", "mode")
    def occluded(self) -> np.ndarray | None:
        """Stages after occluding :attr:`band` in :attr:`modalities`; None when nothing is occluded or it failed."""
        if not self.modalities:
            return None
        try:
            return sources.occluded_stages(
                self.night, self.model_key, tuple(float(b) for b in self.band), tuple(self.modalities), self.mode
            )
        except Exception as err:  # shown in the page, the views go on without the occlusion
            logger.warning("occlusion failed: %s", err)
            self.alert.object, self.alert.visible = f"**Occlusion failed:** {describe(err)}", True
            return None

    # ------------------------------------------------------------ views

    @param.depends("night", "model_key", "band", "modalities", "mode")
    def hypnogram(self) -> hv.Overlay:
        pred = self.original().argmax(1)
        occluded = self.occluded()
        return views.hypnogram(pred, self.night.true, occluded).opts(framewise=True)

    @param.depends("epoch")
    def selection(self) -> hv.VSpan:
        return views.selected_span(self.epoch)

    @param.depends("night", "model_key")
    def probability_strip(self) -> hv.Overlay:
        return views.probability_strip(self.original()).opts(framewise=True)

    @param.depends("night", "model_key", "band", "modalities", "mode")
    def summary(self) -> pn.Column:
        """Agreement and kappa, the number of changed epochs, and the change in stage shares."""
        pred = self.original().argmax(1)
        occluded = self.occluded()
        name = html.escape(self.night.name)  # an upload's file name is the visitor's
        lines = [
            f"{name} scored by {sources.model_label(self.model_key)}: **{len(pred)} epochs** "
            f"({len(pred) * EPOCH_SEC / 3600:.1f} h)"
        ]
        if self.night.true is not None:
            score = agreement(self.night.true, pred)
            if score["n_scored"]:
                lines.append(f"vs expert: accuracy **{score['accuracy']:.3f}**, Cohen's kappa **{score['kappa']:.3f}**")
        statistics = pn.pane.DataFrame(
            views.sleep_statistics_table(pred, self.night.true),
            index=False,
            width=320,
            sizing_mode=None,
            css_classes=["stqs-sleep-statistics"],
        )
        if occluded is None:
            lines.append("no occlusion (pick a modality)")
            return pn.Row(pn.Column(_summary_text(lines), statistics))
        n_changed = int((occluded != pred).sum())
        what = "removed from" if self.mode == "stop" else "kept alone in"
        lines.append(
            f"{self.band[0]:g}-{self.band[1]:g} Hz {what} {', '.join(m.upper() for m in self.modalities)}: "
            f"**<span class='stqs-changed' data-changed='{n_changed}'>{n_changed}</span> changed epochs** "
            f"({n_changed / len(pred):.1%})"
        )
        if self.night.true is not None:
            score = agreement(self.night.true, occluded)
            if score["n_scored"]:
                lines.append(f"occluded vs expert: accuracy {score['accuracy']:.3f}, kappa {score['kappa']:.3f}")
        shares = views.stage_shares(pred, occluded)
        return pn.Row(
            pn.Column(_summary_text(lines), statistics),
            pn.pane.DataFrame(shares, index=False, width=340, sizing_mode=None),
            pn.pane.HoloViews(views.share_bars(shares), sizing_mode="fixed"),
        )

    @param.depends("night", "model_key", "epoch")
    def epoch_header(self) -> pn.pane.Markdown:
        i = self.epoch
        pred = self.original()[i]
        true = "—" if self.night.true is None or self.night.true[i] < 0 else STAGES[self.night.true[i]]
        head = (
            f"<span class='stqs-epoch' data-epoch='{i}'>Epoch {i}</span> "
            f"({_clock(i * EPOCH_SEC)}–{_clock((i + 1) * EPOCH_SEC)}): expert **{true}**, model "
            f"**{STAGES[pred.argmax()]}** (p = {pred.max():.2f}); {CONTEXT} epoch either side"
        )
        if self.night.recording is None:
            head += "  \n*HDF5 stores hold the preprocessed epochs only: signals are z-scored, not µV.*"
        return pn.pane.Markdown(head)

    def channel(self, row: int, night: sources.Night, epoch: int) -> hv.Overlay:
        """Channel ``row`` of the selected epoch with :data:`CONTEXT` epochs either side, in µV."""
        first, last = max(epoch - CONTEXT, 0), min(epoch + CONTEXT + 1, len(night.epochs))
        if night.recording is not None:
            rec = night.recording
            lo, hi = (int(round(e * EPOCH_SEC * rec.sfreq)) for e in (first, last))
            signal, sfreq, label = rec.data[row, lo:hi], rec.sfreq, f"{rec.channel_names[row]} µV"
        else:
            signal, sfreq = night.epochs[first:last, row].ravel(), 125.0
            label = f"{_row_names(night.roles)[row]} (z)"
        t = first * EPOCH_SEC + np.arange(len(signal)) / sfreq
        selected = (epoch * EPOCH_SEC, (epoch + 1) * EPOCH_SEC)
        return views.channel_trace(t, signal, row, label, selected, row == _n_rows(night) - 1)

    def epoch_viewer(self) -> pn.Column:
        """The channels the night has of the selected epoch and its neighbours; plots update in place."""
        return pn.Column(self.epoch_header, self.absent, pn.param.ParamMethod(self.channels))

    @param.depends("night")
    def channels(self) -> pn.pane.HoloViews:
        """One trace per row the night has (an absent modality has none: :meth:`absent` says so)."""
        rows = range(_n_rows(self.night)) if self.night is not None else range(0)
        channels = [hv.DynamicMap(pn.bind(self.channel, row, self.param.night, self.param.epoch)) for row in rows]
        layout = hv.Layout(channels).cols(1).opts(shared_axes=True)
        return pn.pane.HoloViews(layout, height=(len(channels) - 1) * 105 + 135 + 20)

    @param.depends("night", "model_key")
    def absent(self) -> pn.pane.Markdown:
        """A note naming the modalities the night or the model lacks (empty when neither lacks one)."""
        note = "" if self.night is None else sources.absent_note(self.night, self.model_key)
        return pn.pane.Markdown(f"*{note}*" if note else "", css_classes=["stqs-absent"])

    @param.depends()
    def time_evidence(self) -> pn.Column:
        """The time tab: the attribution method picker over :meth:`time_plot`."""
        picker = pn.widgets.Select.from_param(
            self.param.method, name="Attribution method", width=220, css_classes=["stqs-method"]
        )
        return pn.Column(picker, pn.param.ParamMethod(self.time_plot))

    @param.depends("night", "model_key", "epoch", "method", "attributed")
    def time_plot(self) -> pn.Column:
        """Where in the selected epoch the decision lives: a 5-s window zeroed at each second (all channels), and the
        per-sample importance of the chosen attribution method (computed off the event loop, then drawn)."""
        result = _guard(sources.time_occlusion, self.night, self.model_key, self.epoch)
        if isinstance(result, pn.pane.Alert):
            return result
        key = (id(self.night), sources.attribution_key(self.model_key, self.epoch, self.method))
        done = self.attributed[1] if self.attributed is not None and self.attributed[0] == key else None
        done = done if done is not None else self.night.derived.peek(key[1])
        alerts = []
        if done is None:
            work = partial(sources.attribution, self.night, self.model_key, self.epoch, self.method)
            in_background(work, lambda out: setattr(self, "attributed", (key, out)))
            done = self.attributed[1] if self.attributed is not None and self.attributed[0] == key else None
        if isinstance(done, Exception):
            alerts.append(pn.pane.Alert(f"**Attribution failed:** {describe(done)}", alert_type="danger"))
            done = None
        stage = STAGES[result.stage]
        title = f"epoch {self.epoch}: {stage} (p = {result.proba[result.stage]:.2f})"
        changed = result.windows["changed"].mean()
        top = result.per_sample["mean_drop"].abs().max()
        note = (
            f"Red: zeroing a 5-s window (all channels) around that time lowers p({stage}) (darkest: by "
            f"{top:.3f}); blue: raises it. {changed:.0%} of the {len(result.windows)} windows change the "
            "decision. Signals as the network sees them (filtered, z-scored). Bottom: each sample's importance "
            f"for {stage} by *{self.method.replace('_', ' ')}*."
        )
        importance = None if done is None else done.importance[0]
        epoch = sources.model_epochs(self.night, self.model_key)[self.epoch]
        names = _row_names(row_labels(sources.night_model(self.night, self.model_key).config))
        plot = views.time_evidence(epoch, result.per_sample, importance, names, title, self.method)
        height = len(epoch) * 105 + 135 + 40
        pane = pn.pane.HoloViews(plot, height=height, linked_axes=False, css_classes=["stqs-time"])
        return pn.Column(*alerts, pn.pane.Markdown(note), self.absent, pane)

    @param.depends("model_key")
    def filters(self) -> pn.Column:
        """The learned layer-1 kernels and frequency responses per modality, AASM bands shaded."""
        result = _guard(sources.filters, self.model_key)
        if isinstance(result, pn.pane.Alert):
            return result
        responses, kernels, peaks = result
        layer1 = peaks[peaks.layer == 1].assign(peak=lambda d: [f"{f:.1f} Hz {b}" for f, b in zip(d.peak_hz, d.band)])
        layer1 = layer1.pivot(index="modality", columns="filter", values="peak")
        layer1 = layer1.reindex([r for r in ROLES if r in layer1.index])
        return pn.Column(
            pn.pane.HoloViews(views.filter_responses(responses, kernels), sizing_mode="fixed"),
            "**Peak of each layer-1 kernel** (and its AASM band), one column per filter",
            pn.pane.DataFrame(layer1, sizing_mode=None),
        )

    @param.depends("night", "model_key")
    def importance(self) -> pn.Column:
        """Modality importance bars and the AASM correspondence table with its explanation per rule."""
        table = _guard(sources.modality_importance, self.night, self.model_key)
        report = _guard(sources.aasm_report, self.night, self.model_key)
        parts = [
            table
            if isinstance(table, pn.pane.Alert)
            else pn.pane.HoloViews(views.modality_importance(table), height=300)
        ]
        if isinstance(report, pn.pane.Alert):
            return pn.Column(*parts, report)
        columns = [
            c
            for c in ("stage", "rule", "evidence", "evidence_occlusion", "evidence_rank", "top_occlusion", "agrees")
            if c in report
        ]
        who = "expert" if self.night.true is not None else "model's own"
        read = sources.night_model(self.night, self.model_key).config.modalities
        parts += [
            self.absent,
            _agreement_heading(report),
            f"Each band is removed from each modality the model reads in turn ({5 * len(read)} occlusions); a rule "
            "agrees when its "
            f"evidence is among the 2 occlusions that most specifically lower its stage's probability "
            f"({who} stages).",
            pn.pane.DataFrame(
                report[columns].assign(agrees=verdicts(report)),
                index=False,
                na_rep="—",
                float_format="{:.0f}".format,
                stylesheets=["td, th {text-align: left !important;}"],
            ),
            pn.pane.Markdown("\n".join(f"- {e}" for e in report.explanation)),
        ]
        return pn.Column(*parts)

    @param.depends("source")
    def source_fields(self) -> pn.Param:
        fields = {
            "demo night": ["hours", "seed"],
            "EDF file": ["edf_path", "eeg", "eog", "emg", "preset"],
            "HDF5 store": ["store_path", "store_recording"],
            "upload": ["eeg", "eog", "emg", "preset"],
        }
        widgets = pn.Param(self.param, parameters=fields[self.source], show_name=False)
        if self.source == "upload":
            return pn.Column(
                widgets,
                self.upload_input,
                f"Up to {self.upload_input.limit / 2**20:.0f} MB; kept "
                "in a private folder deleted when you close the page.",
            )
        if self.source in ("EDF file", "HDF5 store"):
            roots = sources.data_dirs()
            where = (
                f"Files in the data folders: {html.escape(sources.folder_list(roots))}"
                if roots
                else "This server has no data folders (`stqs dashboard --data-dir DIR`): use an upload."
            )
            return pn.Column(widgets, pn.pane.Markdown(where))
        return widgets

    # ------------------------------------------------------------ layout

    def _select_epoch(self, x: float | None = None, **_) -> None:
        if x is not None and self.night is not None:
            self.epoch = int(np.clip(x * views.HOUR, 0, len(self.night.epochs) - 1))

    def controls(self) -> pn.Column:
        band = pn.widgets.RangeSlider(
            label="Band (Hz)", start=0.0, end=max(30.0, self.band[1]), step=0.5, value=self.band
        )
        band.param.watch(lambda e: self._set_band(tuple(e.new)), "value_throttled")
        model = pn.Param(
            self.param,
            parameters=["model", "model_path"],
            show_name=False,
            widgets={"model": {"type": pn.widgets.Select, "name": "Model"}},
        )
        return pn.Column(
            "### Night and model",
            pn.widgets.Select.from_param(self.param.source),
            self.source_fields,
            model,
            pn.widgets.Checkbox.from_param(self.param.adapt, css_classes=["stqs-adapt"]),
            pn.widgets.Button.from_param(self.param.load, button_type="primary"),
            "### Spectral occlusion",
            band,
            pn.widgets.CheckButtonGroup.from_param(self.param.modalities),
            pn.widgets.RadioButtonGroup.from_param(self.param.mode),
            pn.pane.Markdown(
                "*stop*: the band is removed; *pass*: only the band is kept. The night is re-scored "
                "on release of the slider."
            ),
            "### Epoch",
            pn.widgets.IntInput.from_param(
                self.param.epoch, label="Selected epoch (or click the hypnogram)", css_classes=["stqs-epoch-input"]
            ),
        )

    def overview(self) -> list:
        """The night: messages, hypnogram, stage probabilities and the occlusion summary."""
        selection = hv.DynamicMap(self.selection)
        tap = hv.streams.Tap(source=selection)  # on a single-element layer: HoloViews links it to the whole plot
        tap.add_subscriber(self._select_epoch)
        night_plot = (hv.DynamicMap(self.hypnogram) * selection).opts(
            hv.opts.Overlay(responsive=True, height=260, legend_position="right", framewise=True)
        )
        warning = pn.pane.Alert(self.model_warning, alert_type="warning", visible=bool(self.model_warning))
        return [
            self.progress,
            warning,
            self.alert,
            pn.pane.HoloViews(night_plot, sizing_mode="stretch_width"),
            pn.pane.HoloViews(hv.DynamicMap(self.probability_strip), sizing_mode="stretch_width"),
            self.summary,
        ]

    def tabs(self) -> pn.Tabs:
        """The epoch viewer with the review queue, the time occlusion, filters and AASM tabs, and the students' quiz
        (drawn when opened)."""
        lazy = {
            name: pn.param.ParamMethod(method, lazy=True)
            for name, method in (
                ("Time attribution", self.time_evidence),
                ("Filters", self.filters),
                ("Modalities and AASM rules", self.importance),
            )
        }
        viewer = pn.Column(self.epoch_viewer(), self.review.panel())  # the review queue under the epochs it selects
        return pn.Tabs(
            ("Epoch viewer", viewer),
            *lazy.items(),
            ("Quiz: score it yourself", quiz.Quiz(self, in_background)),
            dynamic=True,
        )

    def main(self) -> pn.Column:
        return pn.Column(*self.overview(), self.tabs())


def in_background(work, then) -> None:
    """``then(work())`` (``then(error)`` if it raised): ``work`` on :data:`sources.WORKERS`, ``then`` on the session's
    event loop when served, so that a session's reading never blocks the others; at once otherwise.

    HoloViews and Bokeh models are built by ``then`` on the event loop only: they are not safe across threads.
    """
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        then(_outcome(work))
        return

    def on_loop(result) -> None:
        with set_curdoc(doc), hold(doc):  # the changes sent as one message
            then(result)

    future = sources.WORKERS.submit(_outcome, work)
    future.add_done_callback(lambda f: doc.add_next_tick_callback(partial(on_loop, f.result())))


def _outcome(work):
    try:
        return work()
    except Exception as err:  # handed to the caller's ``then``, which says what failed
        logger.warning("%s failed: %s", getattr(work, "__name__", "work"), err, exc_info=not isinstance(err, StqsError))
        return err


def _compute(request: dict) -> tuple[sources.Night, str, np.ndarray]:
    """``(night, model key, probabilities)`` of a :meth:`Dashboard.load_night` request (parameter values).

    Also computes the occlusion the summary shows first, so that drawing the page finds it cached.
    """
    channels, source = request["channels"], request["source"]
    if source == "demo night":
        night = sources.demo_night(float(request["hours"]), int(request["seed"]))
    elif source == "EDF file":
        night = sources.edf_night(request["edf_path"], **channels)
    elif source == "HDF5 store":
        name = request["store_recording"].strip() or sources.store_recordings(request["store_path"])[0]
        night = sources.store_night(request["store_path"], name)
    elif request["uploaded"] is None:
        raise StqsError("drop an EDF/BDF file on the upload field first")
    else:
        night = sources.upload_night(*request["uploaded"], **channels)
    model_key = sources.adapted_key(
        sources.resolve_model(request["model_path"].strip() or request["model"]), request["adapt"]
    )
    proba = sources.probabilities(night, model_key)
    if request["modalities"]:
        _outcome(
            partial(
                sources.occluded_stages,
                night,
                model_key,
                tuple(float(b) for b in request["band"]),
                tuple(request["modalities"]),
                request["mode"],
            )
        )
    return night, model_key, proba


def _summary_text(lines: list[str]) -> pn.pane.Markdown:
    """The summary's lines, at the width of the sleep-statistics table below them."""
    return pn.pane.Markdown("  \n".join(lines), css_classes=["stqs-summary"], width=320, sizing_mode=None)


_ROW_NAMES = {"eeg": ("EEG 1", "EEG 2"), "eog": ("EOG L", "EOG R"), "emg": ("EMG",)}
"""Names of the z-scored rows of each modality (HDF5 stores have no channel names)."""


def _row_names(roles) -> list[str]:
    """A name per row of the given roles, e.g. ``["EEG 1", "EEG 2"]`` for an EEG-only night."""
    names, seen = [], {}
    for role in roles:
        at = seen[role] = seen.get(role, -1) + 1
        own = _ROW_NAMES[role]
        names.append(own[at] if at < len(own) else f"{role.upper()} {at + 1}")
    return names


def _agreement_heading(report) -> str:
    """``"#### AASM rules vs what the model relies on: 3 of 4 agree (1 not testable)"``."""
    checked = testable(report)
    text = f"#### AASM rules vs what the model relies on: {int(report.agrees.eq(True).sum())} of {checked.sum()} agree"
    return text if checked.all() else text + f" ({int((~checked).sum())} not testable)"


def _n_rows(night: sources.Night) -> int:
    """Rows of the night's signals: the recording's (µV) or the epochs' (z-scored store)."""
    return len(night.recording.data) if night.recording is not None else night.epochs.shape[1]


def _guard(compute, *args):
    """``compute(*args)``, or an Alert saying what failed: one broken view never takes the page down."""
    try:
        return compute(*args)
    except Exception as err:
        logger.warning("%s failed: %s", compute.__name__, err, exc_info=not isinstance(err, StqsError))
        return pn.pane.Alert(f"**{compute.__name__.replace('_', ' ')} failed:** {describe(err)}", alert_type="danger")


def _clock(seconds: float) -> str:
    h, rest = divmod(int(seconds), 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


URL_ARGUMENTS = {
    "hours": lambda v: check_range("hours", v, *HOURS),
    "seed": lambda v: int(check_range("seed", int(v), 0, MAX_SEED)),
    "epoch": lambda v: int(check_range("epoch", int(v), 0, 10**6)),
    "band": lambda v: _band(v),
    "modalities": lambda v: [check_option("modality", m, ROLES) for m in v.split(",") if m],
    "mode": lambda v: check_option("mode", v, ("stop", "pass")),
    "method": lambda v: check_option("method", v, METHODS),
    "model": lambda v: v[:500],
    "adapt": lambda v: check_option("adapt", v.lower(), ("0", "1", "false", "true")) in ("1", "true"),
}
"""Parsers of the URL arguments (raising ``ValueError`` for a bad value), by name."""


def _band(text: str) -> tuple[float, float]:
    low, high = (check_range("band", b, 0.0, NYQUIST) for b in text.split(","))
    if low >= high:
        raise StqsError(f"band {low:g},{high:g}: the lower edge must be below the upper one")
    return low, high


def url_settings(args: dict[str, list[bytes]], environ: dict[str, str] = os.environ) -> tuple[dict, list[str]]:
    """Parameters from URL arguments (``?hours=1&band=8,12``) and ``STQS_DASHBOARD_HOURS``: ``(settings, problems)``.

    A bad value is left out of ``settings`` (its parameter keeps its default) and described in ``problems``;
    unknown arguments are ignored.
    """
    text = {k: v[0].decode(errors="replace") for k, v in args.items() if v}
    if "hours" not in text and "STQS_DASHBOARD_HOURS" in environ:
        text["hours"] = environ["STQS_DASHBOARD_HOURS"]
    settings, problems = {}, []
    for name, parse in URL_ARGUMENTS.items():
        if name in text:
            try:
                settings["model_path" if name == "model" else name] = parse(text[name])
            except ValueError as err:
                problems.append(f"{name}={text[name][:40]!r} ({err if isinstance(err, StqsError) else 'not a number'})")
    return settings, problems


def create_app(settings: dict | None = None, problems: list[str] = ()) -> pn.template.BootstrapTemplate:
    """The whole page for one session: shown at once, its first night read once the page is loaded."""
    dash = Dashboard(defer=True, **(settings or {}))
    pn.state.on_session_destroyed(lambda context: dash.close())
    pn.state.onload(dash.start)
    if problems:
        dash._say(
            "Ignored the URL arguments " + html.escape("; ".join(problems)) + ": their defaults are used.",
            kind="warning",
        )
    spinner = pn.indicators.LoadingSpinner(value=pn.state.param.busy, width=30, height=30, sizing_mode="fixed")
    return pn.template.BootstrapTemplate(
        title="STQS — interpretable sleep staging",
        sidebar=[dash.controls()],
        main=[dash.content],
        header=[spinner],
        sidebar_width=330,
    )


if pn.state.served:
    create_app(*url_settings(pn.state.session_args or {})).servable()
