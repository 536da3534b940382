# The two commands of the README: `make demo` and `make test`. Everything else is here to serve them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
TEST_ENV := CMSF_DATA_DIR=$(CURDIR)/var/test CMSF_QUEUE_NAME=cmsf-test

.PHONY: demo test lint typecheck pytest install install-dev clean chromium

demo: $(VENV)/.runtime
	$(BIN)/cmsf demo

test: $(VENV)/.dev chromium lint typecheck pytest

# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the console's browser tests"; \
		$(SUDO) apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update >/dev/null && $(SUDO) apt-get install -y --no-install-recommends chromium >/dev/null; }; }

lint: $(VENV)/.dev
	$(BIN)/ruff check src sandbox/src tests bench
	$(BIN)/ruff format --check src sandbox/src tests bench
	$(BIN)/lint-imports  # the layers of docs/architecture.md, contracts in .importlinter

typecheck: $(VENV)/.dev
	$(BIN)/mypy src sandbox/src

pytest: $(VENV)/.dev
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "cmsf needs Python 3.11"' \
		|| { echo "cmsf needs Python 3.11: set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3

$(VENV)/.runtime: $(BIN)/python pyproject.toml sandbox/pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e . -e ./sandbox
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml sandbox/pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e '.[dev]' -e ./sandbox
	touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV) var/test
