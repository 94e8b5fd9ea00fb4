"""HoloViews plots of the dashboard: pure functions from arrays and tables to elements, nothing computed here."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from stqs_core.constants import AASM_BANDS, EPOCH_SEC, STAGES
from stqs_core.hypnogram import LEVELS, STAGE_COLOURS, levels

STAGE_TICKS = [(int(LEVELS[i]), s) for i, s in enumerate(STAGES)]
HOUR = 3600 / EPOCH_SEC  # epochs per hour


def epoch_hours(n_epochs: int) -> np.ndarray:
    """Start of each epoch and the end of the last, in hours ``(n_epochs + 1,)``."""
    return np.arange(n_epochs + 1) / HOUR


def _steps(stages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step-curve points of stages ``(n,)`` (-1 drawn as a gap)."""
    level = levels(stages)
    return epoch_hours(len(level)), np.r_[level, level[-1:]]


def hypnogram(pred: np.ndarray, true: np.ndarray | None = None, occluded: np.ndarray | None = None) -> hv.Overlay:
    """Expert (grey), predicted (blue) and occluded (orange, changed epochs marked) stages over the night.

    The same four layers are always drawn (empty when there is no expert or no occlusion) so that a
    DynamicMap can update them in place.
    """
    true = np.full(len(pred), -1) if true is None else true
    occluded = pred if occluded is None else occluded
    changed = np.flatnonzero(occluded != pred)
    layers = [
        hv.Curve(_steps(true), "time (h)", "stage", label="expert").opts(
            interpolation="steps-post", color="#9e9e9e", line_width=4, alpha=0.8
        ),
        hv.Curve(_steps(pred), "time (h)", "stage", label="model").opts(
            interpolation="steps-post", color="#1f77b4", line_width=1.5
        ),
        hv.Curve(_steps(occluded), "time (h)", "stage", label="occluded").opts(
            interpolation="steps-post", color="#ff7f0e", line_width=1.5, line_dash="dashed"
        ),
        hv.Scatter(((changed + 0.5) / HOUR, LEVELS[occluded[changed]]), "time (h)", "stage", label="changed").opts(
            color="#d62728", size=7, marker="x"
        ),
    ]
    return hv.Overlay(layers).opts(
        hv.opts.Curve(yticks=STAGE_TICKS, ylim=(-0.5, 4.5), tools=["tap", "hover"]),
        hv.opts.Overlay(legend_position="right", responsive=True, height=260, xlim=(0, len(pred) / HOUR)),
    )


def probability_strip(proba: np.ndarray) -> hv.Overlay:
    """Stacked per-epoch stage probabilities ``(n_epochs, 5)`` over the night."""
    hours = (np.arange(len(proba)) + 0.5) / HOUR
    areas = [
        hv.Area((hours, proba[:, i]), "time (h)", "p(stage)", label=s).opts(color=STAGE_COLOURS[i])
        for i, s in enumerate(STAGES)
    ]
    return hv.Area.stack(hv.Overlay(areas)).opts(
        hv.opts.Area(line_width=0, alpha=0.9),
        hv.opts.Overlay(responsive=True, height=130, ylim=(0, 1), legend_position="right", xlim=(0, len(proba) / HOUR)),
    )


def selected_span(epoch: int) -> hv.VSpan:
    """The selected epoch shaded on a plot whose x axis is in hours."""
    return hv.VSpan(epoch / HOUR, (epoch + 1) / HOUR).opts(color="#ffd54f", alpha=0.5)


def stage_shares(pred: np.ndarray, occluded: np.ndarray) -> pd.DataFrame:
    """Share of each stage (%) before and after occlusion, and the change (percentage points)."""
    before = np.bincount(pred, minlength=5)[:5] / len(pred) * 100
    after = np.bincount(occluded, minlength=5)[:5] / len(occluded) * 100
    return pd.DataFrame(
        {
            "stage": list(STAGES),
            "original %": before.round(1),
            "occluded %": after.round(1),
            "change (pp)": (after - before).round(1),
        }
    )


