"""The two helpers every figure of the package is drawn with: the Axes to draw on, and writing the figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import StqsError


def subplots(ax, rows: int = 1, cols: int = 1, figsize: tuple[float, float] = (6.4, 4.8), **kwargs) -> np.ndarray:
    """The Axes to draw on: the caller's, or those of a new figure made without pyplot.

    Parameters
    ----------
    ax : matplotlib Axes | sequence of Axes | None
        The caller's Axes (one, or ``rows * cols`` in row order); None makes a new
        :class:`~matplotlib.figure.Figure` (constrained layout, no pyplot, so no backend is chosen or changed).
    rows, cols : int
        Grid of Axes the figure draws.
    figsize : (float, float)
        Size of a new figure (inches).
    **kwargs
        Passed to :meth:`matplotlib.figure.Figure.subplots` (e.g. ``sharex``) for a new figure.

    Returns
    -------
    np.ndarray of Axes, shape (rows, cols)

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
    """Write a figure atomically; nothing when ``path`` is None.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str | Path | None
        Output file; the format comes from its suffix (PNG without one).
    dpi : int
        Resolution (dots per inch).
    """
    if path is None:
        return
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
