"""A 30-s page as scorers see it (:mod:`stqs_core.teaching`): stacked channels on a paper-speed grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import EPOCH_SEC
from ..teaching import GRID_S, ROW_SPACING_UV, SCALE_BAR_UV, page_rows
from .base import save_figure, subplots


def plot_scoring_page(
    t: np.ndarray,
    signals: np.ndarray,
    names: list[str],
    ax=None,
    events: pd.DataFrame | None = None,
    title: str = "",
    path: str | Path | None = None,
    roles=None,
):
    """Draw a page of :func:`~stqs_core.teaching.scoring_page` as on paper.

    Stacked channels (:func:`~stqs_core.teaching.page_rows`), 1-s and 5-s grid lines, a 50-µV scale bar per
    channel, the ±37.5 µV slow-wave lines on the EEG.

    Parameters
    ----------
    t : ndarray, shape (n_samples,)
        Time within the epoch (s).
    signals : ndarray, shape (n_channels, n_samples)
        The page's signals (µV), as :func:`~stqs_core.teaching.scoring_page` returns them.
    names : list of str
        Channel names, one per row of ``signals``.
    ax : matplotlib Axes, optional
        The Axes to draw on; None: a new figure.
    events : DataFrame, optional
        The epoch's rows of a simulator's event table (columns ``row``, ``epoch``, ``onset_s``, ``duration_s``),
        shaded on their channels.
    title : str
        Title of the page.
    path : str | Path, optional
        Write the figure there.
    roles : sequence of str, optional
        The modality of each row (``recording.roles``); None: EEG, EEG, EOG, EOG, EMG.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    ax = subplots(ax, figsize=(13, 6))[0, 0]
    minor, major = GRID_S
    for x in np.arange(0, EPOCH_SEC + minor / 2, minor):
        ax.axvline(x, color="#d0d0d0" if x % major else "#909090", lw=0.5 if x % major else 0.9, zorder=0)
    for row, (layout, signal) in enumerate(zip(page_rows(names, roles), signals)):
        for ref in layout.references:
            ax.hlines(layout.baseline + ref, 0, EPOCH_SEC, color="#1565c0", lw=0.6, ls="--", zorder=1)
        ax.plot(t, layout.baseline + signal, color="black", lw=0.5, zorder=2)
        ax.plot([EPOCH_SEC + 0.4] * 2, [layout.baseline, layout.baseline + SCALE_BAR_UV], color="black", lw=2)
        ax.text(EPOCH_SEC + 0.6, layout.baseline + SCALE_BAR_UV / 2, f"{SCALE_BAR_UV:g} µV", fontsize=7, va="center")
        if events is not None:
            for e in events[events.row == row].itertuples():
                start = e.onset_s - e.epoch * EPOCH_SEC
                span, half = [start, start + e.duration_s], ROW_SPACING_UV / 2
                ax.fill_between(span, layout.baseline - half, layout.baseline + half, color="#f4a259", alpha=0.3, lw=0)
    layout = page_rows(names, roles)
    ax.set_yticks([r.baseline for r in layout], [r.name for r in layout], fontsize=8)
    ax.set_xlim(0, EPOCH_SEC + 2.5)
    ax.set_ylim(-ROW_SPACING_UV * 0.75, layout[0].baseline + ROW_SPACING_UV * 0.75)
    ax.set_xticks(np.arange(0, EPOCH_SEC + 1, GRID_S[1]))
    ax.set_xlabel("time in epoch (s); grid 1 s, bold 5 s; dashed: ±37.5 µV (75 µV peak to peak: slow waves)")
    ax.set_title(title, fontsize=10)
    save_figure(ax.figure, path)
    return ax.figure
