"""Where the shipped folders are: the trained models, the notebooks and the dashboard.

A source checkout (used in place, or installed with ``pip install -e .``) keeps them at its top level:
``trained_models/``, ``notebooks/`` and ``dashboards/``. A wheel or sdist install carries the same folders as
package data in ``stqs_core/_shipped/`` (``[tool.setuptools.package-dir]`` in pyproject.toml maps them there), so
``stqs demo``, ``stqs score``, ``stqs notebooks run`` and ``stqs dashboard`` work from any folder. The installed
copy is looked for first: only a wheel or sdist install has it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import StqsError

_PACKAGE = Path(__file__).resolve().parent
SHIPPED = _PACKAGE / "_shipped"
"""Where a wheel or sdist install puts the shipped folders."""
CHECKOUT = _PACKAGE.parent
"""The source checkout's root, where ``stqs_core`` is used in place or installed editable."""


def _folder(name: str) -> Path:
    """``stqs_core/_shipped/<name>`` where installed from a wheel or sdist, else ``<checkout>/<name>``."""
    installed = SHIPPED / name
    return installed if installed.is_dir() else CHECKOUT / name


def models_dir() -> Path:
    """The folder of the shipped models.

    Returns
    -------
    Path
        It holds ``<name>.pt`` with their ``.training.json`` model cards.
    """
    return _folder("trained_models")


def notebooks_dir() -> Path:
    """The folder of the committed notebooks (``01_prepare_data.ipynb`` ...).

    Returns
    -------
    Path
    """
    return _folder("notebooks")


def dashboard_app() -> Path:
    """The dashboard's ``app.py``, the file to hand to ``panel serve`` (its sibling modules sit beside it).

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        Where neither an install nor the checkout holds it (a broken install: reinstall the package).
    """
    app = _folder("dashboards") / "app.py"
    if not app.is_file():
        raise StqsError(
            f"the dashboard {app} is missing: reinstall stqs (pip install stqs, or pip install "
            "-e . in a source checkout)"
        )
    return app
