# The two commands of the README: `make run` and `make test`. Everything installs from here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test install browser lint eval bench load clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first, pinned: its CPU wheel is on disk; an unpinned torch pulls GBs of CUDA packages.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: install
	HF_HUB_OFFLINE=1 $(BIN)/qa ingest seeds/
	HF_HUB_OFFLINE=1 $(BIN)/qa serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check qa tests eval bench
	$(BIN)/mypy qa

test: install browser lint
	HF_HUB_OFFLINE=1 $(BIN)/pytest

eval: install
	HF_HUB_OFFLINE=1 $(BIN)/qa eval all --data ../shared/eval

# The performance benchmark (~25 min; bench/README.md). `qa bench --help` for its options.
bench: install
	HF_HUB_OFFLINE=1 $(BIN)/qa bench

load: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/load.py --start --faces gradio,rest,openai

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
