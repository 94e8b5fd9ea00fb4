"""Packaging: the wheel and sdist carry the shipped models, notebooks and dashboard, and an install runs anywhere.

The slow tests build the sdist and the wheel (``python -m build``: the wheel is built from the sdist, so it also
shows that the sdist is complete), install the wheel with ``--no-deps`` into a new venv, and run the ``stqs``
console script from a temporary folder with no checkout on the path. The venv gets this environment's
dependencies through a ``.pth`` line written after the install: pip never sees them (installing torch and the
rest again would take minutes and test pip, not this package), and the venv's own site-packages, holding the
wheel's ``stqs_core``, comes first on the path (checked).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from stqs_core import resources
from stqs_core.errors import StqsError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"trained_models": ("*.pt", "*.json", "*.csv", "*.md"), "notebooks": ("*.ipynb",), "dashboards": ("*.py",)}
"""The checkout's top-level folders the package carries, and their files that must be in it."""


def _shipped_files() -> list[str]:
    """``<folder>/<file>`` of every file of the checkout that the wheel and sdist must carry."""
    return sorted(
        str(p.relative_to(ROOT))
        for folder, patterns in SHIPPED.items()
        for pattern in patterns
        for p in (ROOT / folder).glob(pattern)
    )


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_and_shipped_folder_is_packaged():
    setuptools = _pyproject()["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    here = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "stqs_core").rglob("__init__.py")}
    assert here <= packages, f"add {sorted(here - packages)} to [tool.setuptools] packages in pyproject.toml"
    mapped = setuptools["package-dir"]
    assert {mapped[f"stqs_core._shipped.{folder}"] for folder in SHIPPED} == set(SHIPPED)
    assert packages - here == set(mapped)


def test_version_is_pyprojects(capsys):
    from stqs_core import __version__
    from stqs_core.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"stqs {__version__}"
    installed = _pyproject()["project"]["version"]
    assert __version__ in (installed, "0+unknown")  # the latter: a checkout used without installing it


def test_resources_find_the_checkouts_folders():
    assert (resources.models_dir() / "stqs-cnnlstm-sim.pt").is_file()
    assert (resources.notebooks_dir() / "01_prepare_data.ipynb").is_file()
    assert resources.dashboard_app() == ROOT / "dashboards" / "app.py"


def test_resources_prefer_an_installed_copy(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setattr(resources, "SHIPPED", tmp_path)
    assert resources.notebooks_dir() == tmp_path / "notebooks"
    assert resources.models_dir() == ROOT / "trained_models"  # not installed there: the checkout's
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path)
    with pytest.raises(StqsError, match="reinstall"):
        resources.dashboard_app()


# ------------------------------------------------------------------------------------------------ installed
def _run(cmd: list, cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel of this checkout, built into a temporary folder."""
    out = tmp_path_factory.mktemp("dist")
    start = time.perf_counter()
    _run([sys.executable, "-m", "build", "--outdir", out, ROOT], ROOT, os.environ)
    print(f"built in {time.perf_counter() - start:.1f} s")
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> dict:
    """A new venv holding the wheel, this environment's dependencies on its path, and an empty work folder."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", "--clear", venv], venv, os.environ)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", dist["wheel"]], venv, env)
    site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], venv, env).stdout.strip()
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_stqs_test_dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(ours)))
    work = tmp_path_factory.mktemp("anywhere")
    return {"bin": venv / "bin", "site": site, "env": env, "work": work}


@pytest.mark.slow
def test_wheel_and_sdist_carry_the_shipped_folders(dist):
    wheel = set(zipfile.ZipFile(dist["wheel"]).namelist())
    for name in _shipped_files():
        assert f"stqs_core/_shipped/{name}" in wheel, f"the wheel lacks {name}"
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "stqs_core").rglob("*") if p.suffix in (".py", ".json")}
    assert sources <= wheel, f"the wheel lacks {sorted(sources - wheel)}"
    with tarfile.open(dist["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert set(_shipped_files()) | sources | {"tests/conftest.py", "pyproject.toml"} <= names


@pytest.mark.slow
def test_installed_package_runs_from_any_folder(installed):
    bin_, env, work = installed["bin"], installed["env"], installed["work"]
    where = _run([bin_ / "python", "-c", "import stqs_core; print(stqs_core.__file__)"], work, env).stdout
    assert Path(where.strip()).is_relative_to(installed["site"]), "not the wheel's stqs_core"
    version = _pyproject()["project"]["version"]
    assert _run([bin_ / "stqs", "--version"], work, env).stdout.strip() == f"stqs {version}"
    demo = _run([bin_ / "stqs", "demo", "--hours", "0.5", "--out", "demo"], work, env)
    assert "60 epochs scored" in demo.stdout
    assert {p.name for p in (work / "demo").iterdir()} == {
        "night.edf",
        "night.events.csv",
        "hypnogram.csv",
        "hypnogram.png",
    }
    score = _run(  # a shipped model by name: the default would be fetched, and tests never reach the internet
        [bin_ / "stqs", "score", work / "demo" / "night.edf", "--model", "stqs-cnnlstm-sim", "--out", "night.csv"],
        work,
        env,
    )
    assert "60 epochs scored" in score.stdout and "kappa" in score.stdout
    assert len((work / "night.csv").read_text().splitlines()) == 61


@pytest.mark.slow
def test_installed_demo_with_a_bad_model_leaves_nothing(installed):
    work = installed["work"]
    result = subprocess.run(
        [installed["bin"] / "stqs", "demo", "--hours", "0.5", "--model", "no-such-model", "--out", "failed"],
        cwd=work,
        env=installed["env"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "no-such-model" in result.stderr
    assert not (work / "failed").exists()


@pytest.mark.slow
def test_installed_dashboard_serves_its_page(installed):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = installed["work"] / "dashboard.log"
    proc = subprocess.Popen(
        [installed["bin"] / "stqs", "dashboard", "--port", str(port), "--hours", "0.2"],
        cwd=installed["work"],
        env=installed["env"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        page, deadline = None, time.monotonic() + 180
        while page is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/app", timeout=120) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.5)
        text = log.read_text()
        assert page is not None, f"no page from stqs dashboard:\n{text}"
        # the app's own template title: app.py ran, its sibling modules imported from the install
        assert "<title>STQS" in page, page[:300]
        assert "Traceback" not in text and "ERROR" not in text, text
        assert str(installed["site"]) in text  # served from the install: stqs_core/_shipped/dashboards/app.py
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_installed_notebook_chain_runs(installed):
    work = installed["work"]
    start = time.perf_counter()
    _run([installed["bin"] / "stqs", "notebooks", "run", "--tiny", "--out", "nb"], work, installed["env"], 1200)
    print(f"tiny notebook chain from the wheel: {time.perf_counter() - start:.0f} s")
    assert (work / "nb" / "03_evaluate" / "report.json").is_file()
    assert len(list((work / "nb" / "05_aasm_lesson").glob("lesson_*.png"))) >= 3
