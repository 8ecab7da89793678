# The README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required (set PYTHON=python3.11)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint unit

bench: $(STAMP)
	$(BIN)/python benchmarks/import_cost.py
	$(BIN)/python benchmarks/store_bench.py
	$(BIN)/python benchmarks/store_bench.py --cluster
	$(BIN)/python benchmarks/turn_overhead.py
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/webhooks_bench.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache
