# Everyday commands.  Everything runs from a virtualenv in .venv, built on
# first use with the C core compiled by CFFI (`pip install -e .`).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help build demo test test-fast lint gen bench bench-smoke clean

help:
	@echo "make build      build the C core into $(VENV) (pip install -e .[test])"
	@echo "make demo       replay the bundled capture"
	@echo "make test       run the test suite"
	@echo "make lint       ruff and mypy"
	@echo "make gen        regenerate the C layout header from protocols/"
	@echo "make bench      decode, book and feed benchmarks against their peers (5M messages)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): $(PY) pyproject.toml setup.py $(wildcard native/build_*.py native/src/* native/include/gw/*.h native/xdp/* native/bpf/* native/dpdk/*)
	$(PY) -m pip install -e '.[test]'
	touch $@

build: $(STAMP)

demo: build
	$(VENV)/bin/gateway replay captures/synth-small.pcap

test: build
	./scripts/run-tests

test-fast: build
	$(PY) -m pytest -m "not slow" -x -q

lint: build
	$(VENV)/bin/ruff check gateway protocols native tests benchmarks
	$(VENV)/bin/mypy

gen: $(PY)
	$(PY) -m native.gen_layout

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -e '.[test,bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks.bench_decode
	$(PY) -m benchmarks.bench_book
	$(PY) -m benchmarks.bench_feed
	$(PY) -m benchmarks.bench_bypass
	$(PY) -m benchmarks.bench_fix
	$(PY) -m benchmarks.bench_fix_rtt

bench-smoke: $(BENCH_STAMP)
	$(PY) -m benchmarks.bench_decode --messages 200000 --symbols 50 --runs 1 --peer-runs 1
	$(PY) -m benchmarks.bench_book --quick
	$(PY) -m benchmarks.bench_feed --quick
	$(PY) -m benchmarks.bench_bypass --quick
	$(PY) -m benchmarks.bench_fix --quick
	$(PY) -m benchmarks.bench_fix_rtt --quick

clean:
	rm -rf build $(VENV) *.egg-info gateway/_native*.so
