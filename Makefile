# Two commands on a fresh machine: `make demo` (set up, then score a simulated demo night) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench

$(BIN)/stqs: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/stqs

demo: $(BIN)/stqs
	$(BIN)/stqs demo --out runs/demo

test: $(BIN)/stqs
	$(BIN)/python -m pytest

bench: $(BIN)/stqs
	$(BIN)/pip install -q -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done
