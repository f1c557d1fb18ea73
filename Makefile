# The two commands: `make demo` (the main job) and `make test` (the whole suite).
# Each sets up what it needs: a .venv from requirements*.txt and Azurite in node_modules.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Azurite's version (3.35.0) is pinned in package.json and package-lock.json.
AZURITE := node_modules/.bin/azurite-table
# The browser tests (tests/browser) drive Debian's chromium through Playwright; never a Playwright download.
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-long fuzz chaos lint typecheck setup venv azurite browser clean checkov

demo: setup browser
	$(PY) -m localdev.demo

# Two pytest workers (pytest-xdist), each with its own Azurite and emulator, one test file per worker at a time: the
# end-to-end tests mostly wait on I/O, so two of them share 2 cores well.
test: setup browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n 2 --dist loadfile

# The property tests (tests/property/) with the long hypothesis profile: many more sequences, end to end included.
test-long: setup
	HYPOTHESIS_PROFILE=long $(PY) -m pytest tests/property

# The fuzzers (tests/fuzz/: alerts, Event Grid events, HTTP requests, schemathesis) with the long profile: thousands of
# inputs each instead of the few hundred `make test` sends (docs/security.md, "Fuzzing").
fuzz: setup
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -s tests/fuzz

# The chaos suite's full profile (500+ VMs, kills, faults, a Table wipe; docs/chaos.md); `make test` runs the bounded one.
chaos: setup
	$(PY) -m bench.chaos --profile full

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

# Static security scan of infra/ with checkov, in its own venv (.venv-checkov, made on first use): checkov pins
# dependencies that clash with the dev tools. It also pins pycep-parser 0.5.1, which cannot parse Bicep lambdas or
# fail(), so main.bicep would be skipped as a parsing error; 0.7.1 (the parser of the template tests) is installed
# over it. Accepted findings are `checkov:skip` comments next to the resource, each with its reason.
checkov:
	test -f .venv-checkov/.installed || { $(PYTHON) -m venv .venv-checkov \
		&& .venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check checkov==3.3.30 \
		&& .venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check --no-deps pycep-parser==0.7.1 \
		&& touch .venv-checkov/.installed; }
	.venv-checkov/bin/checkov --directory infra --framework bicep --skip-download --compact --quiet
