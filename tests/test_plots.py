"""Every plotting function leaves the Matplotlib backend alone and draws into the caller's axes when given them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from stqs_core.constants import EPOCH_SAMPLES, STAGES
from stqs_core.errors import StqsError
from stqs_core.model import STQS, STQSConfig
from stqs_core.plots import (
    plot_confusion,
    plot_curve,
    plot_filters,
    plot_frequency_occlusion,
    plot_hypnodensity,
    plot_hypnogram,
    plot_hypnograms,
    plot_scoring_page,
    plot_time_occlusion,
)

RNG = np.random.default_rng(0)
PRED, TRUE = RNG.integers(0, 5, 40), np.r_[RNG.integers(0, 5, 38), -1, -1]
PROBA = RNG.dirichlet(np.ones(5), 40)
REPORT = {
    "best_recording": "a",
    "worst_recording": "b",
    "per_recording": [{"recording": r, "accuracy": 0.8, "kappa": 0.7} for r in "ab"],
    "hypnograms": {r: {"true": TRUE.tolist(), "pred": PRED.tolist()} for r in "ab"},
    "confusion": {"counts": np.eye(5, dtype=int).tolist(), "normalised": np.eye(5).tolist()},
    "model": {"name": "m"},
    "split": "test",
    "n_scored": 5,
    "overall": {"accuracy": 1.0, "macro_f1": 1.0, "kappa": 1.0},
}
CURVE = pd.DataFrame(
    {"adapt": ["none"] * 3, "nights": [0, 1, 2], "kappa": [0.5, 0.6, 0.7], "kappa_min": 0.4, "kappa_max": 0.8}
)
DROPS = pd.DataFrame(
    [(s, m, b, RNG.normal()) for s in STAGES for m in ("eeg", "eog") for b in ("delta", "alpha")],
    columns=["stage", "modalities", "band", "specific"],
)
OCCLUSION = SimpleNamespace(
    index=3,
    stage=2,
    per_sample=pd.DataFrame({"importance": RNG.random(EPOCH_SAMPLES), "mean_drop": RNG.normal(size=EPOCH_SAMPLES)}),
)
EVENTS = pd.DataFrame({"type": ["spindle"], "onset_s": [3.0], "duration_s": [1.0]})

# name -> (draw(ax, path), number of Axes it draws on)
PLOTS = {
    "plot_hypnogram": (lambda ax, path: plot_hypnogram(PRED, TRUE, PROBA, ax=ax), 2),
    "plot_hypnodensity": (lambda ax, path: plot_hypnodensity(PROBA, TRUE, ax=ax), 1),
    "plot_hypnograms": (lambda ax, path: plot_hypnograms(REPORT, path, ax=ax), 2),
    "plot_confusion": (lambda ax, path: plot_confusion(REPORT, path, ax=ax), 1),
    "plot_curve": (lambda ax, path: plot_curve(CURVE, path, band=(0.6, 0.8), ax=ax), 1),
    "plot_filters": (lambda ax, path: plot_filters(STQS(STQSConfig(variant="cnn")), path, ax=ax), 6),
    "plot_frequency_occlusion": (lambda ax, path: plot_frequency_occlusion(DROPS, path=path, ax=ax), 1),
    "plot_scoring_page": (
        lambda ax, path: plot_scoring_page(
            np.arange(EPOCH_SAMPLES) / 125,
            RNG.normal(size=(5, EPOCH_SAMPLES)) * 30,
            ["C3", "C4", "E1", "E2", "chin"],
            ax=ax,
            path=path,
        ),
        1,
    ),
    "plot_time_occlusion": (
        lambda ax, path: plot_time_occlusion(OCCLUSION, RNG.normal(size=(5, EPOCH_SAMPLES)), EVENTS, path=path, ax=ax),
        4,
    ),
}


@pytest.fixture
def svg_backend():
    """A backend other than the Agg that the library used to force, restored after the test."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    yield "svg"
    matplotlib.use(before)


@pytest.mark.parametrize("name", PLOTS)
def test_a_new_figure_leaves_the_backend_alone(name, svg_backend, tmp_path):
    draw, _ = PLOTS[name]
    fig = draw(None, tmp_path / "f.png")
    assert matplotlib.get_backend().lower() == svg_backend
    assert isinstance(fig, Figure) and fig.axes
    assert name in {"plot_hypnogram", "plot_hypnodensity"} or (tmp_path / "f.png").stat().st_size > 1000


@pytest.mark.parametrize("name", PLOTS)
def test_draws_into_the_callers_axes(name, svg_backend):
    draw, n_axes = PLOTS[name]
    fig = Figure()
    axes = fig.subplots(n_axes, 1, squeeze=False)[:, 0]
    assert draw(axes[0] if n_axes == 1 else list(axes), None) is fig
    assert all(ax.has_data() or ax.images for ax in axes)
    assert matplotlib.get_backend().lower() == svg_backend
    with pytest.raises(StqsError, match="Axes"):
        draw(list(Figure().subplots(1, n_axes + 1)), None)


def test_every_public_plotting_function_is_tested_here():
    import stqs_core.plots as plots

    assert {name for name in plots.__all__ if name.startswith("plot_")} == set(PLOTS)


def test_importing_the_package_and_its_plots_does_not_import_matplotlib():
    code = (
        "import sys, stqs_core, stqs_core.plots, stqs_core.evaluation, stqs_core.finetune, stqs_core.interpret; "
        "print('matplotlib' in sys.modules)"
    )
    root = str(Path(__file__).resolve().parents[1])  # this checkout's stqs_core, not an installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False", out.stderr


def test_hypnodensity_draws_on_given_axes_without_choosing_a_backend():
    backend = matplotlib.get_backend()
    proba = np.random.default_rng(0).dirichlet(np.ones(5), size=40)
    ax = Figure().subplots()
    assert plot_hypnodensity(proba, np.r_[np.zeros(39, int), -1], ax=ax) is ax.figure
    assert len(ax.collections) == 5  # one band per stage
    plot_hypnodensity(proba)
    assert matplotlib.get_backend() == backend


def test_plot_scoring_page_draws_the_channels_the_grid_and_the_events():
    t = np.arange(3750) / 125
    events = pd.DataFrame({"row": [0, 4], "epoch": [2, 2], "onset_s": [61.0, 70.0], "duration_s": [1.0, 0.5]})
    ax = plot_scoring_page(t, np.zeros((5, 3750)), ["C3", "C4", "E1", "E2", "chin"], events=events).axes[0]
    traces = [line for line in ax.lines if len(line.get_xdata()) == 3750]
    assert len(traces) == 5 and sorted(line.get_ydata()[0] for line in traces) == [0, 200, 400, 600, 800]
    grid = [line for line in ax.lines if len(set(line.get_xdata())) == 1 and line.get_xdata()[0] <= 30]
    assert len(grid) == 31  # a line each second of the page
    shaded = [c for c in ax.collections if c.get_paths() and c.get_paths()[0].vertices[:, 0].min() in (1.0, 10.0)]
    assert len(shaded) == 2  # each event on its own channel, at its time within the epoch
