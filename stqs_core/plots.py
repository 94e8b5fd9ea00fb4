"""Static figures (Matplotlib, Agg): the hypnogram of a scored night. Interactive views live in ``dashboards/``."""

from __future__ import annotations

import numpy as np

from .constants import EPOCH_SEC, STAGES

STAGE_COLOURS = ("#f4a259", "#8cb369", "#5b8e7d", "#2e4057", "#bc4b51")
"""One colour per stage W, N1, N2, N3, REM, shared by every figure."""

_LEVEL = np.array([4, 2, 1, 0, 3])  # plotting height of W, N1, N2, N3, REM (REM drawn between W and N1)


def plot_hypnogram(
    pred: np.ndarray,
    true: np.ndarray | None = None,
    proba: np.ndarray | None = None,
    title: str = "",
    figsize: tuple[float, float] = (11, 4),
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
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 if proba is not None else 1
    fig, axes = plt.subplots(
        rows, 1, figsize=figsize, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1][:rows]}
    )
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
    fig.tight_layout()
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
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(11, 3.5), layout="constrained").subplots()
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
