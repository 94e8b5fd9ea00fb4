"""Figure of a fine-tuning learning curve (:func:`stqs_core.finetune.learning_curve`)."""

from __future__ import annotations

from pathlib import Path

from .base import save_figure, subplots


def plot_curve(summary, path: str | Path | None = None, band: tuple[float, float] | None = None, ax=None):
    """Kappa against labelled nights, one line per adapt condition with the range over draws, human band shaded.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~stqs_core.finetune.summarise_curve`'s table: columns ``nights``, ``adapt``, ``kappa``,
        ``kappa_min``, ``kappa_max``.
    path : str | Path | None
        Where to write the figure (format from the suffix), or None.
    band : (float, float) | None
        Human inter-scorer kappa band (low, high) to shade, or None.
    ax : matplotlib Axes | None
        The Axes to draw on, or None for a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    ax = subplots(ax, figsize=(5.5, 3.6))[0, 0]
    fig = ax.figure
    if band:
        ax.axhspan(*band, color="0.85", label=f"human scorers (DOD-H) {band[0]:.2f}-{band[1]:.2f}")
    for condition, part in summary.groupby("adapt"):
        ax.errorbar(
            part.nights,
            part.kappa,
            yerr=[part.kappa - part.kappa_min, part.kappa_max - part.kappa],
            marker="o",
            capsize=3,
            label=f"adapt {condition}",
        )
    ax.set_xscale("symlog", linthresh=1)
    ticks = sorted(summary.nights.unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("labelled nights of the lab")
    ax.set_ylabel("Cohen's kappa on test nights")
    ax.set_ylim(min(0.0, float(summary.kappa_min.min())), 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)
    return fig
