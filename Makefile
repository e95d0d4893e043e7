# Two entry points for a fresh machine with Python 3.11 and pip: `make repro` and `make test`.
# Both first bring .venv in line with requirements.lock (only when the lock or pyproject.toml changed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.synced
PORT   ?= 5000
# DVC stage commands say `python ...`: run them, and everything else here, with the venv's tools.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup repro robust test test-fast check deps lint format bench ui exps audit lock clean-venv help

help:
	@echo "make repro      set up .venv from $(LOCK), then run the DVC pipeline (dvc repro)"
	@echo "make robust     the named experiment 'robust': a model trained for people's digits (2-6 min on 2 cores)"
	@echo "make test       set up .venv from $(LOCK), then run the whole test suite (on 2 workers: TEST_WORKERS=N)"
	@echo "make test-fast  the tests without the slow end-to-end runs and the registry download"
	@echo "make check      the fast tier, after each change: lint, types, and the unit tests (no TensorFlow,"
	@echo "                no server, no subprocess; under 90 s on 2 cores)"
	@echo "make lint       ruff and mypy: lint, formatting and types of the whole tree (CI runs it first)"
	@echo "make deps       regenerate dvc.yaml's code deps from what each stage imports"
	@echo "make setup      only set up .venv from $(LOCK) (make repro and make test do it first)"
	@echo "make format     ruff: format the whole tree and apply safe lint fixes"
	@echo "make bench      measure the pipeline against the seed tutorial (writes benchmarks/results.*)"
	@echo "make exps       the experiments side by side: the params that differ, the figures (fits 120 columns)"
	@echo "make ui         the MLflow UI on 127.0.0.1:5000 (or PORT=), loopback only (no authentication); prints the"
	@echo "                address of the runs table with the project's columns"
	@echo "make audit      check requirements.lock against known vulnerabilities (needs the advisory database online)"
	@echo "make lock       re-resolve $(LOCK) from pyproject.toml (needs the package registry)"

setup: $(STAMP)

# uv installs the pinned, hash-checked lock in parallel; it is itself pinned and hash-checked in the lock.
# --compile-bytecode: write every package's .pyc now (~40 s once). Where PYTHONDONTWRITEBYTECODE is set
# (some CI images), nothing is ever cached and each `import tensorflow` compiles TF from source: 25 s
# instead of 8 s, three times per pipeline run, measured on a 2-core machine.
$(STAMP): $(LOCK) pyproject.toml
	@echo "setting up $(VENV) from $(LOCK): about a minute and a half on 2 cores, once (again only when the lock changes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "mnist-ann needs Python 3.11, got " + sys.version.split()[0]'
	@awk '/^uv==/{p=1} p{print} p && !/\\$$/{exit}' $(LOCK) > $(VENV)/uv-requirement.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv-requirement.txt
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

repro: setup
	$(BIN)/dvc repro

# The whole suite on TEST_WORKERS processes (pytest-xdist), a test file to a worker (module
# fixtures are built once), the longest files first (tests/conftest.py orders them): one started
# last would run alone at the end. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not network"

# The fast tier: tests/unit_tier.py fails any test of the tier that starts a process, listens on a socket
# or imports TensorFlow, Keras, MLflow, DVC or Ray, so the tier stays fast by construction.
check: lint
	$(BIN)/python -m pytest -q -m unit --unit-tier --durations=5

deps: setup
	$(BIN)/python tools/stage_deps.py --write

# Paths, not `.`: a checkout may sit beside other trees, and the venv is never ours to lint.
LINTED := src pipeline tests benchmarks tools

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

bench: setup
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# The MLflow UI has no authentication: keep it on the loopback interface.
ui: setup
	@$(BIN)/python tools/ui_address.py --store sqlite:///$(CURDIR)/mlflow.db --port $(PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(PORT)

# `dvc exp show` lists every param, dep hash and per-digit figure (hundreds of columns; over 260
# with the robust experiment's eleven params even when narrowed): tools/exps_table.py turns it round,
# one column per experiment, a row per param that differs and per figure that compares them.
# The named experiment for people's digits (docs/predict.md, "Which model"): a wider Dense-only
# network, 30 epochs of a cosine-decayed Adam 0.001, and every distortion of train.augment. --temp
# runs it in a copy, so params.yaml and models/ stay as they are; `dvc exp apply robust` brings it in.
ROBUST_PARAMS = -S 'train.hidden_units=[512,256,128]' -S train.learning_rate=0.001 \
	-S train.lr_schedule=cosine -S train.epochs=30 -S train.augment.rotation=20 -S train.augment.scale=0.3 \
	-S train.augment.shear=15 -S train.augment.shift=3 -S train.augment.stroke=0.6 \
	-S train.augment.blur=0.3 -S train.augment.noise=30
robust: setup
	@echo "make robust: the pipeline in a copy of the repository, training 30 epochs of augmented digits (2 minutes on an idle 2-core AMD EPYC, 6.4 on a loaded one)"
	$(BIN)/dvc exp run --temp -n robust --force $(ROBUST_PARAMS)

exps: setup
	$(BIN)/python tools/exps_table.py

# pip-audit asks an online vulnerability database (PyPI's or OSV); machines that reach only a
# package registry cannot run it. uv fetches the pinned pip-audit on first use.
audit: setup
	$(BIN)/uv tool run --from pip-audit==2.10.1 pip-audit --requirement $(LOCK) --require-hashes --disable-pip --strict --progress-spinner off

lock:
	@test -x $(BIN)/uv || { echo "run 'make setup' first (or pip install uv)"; exit 1; }
	$(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --quiet -o $(LOCK)

clean-venv:
	rm -rf $(VENV)
