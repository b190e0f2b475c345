# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when
# missing and (re)install when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SCENARIO ?= multi_symbol_stress
ARGS ?=

.PHONY: run test test-slow lint bench fuzz sweep races lock-faults-sweep soak clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The distribution was renamed harness -> trading-harness; drop an old install of the same code.
	@$(BIN)/python -m pip uninstall --quiet --yes harness 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/harness run $(SCENARIO) $(ARGS)

# CI's suite: everything but the long sweeps marked slow (ten-seed race hunts, a soak, the 1 M
# lock-event history), which `make test-slow` runs as well.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto -m "not slow" $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n auto $(ARGS)

# Types, lint and the layering contracts, as CI runs them (pyproject.toml, .importlinter).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Deep fuzzing: the hypothesis "fuzz" profile (thousands of examples) over the fuzz tests --
# the history schema and events, then the CLI, config files and checkpoint damage.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/history/test_validate.py tests/history/test_events.py -k "fuzz or agree" $(ARGS)
	HARNESS_FUZZ=deep $(BIN)/python -m pytest -q -s -m fuzz tests/locks $(ARGS)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -s -p no:xdist tests/hardening $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

# The false-alarm sweep: 50 clean multi_symbol_stress seeds (thread/process) + 10 each of three more.
sweep: $(STAMP)
	$(BIN)/python -m bench.sweep $(ARGS)

# The planted races (#24): schedules to the first failure per strategy over 10 seeds, and the
# reference over the same budget (about 15 minutes; the slow tests in tests/explore/test_planted.py).
races: $(STAMP)
	$(BIN)/python -m bench --only races $(ARGS)

# Lock-path faults on 20 seeds: every fault must bite, its stale write be rejected, every gate PASS.
lock-faults-sweep: $(STAMP)
	$(BIN)/harness sweep 'lock_faults seeds=1-20 modes=thread -- --nemesis pause,broker-restart' \
		'lock_faults seeds=1-20 modes=process -- --nemesis pause' $(ARGS)

# A long run judged while it goes (issue #21): one hour by default, `make soak DURATION=300` for less.
# The history streams to reports/<run>/events.jsonl; a violation is printed when it happens.
DURATION ?= 3600
soak: $(STAMP)
	$(BIN)/harness run $(SCENARIO) --duration $(DURATION) --judge-live $(ARGS)

clean:
	rm -rf reports/*/ .pytest_cache
