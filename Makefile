# One command per job. Every target bootstraps .venv from requirements.lock first.
export TF_USE_LEGACY_KERAS := 1
export PYTHONHASHSEED ?= 0

VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
UV_VERSION := 0.13.9
PRESET ?= default
PIPELINE_ROOT ?= runs/$(PRESET)

.PHONY: env policy-env run test check lint typecheck fmt bench bench-scale lock clean

env: $(VENV)/.installed

# A side venv for the serving manifests' policy checks (checkov, kubernetes-validate): their dependencies clash
# with TFX's, so they live apart; tests/kubeflow/test_serving_manifests.py runs them from here.
POLICY_VENV := .venv-policy
policy-env: $(POLICY_VENV)/.installed

$(POLICY_VENV)/.installed: requirements-policy.lock $(VENV)/.installed
	@PY310=$$(scripts/find_python.sh) && { [ -x $(POLICY_VENV)/bin/python ] || $(UV) venv -q -p $$PY310 $(POLICY_VENV); }
	VIRTUAL_ENV=$(POLICY_VENV) $(UV) pip install -q --compile-bytecode -r requirements-policy.lock
	@touch $@

# --compile-bytecode: the packages' .pyc files are written once here. A process never writes them itself where
# PYTHONDONTWRITEBYTECODE is set, and then compiles TF/TFX/Beam from source on every start, in every test worker and
# subprocess (CHANGELOG.md has the cost).
$(VENV)/.installed: requirements.lock requirements-dev.txt pyproject.toml scripts/find_python.sh
	@PY310=$$(scripts/find_python.sh) && echo "using $$PY310" && \
	  { [ -x $(PY) ] || $$PY310 -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install -q --compile-bytecode -p $(PY) -r requirements.lock
	$(UV) pip install -q -p $(PY) -r requirements-dev.txt -c requirements.lock
	$(UV) pip install -q -p $(PY) --no-deps -e .
	@touch $@

run: env
	$(VENV)/bin/ranker run --preset $(PRESET) --pipeline-root $(PIPELINE_ROOT)

# Tests run on PYTEST_WORKERS pytest-xdist workers, each file (and each session fixture's users) on one worker;
# the costliest groups are handed out first (tests/conftest.py orders them; xdist's own reorder is off).
PYTEST_WORKERS ?= 2
PYTEST_XDIST := -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

test: env lint typecheck policy-env
	$(PY) -m pytest -q $(PYTEST_XDIST) $(PYTEST_ARGS)

# Lint, the type checker and the unit tier only (no `slow`, no `e2e`): the quick loop, within 2 minutes on 2 cores.
check: env lint typecheck policy-env
	$(PY) -m pytest -q $(PYTEST_XDIST) -m "not slow and not e2e" $(PYTEST_ARGS)

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy over the domain packages (settings in pyproject.toml; requirements-dev.txt pins it).
TYPED := config compat logformat world models ingest generation serving
typecheck: env
	$(VENV)/bin/mypy $(TYPED)

fmt: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks (total time in the report): JSON + PNGs into docs/benchmarks/, the report into docs/benchmarks.md.
# `make bench SCALE=1` adds the pipeline scale benchmark (41 CPU-min, ~70 min wall on 2 shared cores); `make bench-scale` runs it alone.
bench: env
	$(PY) -m benchmarks.run_all --out docs/benchmarks $(if $(SCALE),--scale)

bench-scale: env
	$(PY) -m benchmarks.pipeline_scale_bench --overrides '{"gates": {"eval_splits": ["eval"]}}' \
	  --out docs/benchmarks --report docs/benchmarks.md

# Re-resolve the lock file against upstream's TFX 1.16.0 test constraints.
lock: env
	$(UV) pip compile requirements.in -c constraints/tfx-1.16.0-test-constraints.txt \
	  --python-version 3.10 -o requirements.lock

clean:
	rm -rf $(VENV) $(POLICY_VENV) runs .pytest_cache .ruff_cache .mypy_cache
