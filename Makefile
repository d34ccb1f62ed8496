# ionc: `make demo` runs the main job, `make test` the test suite; both create .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test test-gpu lint venv goldens clean

# make demo needs the core and matplotlib only; make test installs the test extra on top
$(VENV)/.demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[plot]"
	touch $@

$(VENV)/.installed: $(VENV)/.demo
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.demo
	$(PY) -m ionc.demo

lint: venv
	$(PY) -m ruff check .

test: venv lint
	$(PY) -m pytest -q tests

# On a machine with an NVIDIA GPU: CuPy installed, a missing or broken GPU stack fails
# instead of skipping, then the GPU suite and the CUDA benchmark.
test-gpu: venv
	$(PY) -m pip install -q -e ".[cuda,test]" "jax[cuda12]"
	IONC_REQUIRE_GPU=1 $(PY) -m pytest -q -m gpu tests
	$(PY) benchmarks/bench_cuda.py

# Regenerate the BrainPy golden files (needs the dev extra: brainpy + jax).
goldens:
	$(PYTHON) -m venv .venv-dev
	.venv-dev/bin/python -m pip install -q -e ".[dev]"
	.venv-dev/bin/python tests/golden/make_goldens.py float64
	.venv-dev/bin/python tests/golden/make_goldens.py float32

clean:
	rm -rf $(VENV) .venv-dev
