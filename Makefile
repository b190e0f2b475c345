# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when
# missing and (re)install when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SCENARIO ?= multi_symbol_stress
ARGS ?=

.PHONY: run test fuzz bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/harness run $(SCENARIO) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto $(ARGS)

# The fuzz suite's deep profile: many more examples of every bad input (minutes, not seconds).
fuzz: $(STAMP)
	HARNESS_FUZZ=deep $(BIN)/python -m pytest tests/hardening -q -s -p no:xdist $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf reports/*/ .pytest_cache
