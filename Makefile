# treasury-manager: the two commands a new machine needs are `make paper` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.PHONY: lock install lint test unit integration paper bench clean node

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Refresh constraints.txt from the newest releases pyproject.toml allows.
lock:
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install --quiet -e ".[dev]"
	{ echo "# Exact versions make install uses (pip -c). Regenerate after changing dependencies:"; \
	  echo "#   make lock"; \
	  $(VENV)-lock/bin/pip freeze --exclude-editable | grep -v '^treasury-manager'; } > constraints.txt
	rm -rf $(VENV)-lock

# Test tools from npm, at the exact versions package-lock.json records: anvil (the JSON-RPC dev
# node in @foundry-rs/anvil), the Safe v1.4.1 build artifacts (@safe-global/safe-contracts) and
# the Zodiac Roles Modifier v2 factories (zodiac-roles-sdk) the vendored artifacts are checked
# against. Installed again whenever package.json or the lock changes.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

node: $(NODE_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/xenon --max-absolute C src/domain src/application

# Two workers (CI has two cores); files are the unit of distribution, slow files first (in the
# order tests/conftest.py sorts them: xdist would otherwise start the files with most tests first).
PYTEST_WORKERS ?= 2

test: lint node
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 --cov --cov-report=term --cov-report=xml:var/coverage.xml -p no:cacheprovider
	$(BIN)/coverage report --include='src/domain/*' --fail-under=95 --skip-covered

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP) node
	$(BIN)/pytest tests/integration -q

paper: $(STAMP)
	$(BIN)/treasury paper --host 127.0.0.1 --port 8600

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache var/coverage.xml
