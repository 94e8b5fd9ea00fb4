"""Run the notebook chain headless with papermill: prepare data -> train -> evaluate -> interpret -> lesson.

Each notebook in ``notebooks/`` has one cell tagged ``parameters`` and writes into one run folder
(parameter ``run_dir``), laid out by :func:`chain_paths`: a notebook reads what the one before it wrote, so the
chain needs no other input. Executed copies (with their outputs) go to ``<run_dir>/<notebook>.ipynb``; the
committed notebooks carry no outputs (:func:`strip_outputs`).
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import StqsError
from .resources import notebooks_dir

logger = logging.getLogger(__name__)

NOTEBOOKS_DIR = notebooks_dir()
"""The committed notebooks (:func:`stqs_core.resources.notebooks_dir`; run with this folder as working directory,
as JupyterLab does)."""

CHAIN: tuple[str, ...] = ("01_prepare_data", "02_train", "03_evaluate", "04_interpret", "05_aasm_lesson")
"""The notebooks in the order they feed each other."""

KERNEL = "python3"
"""Kernel papermill starts; its ``python`` resolves to the interpreter running the chain (see :func:`check_kernel`)."""

TINY: dict[str, object] = {
    "n_nights": 4,
    "hours": 0.5,
    "epochs": 2,
    "max_nights": 2,
    "lesson_hours": 1.0,
    "model": None,
}
"""Parameters for a quick run (CI, ``stqs notebooks run --tiny``): a few short simulated nights, two epochs."""


class NotebookError(RuntimeError):
    """A notebook of the chain raised; the partly executed copy holds the traceback."""


@dataclass
class NotebookRun:
    """One executed notebook.

    Parameters
    ----------
    name : str
        The notebook's name (e.g. ``"02_train"``).
    path : Path
        The executed copy.
    seconds : float
        How long it ran, in seconds.
    """

    name: str
    path: Path
    seconds: float


def chain_paths(run_dir: str | Path) -> dict[str, Path]:
    """Where each notebook of a run writes, and the files the next ones read.

    Parameters
    ----------
    run_dir : str or Path
        The run folder.

    Returns
    -------
    dict of str to Path
        One folder per notebook (keys of :data:`CHAIN`) and the hand-over files: ``edf_dir`` (recordings
        01 writes), ``store`` (01's HDF5 epoch store), ``model`` (02's trained model), ``training`` (02's
        summary: split by recording, history), ``report`` (03's evaluation report).
    """
    run = Path(run_dir)
    paths = {name: run / name for name in CHAIN}
    prepare, train, evaluate = (paths[n] for n in CHAIN[:3])
    paths.update(
        edf_dir=prepare / "edf",
        store=prepare / "epochs.h5",
        model=train / "model.pt",
        training=train / "model.training.json",
        report=evaluate / "report.json",
    )
    return paths


def notebook_path(name: str) -> Path:
    """The committed notebook of a name.

    Parameters
    ----------
    name : str
        E.g. ``"02_train"``.

    Returns
    -------
    Path
    """
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    if not path.is_file():
        raise StqsError(f"no notebook {path}; the chain is {', '.join(CHAIN)}")
    return path


def notebook_parameters(name: str) -> dict[str, object]:
    """The parameters of a notebook and their defaults, read from its ``parameters`` cell.

    Parameters
    ----------
    name : str
        The notebook's name (e.g. ``"02_train"``).

    Returns
    -------
    dict of str to object
    """
    import papermill

    params = papermill.inspect_notebook(str(notebook_path(name)))
    return {key: _literal(p["default"]) for key, p in params.items()}


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_value(text: str) -> object:
    """A command-line parameter value: a Python literal (``3``, ``0.5``, ``None``, ``['a']``) or else a string.

    Parameters
    ----------
    text : str
        The value as typed.

    Returns
    -------
    object

    Examples
    --------
    >>> from stqs_core.notebooks import parse_value
    >>> parse_value("0.5"), parse_value("None"), parse_value("shhs")
    (0.5, None, 'shhs')
    """
    return _literal(text)


def check_kernel(kernel_name: str = KERNEL) -> None:
    """Raise if a Jupyter kernel would not run this interpreter (and so not this environment's stqs_core).

    Parameters
    ----------
    kernel_name : str
        The kernel's name.

    Raises
    ------
    StqsError
        When the kernel is missing or runs another interpreter; the message says how to install one.
    """
    import sys

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel as err:
        raise StqsError(
            f"no Jupyter kernel {kernel_name!r}; register this environment's with "
            f"`{sys.executable} -m ipykernel install --sys-prefix`"
        ) from err
    exe = spec.argv[0]
    if exe not in ("python", "python3") and Path(exe).resolve() != Path(sys.executable).resolve():
        raise StqsError(
            f"kernel {kernel_name!r} runs {exe}, not this environment's {sys.executable}; "
            f"register this one with `{sys.executable} -m ipykernel install --sys-prefix` "
            "or remove the other kernelspec (`jupyter kernelspec list` shows where it is)"
        )


@contextlib.contextmanager
def _environment(variables: dict[str, str]):
    """Set environment ``variables`` (inherited by the processes started meanwhile) and restore them after."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_chain(
    run_dir: str | Path,
    parameters: dict[str, object] | None = None,
    tiny: bool = False,
    notebooks: tuple[str, ...] = CHAIN,
    kernel_name: str = KERNEL,
    progress: bool = True,
) -> list[NotebookRun]:
    """Execute notebooks in order with papermill, all writing into ``run_dir``.

    Parameters
    ----------
    run_dir : str | Path
        The run folder; created if absent. Every notebook gets it as its ``run_dir`` parameter.
    parameters : dict | None
        Overrides, each given to the notebooks that declare it (e.g. ``{"epochs": 5, "variant": "cnn"}``);
        a name that no notebook of ``notebooks`` declares raises.
    tiny : bool
        Start from :data:`TINY` (a few short nights, two training epochs) before applying ``parameters``.
    notebooks : tuple of str
        Which notebooks to run, in order (a later one reads what the earlier ones wrote into ``run_dir``).
    kernel_name : str
        Jupyter kernel to execute in.
    progress : bool
        A tqdm bar (cells executed) per notebook.

    Returns
    -------
    runs : list of NotebookRun
        The executed copies ``<run_dir>/<name>.ipynb`` and their durations.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .allocator import malloc_environment

    check_kernel(kernel_name)
    run_dir = Path(run_dir).resolve()
    declared = {name: notebook_parameters(name) for name in notebooks}
    requested = {**(TINY if tiny else {}), **(parameters or {})}
    if "run_dir" in (parameters or {}):
        raise StqsError("run_dir is the run folder argument (--out), not a parameter to set")
    unknown = set(parameters or {}) - {key for params in declared.values() for key in params}
    if unknown:
        known = sorted({key for params in declared.values() for key in params})
        raise StqsError(f"no notebook of {list(notebooks)} takes parameter(s) {sorted(unknown)}; they take {known}")
    run_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for name in notebooks:
        given = {"run_dir": str(run_dir), **{k: v for k, v in requested.items() if k in declared[name]}}
        out = run_dir / f"{name}.ipynb"
        logger.info("running %s with %s", name, given)
        start = time.perf_counter()
        try:
            with _environment(malloc_environment()):  # the kernels train and score: same malloc tuning as `stqs`
                papermill.execute_notebook(
                    str(notebook_path(name)),
                    str(out),
                    parameters=given,
                    kernel_name=kernel_name,
                    cwd=str(NOTEBOOKS_DIR),
                    progress_bar={"desc": name} if progress else False,
                )
        except PapermillExecutionError as err:
            raise NotebookError(
                f"{name} failed in cell {err.cell_index} with {err.ename}: {err.evalue}; "
                f"the executed copy {out} shows where"
            ) from err
        runs.append(NotebookRun(name, out, time.perf_counter() - start))
    return runs


def strip_outputs(paths: list[str | Path] | None = None) -> list[Path]:
    """Clear outputs, execution counts and run metadata of notebooks in place.

    Parameters
    ----------
    paths : list of str or Path, or None
        The notebooks; None for the committed notebooks of :data:`NOTEBOOKS_DIR`.

    Returns
    -------
    list of Path
        The notebooks that changed.
    """
    import nbformat

    changed = []
    for path in paths if paths is not None else sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
        path = Path(path)
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        before = nbformat.writes(nb)
        nb.metadata.pop("papermill", None)
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path)
    return changed
