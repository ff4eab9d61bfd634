# The two commands: `make run` (install what running needs, then start everything) and
# `make test` (install that plus the test tools, then ruff, import-linter and the test suite).
#
# Both install exact versions, checked by hash, from the lock files in requirements/, never
# from the ranges in pyproject.toml, so a new release upstream cannot change what main runs:
#   requirements/run.txt   [project.dependencies], resolved (setuptools included: it builds
#                          the editable install below, without fetching anything)
#   requirements/test.txt  the same runtime pins + [project.optional-dependencies] test
# Both are written by pip-tools (`pip-compile --generate-hashes`) for Python 3.11 on Linux:
#   make lock                                  after editing the dependencies in pyproject.toml:
#                                              adds/drops what changed, keeps every other pin
#   make lock-upgrade                          every pin to the newest release pyproject allows
#   make lock LOCK_ARGS='--upgrade-package rq' one package (and what it needs) only
# then run `make test` and commit pyproject.toml with requirements/*.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
RUN_LOCK := requirements/run.txt
TEST_LOCK := requirements/test.txt

# The venv keeps the pip it was created with (ensurepip's, fixed by the Python install): an
# unpinned `pip install --upgrade pip` would be the one download left outside the lock.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; sys.version_info[:2] == (3, 11) or print("warning: requirements/*.txt are locked for Python 3.11, this venv has", sys.version.split()[0], file=sys.stderr)'

# install LOCKFILE: the locked set (hash-checked; upgrades/downgrades what differs), then the
# project itself, editable and without dependencies (pip allows no editable line in a
# --require-hashes file). --no-build-isolation builds it with the locked setuptools already in
# the venv instead of whatever setuptools is newest on the index that day. `pip check` fails
# if pyproject.toml asks for a runtime package the lock lacks (run `make lock`).
define install_from
	$(PIP) install --quiet --require-hashes -r $(1)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check || { echo "the venv does not satisfy pyproject.toml: is $(1) stale? run 'make lock'" >&2; exit 1; }
endef

# Stamps live in the venv (gone with it) and are redone when a lock file or pyproject.toml
# changes. A run-only venv becomes a test venv by installing test.txt over it (`make run`
# then `make test` works); the test venv already holds everything `make run` needs.
$(VENV)/.installed-run: $(RUN_LOCK) pyproject.toml | $(BIN)/python
	$(call install_from,$(RUN_LOCK))
	touch $@

# The browser tests inject axe-core (accessibility checks) from tests/browser/node_modules,
# installed exactly as package-lock.json says; without npm those checks are skipped.
$(VENV)/.installed-test: $(TEST_LOCK) $(RUN_LOCK) pyproject.toml tests/browser/package-lock.json | $(BIN)/python
	$(call install_from,$(TEST_LOCK))
	if command -v npm >/dev/null; then npm ci --prefix tests/browser --no-audit --no-fund --silent; \
	else echo "npm not found: the accessibility checks will be skipped" >&2; fi
	touch $@

.PHONY: install install-test run test lint bench lock lock-upgrade
install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/ledgerbot up

test: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

# bench needs only the runtime set (it borrows tests/support/twilio_server.py, which imports
# no test tool).
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# pip-tools in a venv of its own (.venv-lock, git-ignored), so locking never touches .venv.
# pip-compile resolves for the Python running it: the lock is for 3.11, so it must be 3.11.
LOCK_VENV ?= .venv-lock
PIP_TOOLS_VERSION := 7.6.2
PIP_COMPILE = CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_VENV)/bin/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --build-deps-for=editable \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

$(LOCK_VENV)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip --disable-pip-version-check install --quiet 'pip-tools==$(PIP_TOOLS_VERSION)'

lock: $(LOCK_VENV)/bin/pip-compile
	@$(LOCK_VENV)/bin/python -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "make lock: needs Python 3.11 (PYTHON=python3.11), got " + sys.version.split()[0])'
	$(PIP_COMPILE) --output-file $(RUN_LOCK) pyproject.toml
	$(PIP_COMPILE) --extra test --constraint $(RUN_LOCK) --output-file $(TEST_LOCK) pyproject.toml

lock-upgrade:
	$(MAKE) lock LOCK_ARGS='--upgrade $(LOCK_ARGS)'
