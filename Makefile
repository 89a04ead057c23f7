# boxcert: `make demo` runs the whole system on this machine; `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip -q --disable-pip-version-check

.PHONY: all venv system-deps demo lint test fuzz clean
.NOTPARALLEL:

all: test

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { scripts/system-deps.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	@$(PIP) install --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(PIP) install -e '.[dev]' > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -c 'import boxcert, acme, dns, sqlalchemy, psycopg, pytest, mypy, playwright, trustme'
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@scripts/system-deps.sh

demo: venv
	$(BIN)/boxcert demo $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check --quiet src tests bench
	$(BIN)/mypy

# Byte-compiled here: where PYTHONDONTWRITEBYTECODE is set Python never writes these itself,
# and each of the hundreds of processes the tests start would compile the package again.
test: venv system-deps lint
	@$(BIN)/python -m compileall -q src
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The long budgets of the fuzz and fault suite; figures go to .fuzz-report.jsonl.
fuzz: venv system-deps
	@rm -f .fuzz-report.jsonl
	BOXCERT_FUZZ=long BOXCERT_FUZZ_REPORT=$(CURDIR)/.fuzz-report.jsonl $(BIN)/pytest -q -m fuzz $(PYTEST_ARGS)
	@cat .fuzz-report.jsonl

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
