# The README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest processes for `make unit` (pytest-xdist); `make unit PYTEST_WORKERS=0` runs in one process.
# 3 on 2 cores: the suite waits on subprocesses and servers a lot (measured: 3 beat 2 and 1)
PYTEST_WORKERS ?= 3
# more pytest options for `make unit`, e.g. PYTEST_ARGS=--durations=25
PYTEST_ARGS ?=

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

# The whole suite: everything but the `serial` tests on PYTEST_WORKERS processes, each with its own
# Valkey servers, a test file to one worker (module fixtures such as a dev server start once), in
# collection order (`slow` tests first: tests/conftest.py); then the `serial` tests alone, from
# the files the first run listed as holding some (tests/conftest.py: pytest_deselected). Not
# `--dist loadgroup`: with pytest 9.2, xdist 3.8 ignores xdist_group (pytest-xdist issue 1386).
SERIAL_LIST := build/serial-tests.txt
unit: $(STAMP)
	@mkdir -p build && rm -f $(SERIAL_LIST) build/junit-*.xml
	status=0; \
	FACTORIAL_SERIAL_TESTS=$(SERIAL_LIST) $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile \
		--no-loadscope-reorder -m "not serial" --junitxml=build/junit-parallel.xml \
		$(PYTEST_ARGS) || status=$$?; \
	if [ -s $(SERIAL_LIST) ]; then \
		$(BIN)/pytest -q -n 0 -m serial --junitxml=build/junit-serial.xml $(PYTEST_ARGS) \
			$$(sort -u $(SERIAL_LIST)) || status=$$?; \
	fi; \
	$(BIN)/python tests/junit_summary.py build/junit-parallel.xml build/junit-serial.xml; \
	exit $$status

# lint and unit at once (mypy and pytest's waits overlap); each one's output in one piece
test: $(STAMP)
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint unit

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
