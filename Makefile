# The README's two commands. Both set everything up on a fresh machine and are fast the second time.
# Exact versions come from the lock files (requirements/*.txt, made by `make lock` from pyproject.toml's
# ranges), so every install gets the same packages; the project itself is installed without resolving.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# The suite runs on every core (up to 4) with pytest-xdist: the tests of one file run on one worker (so a
# module's fixtures are built once) and the built worlds are shared between workers (tests/once.py).
# `make test PYTEST_WORKERS=` runs it in one process.
PYTEST_WORKERS ?= --numprocesses auto --maxprocesses 4 --dist loadfile
RUNTIME_LOCK := requirements/runtime.txt
TEST_LOCK := requirements/test.txt
# pip-compile (pip-tools) lives in its own environment, never in the project's.
LOCK_VENV := .make/pip-tools
PIP_TOOLS := pip-tools==7.6.2
LOCK_ARGS ?=
PIP_COMPILE = $(LOCK_VENV)/bin/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links $(LOCK_ARGS)
# A fresh environment that gets only the runtime lock and the package (no extras): `make check-install`.
FRESH_VENV ?= /tmp/inseason-fresh
FRESH_OUT ?= /tmp/inseason-fresh-demo

.PHONY: demo test check install clean system-packages lock check-install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall only when the lock or the project changes (the stamp is older than either).
$(VENV)/.installed: $(RUNTIME_LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r $(RUNTIME_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The test lock holds the runtime lock's pins (it is compiled under it) plus the test and spark extras.
$(VENV)/.installed-test: $(TEST_LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r $(TEST_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed

# System packages of the browser tests (Debian): headless Chromium and its WebDriver, installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-packages:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/inseason demo

# The checkers (rule sets in pyproject.toml): the import layers of DESIGN §6, lint, format and mypy --strict.
check: $(VENV)/.installed-test
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

test: check system-packages
	$(PY) -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

$(LOCK_VENV)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet $(PIP_TOOLS)

# Regenerate the locks after changing pyproject.toml's dependencies; pins still allowed by the ranges are
# kept (`make lock LOCK_ARGS=--upgrade` takes the newest allowed). Torch is pinned without a local label
# (torch==2.13.0, not +cpu) so the lock installs anywhere; pip takes the CPU build where a wheel folder
# offers it (this machine's pip config) and the lock must never pin CUDA runtime packages (nvidia-*).
lock: $(LOCK_VENV)/bin/pip-compile
	mkdir -p requirements
	$(PIP_COMPILE) --output-file $(RUNTIME_LOCK) pyproject.toml
	sed -i 's/^torch==\([^+ ]*\)+[a-z0-9.]*/torch==\1/' $(RUNTIME_LOCK)
	$(PIP_COMPILE) --extra test --extra spark --constraint $(RUNTIME_LOCK) --output-file $(TEST_LOCK) pyproject.toml
	sed -i 's/^torch==\([^+ ]*\)+[a-z0-9.]*/torch==\1/' $(TEST_LOCK)
	@! grep -n '^nvidia-' $(RUNTIME_LOCK) $(TEST_LOCK) || { echo "error: a lock pins CUDA packages (nvidia-*)" >&2; exit 1; }

# What a user without extras gets: a new environment from the runtime lock and the built package only,
# then the tiny demo. A runtime import that is not declared fails here.
check-install:
	rm -rf $(FRESH_VENV) $(FRESH_OUT)
	$(PYTHON) -m venv $(FRESH_VENV)
	$(FRESH_VENV)/bin/python -m pip install --quiet -r $(RUNTIME_LOCK)
	$(FRESH_VENV)/bin/python -m pip install --quiet --no-deps .
	$(FRESH_VENV)/bin/inseason --help >/dev/null
	cd /tmp && $(FRESH_VENV)/bin/inseason demo --size tiny --out $(FRESH_OUT)

clean:
	rm -rf $(VENV) demo-out .pytest_cache .make