def share_bars(shares: pd.DataFrame) -> hv.Bars:
    """The change of each stage's share (percentage points) as bars."""
    return hv.Bars(shares, "stage", "change (pp)").opts(
        color="stage",
        cmap=dict(zip(STAGES, STAGE_COLOURS)),
        height=200,
        width=300,
        ylabel="change (pp)",
        title="stage share change",
        tools=["hover"],
        show_legend=False,
    )


def channel_trace(
    t: np.ndarray, signal: np.ndarray, row: int, ylabel: str, selected: tuple[float, float], last: bool = False
) -> hv.Overlay:
    """Channel ``row``'s ``signal`` over times ``t`` (s), the ``selected`` span (s) shaded.

    Each row has its own amplitude dimension so that stacked channels share the time axis only.
    """
    return (
        hv.Curve((t, signal), "time (s)", f"row {row}").opts(color="#263238", line_width=0.8)
        * hv.VSpan(*selected).opts(color="#ffd54f", alpha=0.35)
    ).opts(
        ylabel=ylabel,
        responsive=True,
        height=135 if last else 105,
        show_legend=False,
        framewise=True,
        xaxis="bottom" if last else None,
    )


def band_spans() -> hv.Overlay:
    """The AASM EEG bands shaded and named, for a plot whose x axis is frequency (Hz)."""
    colours = ("#bbdefb", "#c8e6c9", "#fff9c4", "#f8bbd0", "#d1c4e9")
    spans = [hv.VSpan(lo, hi).opts(color=c, alpha=0.5) for (lo, hi), c in zip(AASM_BANDS.values(), colours)]
    labels = [hv.Text((lo + hi) / 2, 0, name, fontsize=8, valign="bottom") for name, (lo, hi) in AASM_BANDS.items()]
    return hv.Overlay(spans + labels)


def time_evidence(
    epoch: np.ndarray,
    per_sample: pd.DataFrame,
    importance: np.ndarray | None,
    names: list[str],
    title: str,
    method: str,
) -> hv.Layout:
    """Each channel of one epoch ``(R, 3750)`` (z-scored; the rows of the model's modalities) over a heat strip of
    ``mean_drop`` (time occlusion), and below them the epoch's per-sample ``importance`` ``(3750,)`` by ``method``
    (none: not computed yet).

    Red where zeroing a 5-s window around that time lowers the predicted stage's probability, blue where it
    raises it; the colour scale is symmetric about 0 and shared by all channels. Each trace has its own
    dimension (``z <row>``) spanning the trace's range, so the axes are in z units and never linked to the
    µV axes of the epoch viewer.
    """
    drop = per_sample["mean_drop"].to_numpy()
    top = max(float(np.abs(drop).max()), 0.02)
    t = per_sample["time_s"].to_numpy()
    time = hv.Dimension("time_in_epoch", label="time in epoch (s)", range=(0, EPOCH_SEC))
    plots = []
    for i, (row, name) in enumerate(zip(epoch, names)):
        lo, hi = float(row.min()), float(row.max())
        pad = 0.05 * (hi - lo) or 1.0
        lim = (lo - pad, hi + pad)
        trace = hv.Dimension(f"z {i}", label=f"{name} (z)", range=lim)
        heat = hv.Image(
            drop[None, :], bounds=(0, lim[0], EPOCH_SEC, lim[1]), kdims=[time, trace], vdims=["p drop"]
        ).opts(cmap="RdBu_r", clim=(-top, top), alpha=0.8, tools=["hover"])
        plots.append(
            (heat * hv.Curve((t, row), time, trace).opts(color="black", line_width=0.7)).opts(
                responsive=True, height=105, title=title if i == 0 else "", xaxis=None
            )
        )
    curve = (t, np.zeros_like(t) if importance is None else importance)
    label = f"importance ({method})" if importance is not None else f"importance ({method}): computing…"
    plots.append(
        hv.Curve(curve, time, hv.Dimension("importance", label=label)).opts(
            color="#6a1b9a", line_width=1.2, responsive=True, height=135
        )
    )
    return hv.Layout(plots).cols(1).opts(shared_axes=True)


