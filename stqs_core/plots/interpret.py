"""Figures of the interpretability analyses: learned filters, frequency occlusion and time occlusion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..constants import AASM_BANDS, EPOCH_SAMPLES, ROLES, SFREQ, STAGES
from .base import save_figure, subplots

if TYPE_CHECKING:
    import pandas as pd

    from ..model import STQS


def absent_note(present) -> str:
    """``"no EOG, EMG"`` for the modalities not among ``present`` (role order); ``""`` when all are.

    Parameters
    ----------
    present : sequence of str
        The modalities a model or recording has.

    Returns
    -------
    str
    """
    absent = [r.upper() for r in ROLES if r not in present]
    return f"no {', '.join(absent)}" if absent else ""


def _with_note(title: str, present) -> str:
    """``title`` followed by the absent modalities' note in parentheses, if any."""
    note = absent_note(present)
    return f"{title} ({note})" if note and title else note or title


def plot_filters(model: STQS, path: str | Path | None = None, title: str | None = None, ax=None):
    """Layer-1 kernels (left) and their frequency responses (right) of a model, one row per modality it has
    (the title names those it lacks).

    Responses are normalised to each kernel's peak (0 dB); AASM bands are shaded and each peak is marked. The
    data are :func:`~stqs_core.interpret.filters.kernels`, :func:`~stqs_core.interpret.filters.temporal_filters`
    and :func:`~stqs_core.interpret.filters.filter_peaks`.

    Parameters
    ----------
    model : STQS
        The network.
    path : str | Path | None
        Where to write the figure (PNG at 90 dpi unless the suffix says otherwise), or None.
    title : str | None
        Figure title.
    ax : sequence of 2 x n_modalities matplotlib Axes | None
        The model's modalities x (kernels, responses), in row order; None makes a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    import matplotlib

    from ..interpret.filters import filter_peaks, kernels, temporal_filters

    weights, responses, peaks = kernels(model), temporal_filters(model), filter_peaks(model)
    weights, responses, peaks = (d[d.layer == 1] for d in (weights, responses, peaks))
    colors = matplotlib.colormaps["tab10"].colors
    band_colors = ["#dbe9f6", "#e5f5e0", "#fdf2d0", "#fde0dd", "#efe5f5"]
    roles = model.config.modalities
    axes = subplots(ax, len(roles), 2, figsize=(12, 2.8 * len(roles)))
    fig = axes[0, 0].figure
    for i, role in enumerate(roles):
        ax_k, ax_f = axes[i]
        kw = weights[weights.modality == role]
        scale = 1.2 * kw.weight.abs().max()
        for f, group in kw.groupby("filter"):
            ax_k.plot(group.time_ms, group.weight / scale - f, color=colors[f % 10], lw=1)
        ax_k.set_yticks(-np.arange(kw["filter"].nunique()), [f"filter {f}" for f in sorted(kw["filter"].unique())])
        ax_k.set_title(f"{role.upper()} layer-1 kernels")
        ax_k.set_xlabel("time (ms)")
        for (name, (lo, hi)), color in zip(AASM_BANDS.items(), band_colors):
            ax_f.axvspan(lo, hi, color=color, lw=0)
            ax_f.text((lo + hi) / 2, 1, name, ha="center", va="top", fontsize=8)
        rs = responses[responses.modality == role]
        for f, group in rs.groupby("filter"):
            peak = peaks[(peaks.modality == role) & (peaks["filter"] == f)].iloc[0]
            ax_f.plot(group.freq_hz, group.gain_db - peak.peak_db, color=colors[f % 10], lw=1, label=f"{f}")
            ax_f.plot(peak.peak_hz, 0, "v", color=colors[f % 10], ms=6)
        ax_f.set_xlim(0, 40)
        ax_f.set_ylim(-30, 2)
        ax_f.set_xlabel("frequency (Hz)")
        ax_f.set_ylabel("gain re. peak (dB)")
        ax_f.set_title(f"{role.upper()} layer-1 frequency responses (peaks marked)")
        ax_f.legend(title="filter", fontsize=7, ncol=4, loc="lower right")
    title = _with_note(title or "", roles)
    if title:
        fig.suptitle(title)
    save_figure(fig, path, dpi=90)
    return fig


def plot_frequency_occlusion(
    drops: pd.DataFrame,
    value: str = "specific",
    path: str | Path | None = None,
    title: str = "",
    ax=None,
    modalities=ROLES,
):
    """Heat map stage x (modality, band) of the drop of the stage's probability when a band is removed.

    Parameters
    ----------
    drops : pandas.DataFrame
        :func:`~stqs_core.interpret.aasm.stage_drops`: columns ``stage``, ``modalities``, ``band`` and ``value``.
    value : str
        Column drawn: ``"specific"`` (stage-specific drop) or ``"drop"``.
    path : str | Path | None
        Where to write the figure, or None.
    title : str
        Axes title (a default says what is drawn).
    ax : matplotlib Axes | None
        The Axes to draw on, or None for a new figure.
    modalities : sequence of str
        The modalities the model has (``model.config.modalities``): the title names those it lacks.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    table = drops.pivot_table(index="stage", columns=["modalities", "band"], values=value, sort=False)
    table = table.reindex([s for s in STAGES if s in table.index])
    bands = list(dict.fromkeys(drops.band))
    table = table[[(m, b) for m in dict.fromkeys(drops.modalities) for b in bands if (m, b) in table.columns]]
    limit = float(np.nanmax(np.abs(table.to_numpy()))) or 1.0
    ax = subplots(ax, figsize=(1.0 + 0.62 * table.shape[1], 1.2 + 0.55 * table.shape[0]))[0, 0]
    fig = ax.figure
    image = ax.imshow(table.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [f"{m.upper()}\n{b}" for m, b in table.columns], fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index)
    for (i, j), v in np.ndenumerate(table.to_numpy()):
        ax.text(
            j, i, f"{v:+.2f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 * limit else "black"
        )
    label = {"specific": "stage-specific drop of the stage's probability", "drop": "drop of the stage's probability"}
    fig.colorbar(image, ax=ax, label=label.get(value, value), shrink=0.9)
    ax.set_title(_with_note(title or "Band removed (rows: stage of the epochs)", modalities))
    save_figure(fig, path)
    return fig


