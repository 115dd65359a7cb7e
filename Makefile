# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TFO := $(VENV)/bin/tfo
DEV := .tfo-dev
STAMP := $(VENV)/.installed
# checkov gets a venv of its own: its bc-python-hcl2 would replace python-hcl2's `hcl2`.
CHECKOV := $(DEV)/checkov-venv/bin/checkov
OFFLINE = eval "$$($(PY) -m devtools.offline_terraform $(DEV))"

.PHONY: demo test lint typecheck unit integration bench bench-quick bench-scale clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# An editable install leaves tfo's own modules uncompiled, and with
# PYTHONDONTWRITEBYTECODE set every tfo command would compile them again (~0.1 s of
# CPU each); a wheel's install compiles them, so compile them here too.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m compileall -q tfo config activities workflows daemon
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m devtools.typecheck_tree $(DEV)/typecheck
	$(VENV)/bin/mypy

unit: $(STAMP) $(CHECKOV)
	TFO_CHECKOV=$(CHECKOV) $(VENV)/bin/pytest -q tests/unit

integration: $(STAMP)
	$(OFFLINE) && $(VENV)/bin/pytest -q tests/integration

$(CHECKOV):
	$(PYTHON) -m venv $(DEV)/checkov-venv
	$(DEV)/checkov-venv/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30

# Tests that need a terraform which lists resource drift and runs check blocks run a
# second time with a terraform >= 1.5 when the machine has one on PATH.
NEWER_TF_TESTS := tests/integration/test_test_provider.py tests/integration/test_drift_truth.py tests/integration/test_plan_diffs.py tests/integration/test_remediation.py tests/integration/test_cluster_mode.py

test: $(STAMP) $(CHECKOV) lint
	$(OFFLINE) && TFO_CHECKOV=$(CHECKOV) $(VENV)/bin/pytest -q tests --ignore=tests/reliability
	@newer="$$($(PY) -m devtools.newer_terraform)"; \
	if [ -n "$$newer" ]; then \
		echo "again with $$newer:"; \
		export TFO_TEST_TERRAFORM="$$newer" && $(OFFLINE) && $(VENV)/bin/pytest -q $(NEWER_TF_TESTS); \
	else \
		echo "no terraform >= 1.5 on PATH: resource drift and check blocks were tested with 1.0.3 only"; \
	fi

demo: $(STAMP)
	$(OFFLINE) && $(PY) examples/demo.py

clean:
	rm -rf $(VENV) $(DEV) examples/multi-region/.tfo examples/multi-region/*/terraform.tfstate* examples/multi-region/*/.terraform*

# Benchmarks (bench/): tfo against a sequential loop, make -jP and the critical path on
# generated DAGs of real terraform workspaces. `make bench` writes BENCHMARKS.md; pass
# e.g. BENCH_ARGS="--trees layered:40 --scale 0" for a subset. The last
# line printed is `overhead_ratio=X per_workspace_overhead_ms=Y`.
# The scale series (outputs-only DAGs of N = 1,000, 5,000, 10,000 workspaces, apply and
# plan at P = 8, plus 500 workspaces with 8 KB outputs) takes hours on 2 cores, so
# `make bench` leaves it out: `make bench-scale` runs it alone (bench/out/scale.md,
# raw figures in bench/out/scale/results.json), BENCH_ARGS=--scale-series adds it to
# `make bench`, and `$(PY) -m bench --render bench/out/results.json --series-from
# bench/out/scale/results.json` puts a separate series into BENCHMARKS.md.
BENCH_ARGS ?=

bench: $(STAMP)
	$(OFFLINE) && $(PY) -m bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(OFFLINE) && $(PY) -m bench --quick $(BENCH_ARGS)

bench-scale: $(STAMP)
	$(OFFLINE) && $(PY) -m bench --trees '' --scale 0 --scale-series 1000,5000,10000 --large-outputs 500 \
		--out bench/out/scale --report bench/out/scale.md $(BENCH_ARGS)

# Reliability and security (tests/reliability, RELIABILITY.md): fault injection, hostile
# input, secrets, history limits (a 500-workspace DAG among them). `make test` leaves
# them out; .ci/run runs both.
.PHONY: reliability

reliability: $(STAMP) $(CHECKOV)
	$(OFFLINE) && TFO_CHECKOV=$(CHECKOV) $(VENV)/bin/pytest -q -n 2 --dist loadfile tests/reliability
