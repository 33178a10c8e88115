# The README's two commands. Both set everything up on a fresh machine and are fast the second time.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test install clean system-packages

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall only when the pinned dependencies change (the stamp is older than pyproject.toml).
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
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

test: $(VENV)/.installed-test system-packages
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) demo-out .pytest_cache
