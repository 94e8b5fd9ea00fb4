# Two commands on a fresh machine: `make demo` (set up, then score a simulated demo night) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PyTorch comes from its CPU-only index: from PyPI, pip on Linux takes the CUDA build (several GB of nvidia-*
# wheels) that this CPU package never uses. Only torch is taken from there (--no-deps); its dependencies and the
# rest come from PyPI in the next step. A pip set up with a local wheel or mirror (find-links, extra-index-url)
# still uses it. The version is pyproject.toml's pin.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH := $(shell grep -o '"torch[=<>~!][^"]*"' pyproject.toml | tr -d '"')

.PHONY: demo test test-fast lint bench docs

$(BIN)/stqs: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-deps --index-url $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/stqs

demo: $(BIN)/stqs
	$(BIN)/stqs demo --out runs/demo

test: $(BIN)/stqs
	$(BIN)/python -m pytest

test-fast: $(BIN)/stqs
	$(BIN)/python -m pytest -m "not slow"

lint: $(BIN)/stqs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/stqs
	$(BIN)/pip install -q -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# The API reference (docs/api, Sphinx + numpydoc) into docs/api/_build/html; any warning fails the build, and
# conf.py warns about every public object without a complete NumPy-style docstring. Nothing is fetched.
$(BIN)/sphinx-build: $(BIN)/stqs
	$(BIN)/pip install -q -e ".[docs]"
	touch $@

docs: $(BIN)/sphinx-build
	$(BIN)/python -m sphinx -b html -W --keep-going -q docs/api docs/api/_build/html
