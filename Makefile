# boxcert: `make demo` runs the whole system on this machine; `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip -q --disable-pip-version-check

.PHONY: all venv system-deps demo lint test bench clean

all: test

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { scripts/system-deps.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	@$(PIP) install --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	@$(PIP) install -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -c 'import boxcert, acme, dns, sqlalchemy' 
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@scripts/system-deps.sh

demo: venv
	$(BIN)/boxcert demo $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: venv system-deps lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
