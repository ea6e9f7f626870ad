# halfday: two commands for a newcomer. `make demo` runs the system with simulated hardware;
# `make test` installs everything (system packages with apt, Python into .venv) and runs the whole suite.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the suite talks to for real: the broker, the browser, the NFC reader's USB library, systemd's
# unit verifier.
# iproute2: the attack tests find this machine's own network address with `ip` (a guest on the site's Wi-Fi).
APT_PACKAGES := mosquitto chromium libusb-1.0-0 systemd iproute2 faketime fonts-dejavu-core poppler-utils fiu-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The JavaScript the tests inject into pages (axe-core, for the accessibility audits), as package-lock.json pins it.
# npm ci empties node_modules/ first, so its stamp inside goes with it and a failed install is tried again.
NODE_STAMP := node_modules/.installed

# The uv that `make lock` resolves with (it is not needed by anything else).
UV_VERSION := 0.13.9

.PHONY: test demo lint types unit soak ha-core system-packages venv node-modules lock-check lock clean

test: system-packages lock-check venv lint types unit

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@# Node and npm usually come from nodesource, whose nodejs conflicts with Debian's npm package: Debian's pair is
	@# installed only on a machine that has no npm at all.
	@if ! command -v npm >/dev/null; then \
	  echo "Installing system packages: nodejs npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; \
	fi

venv: $(STAMP)

# The runtime dependencies exactly as the appliance gets them (requirements.lock, hash-checked), then the project and
# its test tools.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# requirements.lock must have been made from pyproject.toml's current dependencies. Offline and without the venv:
# it compares the digest in the lock's header with pyproject.toml, nothing is resolved.
lock-check:
	@$(PYTHON) install/lockfile.py check

# Make requirements.lock again from pyproject.toml (needs PyPI); UPGRADE=1 moves every pin to the newest release.
lock: venv
	$(BIN)/pip install -q 'uv==$(UV_VERSION)'
	$(BIN)/python install/lockfile.py update --uv $(abspath $(BIN))/uv $(if $(UPGRADE),--upgrade)

node-modules: $(NODE_STAMP)

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: venv
	$(BIN)/mypy

# Three workers on two cores: most of the suite's time is spent waiting on brokers, doors, browsers and the taps'
# pauses, not on the cores (pytest-xdist; each worker has its own broker, databases and Chromium). Measured here:
# 9 min 42 s with two workers, 6 min 58 s with three, for the same 1,085 tests.
unit: venv node-modules
	$(BIN)/pytest -n 3

# Long soak, fault and deploy runs (brokers killed, disks filled, a door restored, the installer and upgrades in a fake
# root). CI runs them after `make test`, on three workers like the suite.
soak: venv
	$(BIN)/pytest -n 3 -m soak || [ $$? -eq 5 ]

# Home Assistant core's own discovery schemas against what `halfday homeassistant` publishes. Not in CI: installing
# Home Assistant takes about seven minutes here, and the MQTT discovery rules are checked in `make test` already.
ha-core: venv
	$(BIN)/pytest -m ha_core

demo: system-packages venv
	$(BIN)/python -m halfday.demo

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache node_modules
