# vidlab developer commands. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch/torchvision pins (the wheels this project is tested with)
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?= --durations=25
# what `make lint` checks: ruff on all Python code, mypy on the typed packages (config: pyproject.toml)
RUFF_PATHS := src tests benchmarks
MYPY_PATHS := src/vidlab/io src/vidlab/convert src/vidlab/evaluation src/vidlab/models

.PHONY: setup demo lint test test-all test-slow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>/dev/null || true
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	bash scripts/install_browser.sh $(BIN)/python || echo "no browser: tests/serve/test_browser.py will skip"
	@touch $(STAMP)

demo: setup
	$(BIN)/vidlab demo --out vidlab_demo

# both run even when the first fails; the target fails if either does
lint: setup
	@rc=0; \
	echo "ruff check $(RUFF_PATHS)"; $(BIN)/ruff check $(RUFF_PATHS) || rc=1; \
	echo "mypy $(MYPY_PATHS)"; $(BIN)/mypy $(MYPY_PATHS) || rc=1; \
	exit $$rc

test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_decode.py

clean:
	rm -rf vidlab_demo .pytest_cache .ruff_cache .mypy_cache build dist src/*.egg-info
