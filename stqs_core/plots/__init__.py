"""Every static figure of the package (Matplotlib); library modules compute the data, these functions draw it.

Interactive views live in ``dashboards/``. Every plotting function draws into the caller's Axes when given ``ax``
and otherwise makes its own :class:`matplotlib.figure.Figure` without pyplot (:func:`subplots`), so it never
chooses or changes the backend of a notebook or application; it returns the figure, and writes it to ``path`` when
it takes one (:func:`save_figure`). Matplotlib is imported only when a figure is drawn: ``import stqs_core`` (and
``import stqs_core.plots``) does not import it.

- :mod:`.hypnogram`: one night (:func:`plot_hypnogram`, :func:`plot_hypnodensity`, :func:`draw_hypnogram`).
- :mod:`.evaluation`: an evaluation report (:func:`plot_hypnograms`, :func:`plot_confusion`).
- :mod:`.finetune`: a fine-tuning learning curve (:func:`plot_curve`).
- :mod:`.interpret`: learned filters and occlusion (:func:`plot_filters`, :func:`plot_frequency_occlusion`,
  :func:`plot_time_occlusion`).
- :mod:`.teaching`: a 30-s page as scorers see it (:func:`plot_scoring_page`).
- :mod:`.base`: the Axes to draw on (:func:`subplots`) and writing a figure (:func:`save_figure`).

Stage colours and plotting heights are :data:`stqs_core.hypnogram.STAGE_COLOURS` and
:data:`stqs_core.hypnogram.LEVELS`.
"""

from .base import save_figure, subplots
from .evaluation import plot_confusion, plot_hypnograms
from .finetune import plot_curve
from .hypnogram import draw_hypnogram, plot_hypnodensity, plot_hypnogram
from .interpret import plot_filters, plot_frequency_occlusion, plot_time_occlusion
from .teaching import plot_scoring_page

__all__ = [
    "draw_hypnogram",
    "plot_confusion",
    "plot_curve",
    "plot_filters",
    "plot_frequency_occlusion",
    "plot_hypnodensity",
    "plot_hypnogram",
    "plot_hypnograms",
    "plot_scoring_page",
    "plot_time_occlusion",
    "save_figure",
    "subplots",
]
