"""Static figures (Matplotlib, no pyplot) of occlusion results; filter figures are :func:`~.filters.plot_filters`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import EPOCH_SAMPLES, SFREQ, STAGES
from ..plots import save_figure, subplots


def plot_frequency_occlusion(drops: pd.DataFrame, value: str = "specific", path=None, title: str = "", ax=None):
    """Heat map stage x (modality, band) of :func:`~.aasm.stage_drops` ``value`` (``"specific"`` or ``"drop"``).

    ``ax``: the Axes to draw on, or None for a new figure. Returns the Figure; written to ``path`` when given.
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
    ax.set_title(title or "Band removed (rows: stage of the epochs)")
    save_figure(fig, path)
    return fig


def plot_time_occlusion(
    result,
    epoch: np.ndarray,
    events: pd.DataFrame | None = None,
    rows=(0, 2, 4),
    names=("EEG", "EOG", "EMG"),
    path=None,
    title: str = "",
    ax=None,
):
    """An epoch's signals ``(5, 3750)`` with the time-occlusion importance of :func:`~.occlusion.time_occlusion`.

    ``events`` (columns ``type``, ``onset_s``, ``duration_s`` relative to the epoch start) are shaded on the
    first row drawn. ``ax``: ``len(rows) + 1`` Axes (signals, then importance), or None for a new figure.
    Returns the Figure; written to ``path`` when given.
    """
    from matplotlib.patches import Rectangle

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
    fig.suptitle(title or f"Time occlusion of epoch {result.index} (predicted {STAGES[result.stage]})")
    save_figure(fig, path)
    return fig
