"""The notebook chain: committed notebooks are clean and parameterised; a tiny run writes sane results."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest

from stqs_core.notebooks import CHAIN, NOTEBOOKS_DIR, chain_paths, notebook_parameters, run_chain, strip_outputs


@pytest.mark.parametrize("name", CHAIN)
def test_committed_notebook_is_clean_and_parameterised(name):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), f"{name} carries outputs: strip it"
    assert "papermill" not in nb.metadata
    assert nb.metadata.kernelspec.name == "python3"
    assert "run_dir" in notebook_parameters(name)


def test_strip_outputs_clears_an_executed_copy(tmp_path):
    path = tmp_path / "nb.ipynb"
    nb = nbformat.read(NOTEBOOKS_DIR / f"{CHAIN[0]}.ipynb", as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    code.execution_count = 3
    nb.metadata["papermill"] = {"duration": 1.0}
    nbformat.write(nb, path)
    assert strip_outputs([path]) == [path]
    clean = nbformat.read(path, as_version=4)
    assert all(c.get("outputs", []) == [] for c in clean.cells) and "papermill" not in clean.metadata
    assert strip_outputs([path]) == []  # nothing left to strip


def test_unknown_parameter_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no_such_parameter"):
        run_chain(tmp_path, {"no_such_parameter": 1})
    assert not any(tmp_path.iterdir())  # refused before anything ran


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The whole chain through the CLI with tiny parameters (a few short simulated nights, two epochs)."""
    from stqs_core.cli import main

    run_dir = tmp_path_factory.mktemp("run")
    assert main(["notebooks", "run", "--out", str(run_dir), "--tiny"]) == 0
    return run_dir


@pytest.mark.slow
def test_prepare_notebook_reads_a_folder_of_edf_files(tmp_path, random_night):
    """The real-data path of notebook 1: ``edf_dir`` in, the epoch store and stage counts out."""
    import pandas as pd

    from stqs_core import EpochStore
    from stqs_core.edf import write_edf

    from .conftest import SHHS_NAMES

    edf_dir = tmp_path / "edf"
    stages = np.array([0, 0, 1, 2, 2, 3, 3, 4, 4, -1])
    for i in range(3):
        write_edf(edf_dir / f"night{i}.edf", random_night(5.0, seed=i), SHHS_NAMES, 125, stages=stages)
    run_dir = tmp_path / "run"
    run_chain(run_dir, {"edf_dir": str(edf_dir), "preset": "shhs"}, notebooks=("01_prepare_data",), progress=False)
    paths = chain_paths(run_dir)
    with EpochStore(paths["store"]) as store:
        assert store.recordings == ["night0", "night1", "night2"]
        assert store.epochs.shape == (30, 5, 3750)
        np.testing.assert_array_equal(store.labels("night1"), stages)
    counts = pd.read_csv(paths["01_prepare_data"] / "stage_counts.csv", index_col=0)
    assert counts.to_numpy().sum() == 30 and (counts["N3"] == 2).all()
    assert (paths["01_prepare_data"] / "example_epochs.png").stat().st_size > 10_000
    assert (run_dir / "01_prepare_data.ipynb").is_file()


@pytest.mark.slow
def test_tiny_chain_writes_sane_results(tiny_run):
    import pandas as pd

    from stqs_core import load_model

    paths = chain_paths(tiny_run)
    assert all((tiny_run / f"{name}.ipynb").is_file() for name in CHAIN)
    model = load_model(paths["model"])
    training = json.loads(paths["training"].read_text())
    split = training["split"]
    assert not set(split["train"]) & (set(split["validation"]) | set(split["test"]))
    report = json.loads(paths["report"].read_text())
    assert report["recordings"] == split["test"] and report["model"]["variant"] == model.config.variant
    assert all(0 <= value <= 1 for value in report["overall"].values() if value is not None)
    counts = np.array(report["confusion"]["counts"])
    assert counts.sum() == report["n_scored"] == sum(r["n_scored"] for r in report["per_recording"]) > 0
    interpret = paths["04_interpret"]
    aasm = pd.read_csv(interpret / "aasm_report.csv")
    assert aasm.stage.tolist() == ["W", "N1", "N2", "N3", "REM"]
    drops = pd.read_csv(interpret / "frequency_occlusion.csv")
    assert set(drops.band) == {"delta", "theta", "alpha", "sigma", "beta"} and np.isfinite(drops["drop"]).all()
    for figure in ("frequency_occlusion.png", "time_occlusion.png", "attribution.png", "filters.png"):
        assert (interpret / figure).stat().st_size > 10_000
    attribution = pd.read_csv(interpret / "attribution.csv")  # notebook 4's default method, one epoch
    assert len(attribution) == 3750 and np.isfinite(attribution.importance).all() and attribution.importance.max() > 0
    assert len(list(paths["05_aasm_lesson"].glob("lesson_*.png"))) >= 3
