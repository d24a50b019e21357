# Every target sets up the pinned environment first; a second run reuses it.
VENV ?= .venv
PY := $(VENV)/bin/python
CLASSICS := $(VENV)/bin/classics
PYTEST_ARGS ?=
# Two test processes (pytest-xdist), each module's tests on one of them (tests/conftest.py
# groups them), in the order tests/xdist_groups.py sorts them (pytest-xdist would put the
# groups with most tests first); `make test-random` shuffles the order (pytest-randomly).
XDIST ?= -n 2 --dist loadgroup --no-loadscope-reorder
PYTEST := $(PY) -m pytest tests $(XDIST)

.PHONY: setup test-deps demo test test-fast test-random bench bench-zoo bench-ingest bench-word2vec \
	bench-lm bench-scale bench-scale-quick bench-ir bench-warm-start clean

setup:
	@scripts/setup_env.sh $(VENV)

test-deps:
	@scripts/test_deps.sh

demo: setup
	$(CLASSICS) run mnist

test: setup test-deps
	$(PYTEST) -p no:randomly $(PYTEST_ARGS)

test-fast: setup test-deps
	$(PYTEST) -p no:randomly -m "not e2e" $(PYTEST_ARGS)

# A random order (the seed is printed; rerun one with PYTEST_ARGS=--randomly-seed=N).
test-random: setup test-deps
	$(PYTEST) -p randomly $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run_bench.py

bench-zoo: setup
	$(PY) bench/run_bench.py --zoo nin,inception,resnet20,resnet32,resnet56,highway

# The MNIST pipeline from its compiled KFP IR (classics run-ir) vs classics run.
bench-ir: setup
	$(PY) bench/ir_bench.py

bench-ingest: setup
	$(PY) bench/ingest_bench.py

# Epochs and seconds to the gate's bar on a second batch: from scratch vs warm start.
bench-warm-start: setup
	$(PY) bench/warm_start_bench.py

bench-word2vec: setup
	$(PY) bench/word2vec_bench.py

# LSTM and GRU vs Kneser-Ney on the whole embedded text (about 15 minutes on 2 cores).
bench-lm: setup
	$(PY) bench/lm_bench.py --max-tokens 0 --epochs 4 --max-valid-tokens 0

# Data half + one epoch at 1/8 .. full MNIST and CIFAR-10, text at 1M/4M/17M tokens (about
# 25 minutes on 2 cores); bench-scale-quick: 1/8 and 1/4, 1M tokens.
bench-scale: setup
	$(PY) bench/scale_bench.py

bench-scale-quick: setup
	$(PY) bench/scale_bench.py --quick

clean:
	rm -rf workspace .pytest_cache
