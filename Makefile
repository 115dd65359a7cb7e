# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TFO := $(VENV)/bin/tfo
DEV := .tfo-dev
STAMP := $(VENV)/.installed
OFFLINE = eval "$$($(PY) -m devtools.offline_terraform $(DEV))"

.PHONY: demo test lint typecheck unit integration bench bench-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit

integration: $(STAMP)
	$(OFFLINE) && $(VENV)/bin/pytest -q tests/integration

test: $(STAMP) lint
	$(OFFLINE) && $(VENV)/bin/pytest -q tests

demo: $(STAMP)
	$(OFFLINE) && $(PY) examples/demo.py

clean:
	rm -rf $(VENV) $(DEV) examples/multi-region/.tfo examples/multi-region/*/terraform.tfstate* examples/multi-region/*/.terraform*
