"""Figures of an evaluation report (:func:`stqs_core.evaluation.evaluate`): hypnograms and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..constants import STAGES
from .base import save_figure, subplots
from .hypnogram import draw_hypnogram


def plot_hypnograms(report: dict, path: str | Path | None = None, recordings: list[str] | None = None, ax=None):
    """Expert vs predicted hypnograms of some recordings of a report, one per row.

    Parameters
    ----------
    report : dict
        An evaluation report (its ``hypnograms``, ``per_recording``, ``best_recording``, ``worst_recording``).
    path : str | Path | None
        Where to write the figure (format from the suffix), or None.
    recordings : list of str | None
        Recordings to draw; None the best and the worst night by kappa.
    ax : matplotlib Axes | sequence of Axes | None
        One Axes per recording, or None for a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    if recordings is None:
        recordings = list(dict.fromkeys(r for r in (report["best_recording"], report["worst_recording"]) if r))
    rows = {r["recording"]: r for r in report["per_recording"]}
    axes = subplots(ax, len(recordings), 1, figsize=(11, 2.6 * max(len(recordings), 1)))
    fig = axes[0, 0].figure
    for ax, rid in zip(axes[:, 0], recordings):
        hyp = report["hypnograms"][rid]
        hours = draw_hypnogram(ax, np.asarray(hyp["pred"]), np.asarray(hyp["true"]))
        ax.set_xlim(0, hours[-1])
        r = rows[rid]
        ax.set_title(f"{rid}: accuracy {r['accuracy']:.2f}, kappa {r['kappa']:.2f}", fontsize=10)
    axes[-1, 0].set_xlabel("time (h)")
    save_figure(fig, path)
    return fig


def plot_confusion(report: dict, path: str | Path | None = None, ax=None):
    """Row-normalised confusion matrix of a report, with the counts in each cell.

    Parameters
    ----------
    report : dict
        An evaluation report (its ``confusion`` (5 x 5, rows expert), ``overall``, ``model``, ``split``,
        ``n_scored``).
    path : str | Path | None
        Where to write the figure (format from the suffix), or None.
    ax : matplotlib Axes | None
        The Axes to draw on, or None for a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    counts, norm = np.array(report["confusion"]["counts"]), np.array(report["confusion"]["normalised"])
    ax = subplots(ax, figsize=(4.8, 4.2))[0, 0]
    fig = ax.figure
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(STAGES)):
        for j in range(len(STAGES)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n({counts[i, j]})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(STAGES)), STAGES)
    ax.set_yticks(range(len(STAGES)), STAGES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expert")
    o = report["overall"]
    ax.set_title(
        f"{report['model'].get('name') or ''} ({report['split']}, {report['n_scored']} epochs)\n"
        f"accuracy {o['accuracy']:.2f}, macro-F1 {o['macro_f1']:.2f}, kappa {o['kappa']:.2f}",
        fontsize=9,
    )
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)
    return fig
