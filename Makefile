# fargate-lab: the two commands a newcomer runs (README), plus bench.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# On this project's machines there is no internet; the shared mirror of the
# public traces stands in for it when present (see README, "Traces").
SHARED_TRACES := $(abspath ../shared/traces)
ifneq ($(wildcard $(SHARED_TRACES)/README.md),)
export FARGATE_LAB_TRACE_MIRROR ?= $(SHARED_TRACES)
endif

.PHONY: setup test test-slow lint demo bench bench-policies validate clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -n 2 -q

# Long request-level validations (ciw at utilisation 0.95), kept out of `make test`.
test-slow: $(STAMP)
	$(PY) -m pytest -n 2 -q -m slow

demo: $(STAMP)
	$(VENV)/bin/fargate-lab demo --out demo-output

bench: $(STAMP)
	$(PY) benchmarks/bench_sim.py --profile
	$(PY) benchmarks/bench_policies.py

# Policy benchmarks: a fixed suite against benchmarks/leaderboard.csv; fails on a regression.
# ARGS="--suite quick" is CI's reduced run; ARGS="--suite all --update" rewrites the leaderboard.
bench-policies: $(STAMP)
	$(PY) -m experiments.leaderboard $(ARGS)

# Where the fluid's pointwise-stationary latency breaks: a ramp into overload vs ciw.
validate: $(STAMP)
	$(PY) benchmarks/validate_fluid.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
