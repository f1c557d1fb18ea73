# The two commands: `make demo` (the main job) and `make test` (the whole suite).
# Each sets up what it needs: a .venv from requirements*.txt and Azurite in node_modules.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Azurite's version (3.35.0) is pinned in package.json and package-lock.json.
AZURITE := node_modules/.bin/azurite-table
# The browser tests (tests/browser) drive Debian's chromium through Playwright; never a Playwright download.
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-long lint typecheck setup venv azurite browser clean

demo: setup browser
	$(PY) -m localdev.demo

test: setup browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

# The property tests (tests/property/) with the long hypothesis profile: many more sequences, end to end included.
test-long: setup
	HYPOTHESIS_PROFILE=long $(PY) -m pytest tests/property

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: venv
	$(VENV)/bin/mypy

setup: venv azurite

venv: $(VENV)/.installed

# Reinstalled only when a requirements file or pyproject changes: a second run is fast.
$(VENV)/.installed: requirements.txt requirements-local.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

azurite: $(AZURITE)

$(AZURITE):
	npm ci --no-audit --no-fund --silent

browser: $(CHROMIUM)

# Installed only when missing (sudo only when not root). Without it the browser tests fail, they never skip.
$(CHROMIUM):
	if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