def plot_time_occlusion(
    result,
    epoch: np.ndarray,
    events: pd.DataFrame | None = None,
    rows=None,
    names=None,
    path: str | Path | None = None,
    title: str = "",
    ax=None,
    n_channels: dict[str, int] | None = None,
):
    """An epoch's signals with the time-occlusion importance of each sample below them.

    Parameters
    ----------
    result : TimeOcclusion
        :func:`~stqs_core.interpret.time_occlusion`'s result: ``index``, ``stage`` and ``per_sample`` (columns
        ``importance`` and ``mean_drop``, one row per sample).
    epoch : array (R, 3750)
        The epoch's preprocessed signals (z-scored), 125 Hz: the rows of the model's modalities.
    events : pandas.DataFrame | None
        Events to shade on the first row drawn: columns ``type``, ``onset_s``, ``duration_s`` (s from the epoch's
        start).
    rows : sequence of int, optional
        Rows of ``epoch`` to draw; None: the first row of each modality present.
    names : sequence of str, optional
        Their labels; None: the modalities' names.
    path : str | Path | None
        Where to write the figure, or None.
    title : str
        Figure title (a default names the epoch and its stage).
    ax : sequence of ``len(rows) + 1`` matplotlib Axes | None
        Signals, then importance; None makes a new figure.
    n_channels : dict of str to int, optional
        Rows per modality of ``epoch`` (the model's ``config.n_channels``); None: the published layout. Only
        the modalities present are drawn, and the title names those absent.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    from matplotlib.patches import Rectangle

    from ..interpret.bands import modality_rows

    layout = modality_rows(n_channels)
    rows = [own[0] for own in layout.values()] if rows is None else rows
    names = [role.upper() for role in layout] if names is None else names
    t = np.arange(EPOCH_SAMPLES) / SFREQ
    axes = subplots(ax, len(rows) + 1, 1, figsize=(12, 1.4 * (len(rows) + 1) + 0.6), sharex=True)[:, 0]
    fig = axes[0].figure
    colours = {"spindle": "#f4a259", "k_complex": "#5b8e7d"}
    for ax, row, name in zip(axes, rows, names):
        ax.plot(t, epoch[row], lw=0.6, color="black")
        ax.set_ylabel(f"{name}\n(z)")
        if events is not None and row == rows[0]:
            for e in events.itertuples():
                ax.axvspan(e.onset_s, e.onset_s + e.duration_s, color=colours.get(e.type, "#cccccc"), alpha=0.4, lw=0)
    ax = axes[-1]
    ax.fill_between(t, result.per_sample.importance, color="#bc4b51", lw=0, label="importance")
    ax.plot(t, result.per_sample.mean_drop, color="black", lw=0.7, label="mean drop")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("drop of\np(" + STAGES[result.stage] + ")")
    ax.set_xlabel("time in epoch (s)")
    ax.legend(loc="upper right", fontsize=8)
    if events is not None:
        handles = [Rectangle((0, 0), 1, 1, color=c, alpha=0.4) for c in colours.values()]
        axes[0].legend(handles, list(colours), loc="upper right", fontsize=8)
    title = title or f"Time occlusion of epoch {result.index} (predicted {STAGES[result.stage]})"
    fig.suptitle(_with_note(title, layout))
    save_figure(fig, path)
    return fig
