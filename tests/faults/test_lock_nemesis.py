"""Declaring the lock-path nemesis: config table, CLI flags, and scenarios that refuse what they cannot inject."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness.testing as hb
from harness.errors import ConfigError
from harness.faults.lock_nemesis import NemesisConfig, nemesis_config
from harness.run.config import harness_config
from harness.run.scenario import execute, load, nemesis_flags


def test_a_comma_list_or_a_list_declares_faults() -> None:
    assert nemesis_config({"faults": "pause, delay"}).faults == ("pause", "delay")
    config = harness_config({"nemesis": {"faults": ["pause"], "rounds": 5, "interval": 0.5, "seed": 9}})
    assert config.nemesis == NemesisConfig(("pause",), rounds=5, interval=0.5, seed=9)


@pytest.mark.parametrize(("raw", "message"), [
    ({"faults": "pause,paws"}, "nemesis.faults: unknown fault 'paws'"),
    ({"rounds": 0}, "nemesis.rounds: must be at least 1"),
    ({"interval": -1.0}, "nemesis.interval: must be a non-negative"),
    ({"targets": 2}, "nemesis.targets: unknown setting"),
])
def test_bad_nemesis_settings_are_one_line(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        harness_config({"nemesis": raw})


def test_reproduce_command_repeats_the_nemesis() -> None:
    assert nemesis_flags(NemesisConfig()) == []
    assert nemesis_flags(NemesisConfig(("pause",), rounds=2, seed=4)) == [
        "--nemesis", "pause", "--nemesis-seed", "4", "--nemesis-rounds", "2"]


def test_a_scenario_without_a_lock_nemesis_refuses_one(tmp_path: Path) -> None:
    """Asked for faults it cannot inject, a scenario refuses instead of passing without them."""
    scenario = load("multi_symbol_stress")
    config = harness_config({"nemesis": {"faults": "pause"}}, scenario.configure(hb.small_config()))
    with pytest.raises(ConfigError, match="scenario multi_symbol_stress cannot inject pause"):
        execute(scenario, config, tmp_path / "out")


@pytest.mark.parametrize(("argv", "message"), [
    (["multi_symbol_stress", "--nemesis", "pause"], "cannot inject pause"),
    (["lock_faults", "--nemesis", "pause,partition"], "scenario lock_faults cannot inject partition"),
    (["lock_faults", "--nemesis", "naps"], "unknown fault 'naps'"),
    (["lock_faults", "--mode", "single"], "--mode single has no second worker"),
])
def test_cli_refuses_with_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              argv: list[str], message: str) -> None:
    code, out, err = hb.cli(capsys, "run", *argv, "--out", tmp_path / "run")
    assert code == 2, out + err
    assert message in err and "Traceback" not in err