def filter_responses(responses: pd.DataFrame, kernels: pd.DataFrame) -> hv.Layout:
    """Layer-1 kernels (left) and their frequency responses normalised to each peak (right), per modality the
    model has (a model without EOG has no EOG row).

    Fixed sizes: a grid of responsive plots is given no height by the page layout.
    """
    plots = []
    for role in (r for r in ("eeg", "eog", "emg") if r in set(responses.modality)):
        resp = responses[(responses.modality == role) & (responses.layer == 1)]
        kern = kernels[(kernels.modality == role) & (kernels.layer == 1)]
        curves, waves = {}, {}
        for f, group in resp.groupby("filter"):
            curves[int(f)] = hv.Curve(
                (group.freq_hz, group.gain_db - group.gain_db.max()), "frequency (Hz)", "gain (dB)"
            )
        for f, group in kern.groupby("filter"):
            waves[int(f)] = hv.Curve((group.time_ms, group.weight), "time (ms)", "weight")
        plots.append(
            hv.NdOverlay(waves, "filter").opts(
                title=f"{role.upper()} layer-1 kernels", height=220, width=430, show_legend=False
            )
        )
        plots.append(
            (band_spans() * hv.NdOverlay(curves, "filter")).opts(
                hv.opts.Overlay(
                    title=f"{role.upper()} responses (0 dB = each kernel's peak)",
                    height=220,
                    width=560,
                    xlim=(0, 40),
                    ylim=(-40, 3),
                    legend_position="right",
                    xlabel="frequency (Hz)",
                    ylabel="gain (dB)",
                )
            )
        )
    return hv.Layout(plots).cols(2).opts(shared_axes=False)


def modality_importance(summary: pd.DataFrame) -> hv.Layout:
    """Bars of the whole night's probability drop per occluded modality set, and share changed by stage."""
    whole = summary[summary.stage == "all"]
    bars = hv.Bars(whole, "occluded", ["prob_drop", "share_changed"]).opts(
        title="mean drop of the predicted stage's probability",
        color="#5b8e7d",
        height=260,
        responsive=True,
        xrotation=30,
        tools=["hover"],
        ylabel="probability drop",
    )
    by_stage = summary[summary.stage != "all"]
    heat = hv.HeatMap(by_stage, ["occluded", "stage"], "share_changed").opts(
        title="share of each stage's epochs that change",
        cmap="Oranges",
        colorbar=True,
        height=260,
        responsive=True,
        xrotation=30,
        tools=["hover"],
        clim=(0, 1),
    )
    return hv.Layout([bars, heat]).cols(2)


SLEEP_STATISTICS = {
    "TST": "TST (min)",
    "SE": "sleep efficiency (%)",
    "SOL": "sleep onset latency (min)",
    "WASO": "WASO (min)",
    "REM_latency": "REM latency (min)",
    "%N3": "N3 (% of TST)",
    "%REM": "REM (% of TST)",
    "n_awakenings": "awakenings",
}
"""The sleep statistics shown beside the hypnogram, with their labels."""


def sleep_statistics_table(pred: np.ndarray, true: np.ndarray | None = None) -> pd.DataFrame:
    """Sleep statistics of the model's stages (and the expert's when known), one row per statistic."""
    from stqs_core.sleepstats import sleep_statistics

    columns = {"model": sleep_statistics(pred)}
    if true is not None and (true >= 0).any():
        columns["expert"] = sleep_statistics(true)
    table = pd.DataFrame({"statistic": list(SLEEP_STATISTICS.values())})
    for name, stats in columns.items():
        table[name] = [round(stats[key], 1) for key in SLEEP_STATISTICS]
    return table
