# voker-integrations: every target installs what it needs into .venv first.
#   make test   the whole test suite (creates .venv from scratch when missing)
#   make lint   ruff (check + format) on everything, mypy --strict on voker_core, mypy on plug-ins
#   make demo   the end-to-end walkthrough against a local Voker devserver
#   make bench  benchmarks against the unwrapped clients and the official SDK
#   make test-lowest  each extra's tests at the lowest version pyproject.toml declares
#   make lock   refresh requirements-dev.lock after changing pyproject.toml
#   make lock-upgrade  the same, every pin moved to the newest release

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed

.PHONY: install test test-lowest lint format demo devserver bench lock lock-upgrade system-deps clean

$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --python $(PY) --quiet -r requirements-dev.lock
	$(UV) pip install --python $(PY) --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: redis-server (Celery broker), chromium (dashboard browser test).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test: install system-deps
	$(PY) -m pytest

test-lowest: install system-deps
	EXTRAS="$(EXTRAS)" bash .ci/test-lowest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy voker_core
	$(VENV)/bin/mypy voker_django voker_flask voker_langchain

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: install system-deps
	$(PY) -m examples.demo

devserver: install
	$(PY) -m voker_core.devserver --db .voker/demo.sqlite3

bench: install
	$(PY) -m benchmarks

lock:
	$(UV) pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 -o requirements-dev.lock

lock-upgrade: install
	$(UV) pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 --upgrade -o requirements-dev.lock

clean:
	rm -rf $(VENV) .venv-lowest .voker .mypy_cache .ruff_cache .hypothesis
