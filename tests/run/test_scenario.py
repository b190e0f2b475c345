"""Scenario loading, the reproduce command, and seed reproducibility across runs and modes."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import harness.scenarios
from harness.cli.main import build_parser
from harness.cli.run import _overrides
from harness.errors import ConfigError
from harness.run import scenario as sc
from harness.run.config import HarnessConfig, harness_config
from tests import _history_builders as hb

SCENARIO_DIR = Path(harness.scenarios.__file__).parent  # every packaged scenario must be registered


def test_available_lists_every_scenario_file():
    files = sorted(p.stem for p in SCENARIO_DIR.glob("*.py") if not p.name.startswith("_"))
    assert sorted(sc.available()) == files
    assert "multi_symbol_stress" in files
    for name, target in sc.available().items():
        assert target == f"harness.scenarios.{name}:SCENARIO"
        assert sc.load(name).name == name


def test_load_unknown_scenario_raises_config_error():
    with pytest.raises(ConfigError, match=r"unknown scenario 'nope' \(available: .*multi_symbol_stress"):
        sc.load("nope")


@pytest.mark.parametrize(
    "run",
    [
        {"seed": 42, "trades": 7, "symbols": "ETHUSD.s,XAUUSD.s", "mode": "process"},
        {"seed": 0, "duration": 1.5, "mode": "single"},
        {"seed": 9, "trades": 3},
    ],
)
def test_reproduce_command_round_trips_through_the_cli_parser(run):
    config = harness_config({"run": run})
    command = sc.reproduce_command("multi_symbol_stress", config)
    words = shlex.split(command)
    assert words[:2] == ["harness", "run"]
    args = build_parser().parse_args(words[1:])
    assert args.name == "multi_symbol_stress"
    again = harness_config(_overrides(args), HarnessConfig()).run
    assert again == config.run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    dirs = {}
    for label, mode in (("thread-1", None), ("thread-2", None), ("process-1", "process"), ("process-2", "process")):
        dirs[label] = root / label
        verdict = hb.run_scenario(dirs[label], trades=5, seed=2024, mode=mode)
        assert verdict.passed, (label, [hb.failing(g) for g in verdict.gates])
    return dirs


def test_same_seed_same_per_symbol_figures(runs):
    first = hb.per_symbol(runs["thread-1"])
    assert len(first) == 3 and all(trades == 5 for trades, _, _ in first.values())
    assert hb.per_symbol(runs["thread-2"]) == first


def test_process_mode_reproduces_the_same_figures(runs):
    assert hb.evidence_json(runs["process-1"])["mode"] == "process"
    assert hb.per_symbol(runs["process-1"]) == hb.per_symbol(runs["process-2"]) == hb.per_symbol(runs["thread-1"])


def test_a_different_seed_gives_different_figures(runs, tmp_path):
    hb.run_scenario(tmp_path / "other", trades=5, seed=2025)
    assert hb.per_symbol(tmp_path / "other") != hb.per_symbol(runs["thread-1"])
