# Every target sets up the pinned environment first; a second run reuses it.
VENV ?= .venv
PY := $(VENV)/bin/python
CLASSICS := $(VENV)/bin/classics
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast bench bench-zoo bench-ingest bench-word2vec clean

setup:
	@scripts/setup_env.sh $(VENV)

demo: setup
	$(CLASSICS) run mnist

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest tests -m "not e2e" $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run_bench.py

bench-zoo: setup
	$(PY) bench/run_bench.py --models nin,inception,resnet20,highway --epochs 3

bench-ingest: setup
	$(PY) bench/ingest_bench.py

bench-word2vec: setup
	$(PY) bench/word2vec_bench.py

clean:
	rm -rf workspace .pytest_cache
