"""Figures of one night: the hypnogram (with a probability strip) and the hypnodensity."""

from __future__ import annotations

import numpy as np

from ..constants import EPOCH_SEC, STAGES
from ..hypnogram import LEVELS, STAGE_COLOURS, levels
from .base import subplots


def draw_hypnogram(
    ax, pred: np.ndarray, true: np.ndarray | None = None, colours: tuple[str, str] = ("0.6", "C3")
) -> np.ndarray:
    """Draw predicted (and expert) stages as steps on the caller's Axes, stages at :data:`~stqs_core.hypnogram.LEVELS`.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    pred : array (n_epochs,)
        Predicted stage codes 0-4.
    true : array (n_epochs,) | None
        Expert stage codes, -1 unscored (drawn as gaps).
    colours : (str, str)
        Colours of the expert and of the model line.

    Returns
    -------
    np.ndarray, shape (n_epochs + 1,)
        The epoch edges (h).
    """
    hours = np.arange(len(pred) + 1) * EPOCH_SEC / 3600
    if true is not None:
        ax.stairs(levels(true), hours, baseline=None, color=colours[0], lw=2.5, label="expert")
    ax.stairs(levels(pred), hours, baseline=None, color=colours[1], lw=1, label="model")
    ax.set_yticks(LEVELS, STAGES)
    ax.set_ylim(-0.5, 4.5)
    ax.legend(loc="upper right", ncols=2, frameon=False, fontsize=8)
    return hours


def plot_hypnogram(
    pred: np.ndarray,
    true: np.ndarray | None = None,
    proba: np.ndarray | None = None,
    title: str = "",
    figsize: tuple[float, float] = (11, 4),
    ax=None,
):
    """Predicted (and expert) hypnogram over the night, with a per-epoch probability strip below.

    Parameters
    ----------
    pred : array (n_epochs,)
        Predicted stages 0-4.
    true : array (n_epochs,) | None
        Expert stages, -1 unscored (drawn as gaps).
    proba : array (n_epochs, 5) | None
        Stage probabilities, drawn as a stacked strip.
    title : str
        Title of the hypnogram.
    figsize : (float, float)
        Size of a new figure (inches).
    ax : matplotlib Axes | sequence of 2 Axes | None
        Where to draw (two Axes, hypnogram then strip, with ``proba``); None makes a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Examples
    --------
    >>> import numpy as np
    >>> from stqs_core.plots import plot_hypnogram
    >>> pred = np.array([0, 0, 1, 2, 2, 3, 3, 2, 4, 4, 0])
    >>> true = np.array([0, 0, 2, 2, 2, 3, -1, 2, 4, 4, 0])  # -1: unscored, drawn as a gap
    >>> fig = plot_hypnogram(pred, true, proba=np.eye(5)[pred], title="night 1")
    >>> len(fig.axes)  # the hypnogram and the probability strip
    2
    >>> fig.savefig("night1.png")  # doctest: +SKIP
    """
    rows = 2 if proba is not None else 1
    axes = subplots(ax, rows, 1, figsize=figsize, sharex=True, gridspec_kw={"height_ratios": [3, 1][:rows]})
    fig = axes[0, 0].figure
    hours = draw_hypnogram(axes[0, 0], pred, true)
    axes[0, 0].set_title(title)
    if proba is not None:
        strip = axes[1, 0]
        strip.stackplot(hours[:-1], np.asarray(proba).T, colors=STAGE_COLOURS, labels=STAGES, step="post")
        strip.set_ylim(0, 1)
        strip.set_ylabel("p(stage)")
        strip.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False, fontsize=8)
    axes[-1, 0].set_xlabel("time (h)")
    axes[-1, 0].set_xlim(0, hours[-1])
    return fig


def plot_hypnodensity(proba: np.ndarray, true: np.ndarray | None = None, ax=None, title: str = ""):
    """Hypnodensity: the stage probabilities of every epoch stacked over the night, with the hypnogram over them.

    Parameters
    ----------
    proba : array (n_epochs, 5)
        Stage probabilities W, N1, N2, N3, REM per 30-s epoch.
    true : array (n_epochs,) | None
        Expert stages (-1 unscored), drawn with the predicted ones (the argmax of ``proba``).
    ax : matplotlib Axes | None
        Axes to draw on; None makes a new figure (without pyplot, so no backend is chosen or changed).
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax`` (``fig.savefig(path)`` writes it).
    """
    proba = np.asarray(proba)
    ax = subplots(ax, figsize=(11, 3.5))[0, 0]
    hours = np.arange(len(proba) + 1) * EPOCH_SEC / 3600
    ax.stackplot(
        np.repeat(hours, 2)[1:-1], np.repeat(proba.T, 2, axis=1), colors=STAGE_COLOURS, labels=STAGES, alpha=0.85
    )
    ax.set_ylim(0, 1)
    ax.set_xlim(0, hours[-1])
    ax.set_ylabel("p(stage)")
    ax.set_xlabel("time (h)")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.06, 1), frameon=False, fontsize=8)
    stages = ax.twinx()
    draw_hypnogram(stages, proba.argmax(axis=1), true, colours=("black", "white"))
    stages.legend(loc="upper left", bbox_to_anchor=(1.06, 0.3), fontsize=8, facecolor="0.7", edgecolor="none")
    return ax.figure
