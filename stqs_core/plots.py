"""Static figures (Matplotlib): the hypnogram of a scored night. Interactive views live in ``dashboards/``.

Every plotting function of the package draws into the caller's axes when given ``ax`` and otherwise makes its own
:class:`matplotlib.figure.Figure` without pyplot (:func:`subplots`), so it never chooses or changes the backend of
a notebook or application; it returns the figure, and writes it to ``path`` when given (:func:`save_figure`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .constants import EPOCH_SEC, STAGES
from .errors import StqsError

STAGE_COLOURS = ("#f4a259", "#8cb369", "#5b8e7d", "#2e4057", "#bc4b51")
"""One colour per stage W, N1, N2, N3, REM, shared by every figure."""

_LEVEL = np.array([4, 2, 1, 0, 3])  # plotting height of W, N1, N2, N3, REM (REM drawn between W and N1)


def subplots(ax, rows: int = 1, cols: int = 1, figsize: tuple[float, float] = (6.4, 4.8), **kwargs) -> np.ndarray:
    """Axes ``(rows, cols)`` to draw on: the caller's ``ax`` (an Axes, or a sequence of ``rows * cols`` Axes in row
    order), else those of a new :class:`~matplotlib.figure.Figure` of ``figsize`` inches (constrained layout, no
    pyplot); ``kwargs`` go to :meth:`Figure.subplots` (e.g. ``sharex``).

    Raises
    ------
    StqsError
        When ``ax`` holds another number of Axes than the figure draws.
    """
    if ax is None:
        from matplotlib.figure import Figure

        return Figure(figsize=figsize, layout="constrained").subplots(rows, cols, squeeze=False, **kwargs)
    axes = np.empty(1, dtype=object)
    axes[0] = ax
    if isinstance(ax, (list, tuple, np.ndarray)):
        axes = np.asarray(ax, dtype=object).ravel()
    if axes.size != rows * cols:
        raise StqsError(f"ax holds {axes.size} Axes but this figure draws {rows * cols}; pass {rows * cols} or None")
    return axes.reshape(rows, cols)


def save_figure(fig, path: str | Path | None, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` atomically (format from the suffix, PNG without one); nothing when ``path`` is None."""
    if path is None:
        return
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")


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


def draw_hypnogram(
    ax, pred: np.ndarray, true: np.ndarray | None = None, colours: tuple[str, str] = ("0.6", "C3")
) -> np.ndarray:
    """Draw predicted (and expert, -1 as gaps) stages ``(n_epochs,)`` on Matplotlib axes ``ax`` in ``colours``
    (expert, model); returns the epoch edges in hours ``(n_epochs + 1,)``."""
    hours = np.arange(len(pred) + 1) * EPOCH_SEC / 3600
    if true is not None:
        true = np.asarray(true)
        level = np.where(true >= 0, _LEVEL[np.clip(true, 0, 4)], np.nan)
        ax.stairs(level, hours, baseline=None, color=colours[0], lw=2.5, label="expert")
    ax.stairs(_LEVEL[np.asarray(pred)], hours, baseline=None, color=colours[1], lw=1, label="model")
    ax.set_yticks(_LEVEL, STAGES)
    ax.set_ylim(-0.5, 4.5)
    ax.legend(loc="upper right", ncols=2, frameon=False, fontsize=8)
    return hours


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
