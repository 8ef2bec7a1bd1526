# slipway: the two commands that matter are `make demo` and `make test` (see README).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv lint unit sandbox sandbox-down demo test bench toolchain

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

unit: venv
	$(PY) -m pytest tests/unit -q

-include toolchain/toolchain.mk
-include delivery.mk

# Docker engine (no bridge), registry, Postgres, sshd, the GitHub test double, the proxy's stand-in
# image (Debian's nginx), the app's base image.
sandbox: venv
	SLIPWAY_PYTHON=$(abspath $(PY)) bash sandbox/up.sh
	bash sandbox/base-image/build.sh

sandbox-down:
	bash sandbox/down.sh

# The main job on the built-in local environment: `pulumi up --stack local` against the sandbox.
demo: venv toolchain sandbox
	bash scripts/demo.sh

# Everything: lint, unit tests, then toolchain, sandbox and end-to-end tests against real parts.
test: lint toolchain sandbox
	$(PY) -m pytest -q

bench: venv toolchain sandbox
	$(PY) -m bench
