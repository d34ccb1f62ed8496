# ionc: `make demo` runs the main job, `make test` the test suite; both create .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test venv goldens clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m ionc.demo

test: venv
	$(PY) -m pytest -q tests

# Regenerate the BrainPy golden files (needs the dev extra: brainpy + jax).
goldens:
	$(PYTHON) -m venv .venv-dev
	.venv-dev/bin/python -m pip install -q -e ".[dev]"
	.venv-dev/bin/python tests/golden/make_goldens.py float64
	.venv-dev/bin/python tests/golden/make_goldens.py float32

clean:
	rm -rf $(VENV) .venv-dev .setuptools-build *.egg-info
