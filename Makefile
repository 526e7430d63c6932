# liverec: `make run` fetches data, trains and serves; `make check` is the fast developer loop
# (lint, types, tests not marked slow: under two minutes); `make test` runs the whole suite (CI).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
REPLICAS ?= 2
# implicit and numpy each parallelise; one BLAS thread avoids oversubscribing the cores.
export OPENBLAS_NUM_THREADS ?= 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps run run-cluster train serve evaluate bench check test lint typecheck pytest clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (liverec needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	# torch first, so pip takes the local CPU wheel rather than resolving a CUDA build.
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,redis,ray]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages: chromium for the browser tests (Playwright drives /usr/bin/chromium and
# never downloads a browser of its own), wrk, the load generator of `liverec bench`, and the
# engines of `liverec cluster`: redis-server and haproxy (haproxy lives in /usr/sbin).
system-deps:
	@missing=""; for p in chromium wrk redis-server haproxy; do \
	  PATH="$$PATH:/usr/sbin" command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install
	$(BIN)/liverec data fetch ml-100k
	$(BIN)/liverec train --dataset ml-100k
	$(BIN)/liverec serve --dataset ml-100k --host $(HOST) --port $(PORT)

# Redis, $(REPLICAS) replicas and HAProxy on $(PORT), in the background: `liverec cluster down` stops them.
run-cluster: install system-deps
	$(BIN)/liverec data fetch ml-100k
	$(BIN)/liverec train --dataset ml-100k
	$(BIN)/liverec cluster up --dataset ml-100k --replicas $(REPLICAS) --port $(PORT)

train: install
	$(BIN)/liverec train --dataset ml-100k

evaluate: install
	$(BIN)/liverec evaluate --dataset ml-100k --models pop,usercf,itemcf,als,bpr --split test
	$(BIN)/liverec evaluate --dataset ml-100k --models sasrec --split test --save-models out/models
	$(BIN)/liverec evaluate --protocol replay --dataset ml-100k
	$(BIN)/liverec evaluate --protocol replay --dataset ml-100k --modes online --models sasrec

# Each writes out/bench/<name>.json and its section of docs/benchmarks.md.
bench: install system-deps
	$(BIN)/liverec bench serve
	$(BIN)/liverec bench serve --workers 2
	$(BIN)/liverec bench freshness
	$(BIN)/liverec bench naive
	$(BIN)/liverec bench ablation
	$(BIN)/liverec bench content
	$(BIN)/liverec bench encoder
	$(BIN)/liverec bench sasrec --model out/models/sasrec  # after make evaluate
	$(BIN)/liverec bench durability --cycles 20
	$(BIN)/liverec bench soak

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install
	$(BIN)/mypy

pytest: install system-deps
	$(BIN)/pytest

check: lint typecheck system-deps
	$(BIN)/pytest -q -m "not slow"

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
