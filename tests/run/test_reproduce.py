"""The printed reproduce command carries every override, so rerunning it gives the same verdict."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from harness.run.config import harness_config
from harness.run.overrides import nest, override_flags
from tests import _history_builders as hb

pytestmark = pytest.mark.usefixtures("in_empty_dir")

HARNESS = str(Path(sys.executable).with_name("harness"))
IMPOSSIBLE = "min_throughput_trades_per_s=1e12"  # a gate no run can meet: the override alone fails it


def _reproduce_argv(output: str) -> list[str]:
    line = re.search(r"reproduce: (harness run .*)", output)
    assert line, output
    words = shlex.split(line.group(1))
    assert words[:2] == ["harness", "run"]
    return words[1:]


def test_cli_reproduce_command_carries_gate_and_setting_overrides(capsys, tmp_path):
    code, out, _ = hb.cli(capsys, "run", "multi_symbol_stress", "--trades", "3", "--seed", "4", "--out",
                          tmp_path / "first", "--gate", IMPOSSIBLE, "--set", 'limits.max_gross_exposure="0.55"')
    assert code == 1, out
    argv = _reproduce_argv(out)
    assert "--gate" in argv and "--set" in argv
    again, rerun, _ = hb.cli(capsys, *argv, "--out", tmp_path / "again")
    assert again == 1 and "[UnifiedGate] MULTI_SYMBOL_STRESS FAIL" in rerun
    without = [w for i, w in enumerate(argv) if "--gate" not in (w, argv[i - 1])]
    assert hb.cli(capsys, *without, "--out", tmp_path / "plain")[0] == 0, "the gate override is what fails it"


def test_set_layers_nested_settings_over_the_base_instead_of_resetting_the_table():
    base = harness_config({"run": {"limits": {"equity": "1000"}}})
    layered = harness_config({"run": nest({"limits.max_gross_exposure": "0.5"})}, base)
    assert str(layered.run.limits.equity) == "1000" and str(layered.run.limits.max_gross_exposure) == "0.5"


@pytest.mark.parametrize("value", [True, 3, 0.25, "replace", ["A", "B"]])
def test_override_flags_read_back_as_the_same_value(value):
    from harness.settings import assignments

    flags = override_flags({"run": {"knob": value}, "gates": {"g": value}})
    assert flags[0] == "--set" and flags[2] == "--gate"
    read = assignments([flags[1], flags[3]])
    assert read == {"knob": list(value) if isinstance(value, list) else value,
                    "g": list(value) if isinstance(value, list) else value}


def test_version_flag_prints_the_installed_version(capsys):
    code, out, err = hb.cli(capsys, "--version")
    assert code == 0 and out.strip() == f"harness {version('trading-harness')}" and not err


def test_no_command_is_one_error_line(capsys):
    code, out, err = hb.cli(capsys)
    assert code == 2 and err.count("\n") == 1 and "command" in err


USER_TEST = '''
import pytest
from harness.run.scenario import load

@pytest.mark.slow
def test_stress(harness_scenario):
    assert harness_scenario(load("multi_symbol_stress"), trades=3, seed=9).passed
'''


def test_pytest_reproduce_command_reruns_with_the_items_overrides(pytester):
    """An outside project: markers registered by the plugin, overrides carried into the command."""
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider",
                                           "--harness-gate", IMPOSSIBLE, "--harness-report-dir", "runs")
    result.assert_outcomes(failed=1)
    argv = _reproduce_argv(result.stdout.str())
    assert "--gate min_throughput_trades_per_s=" in shlex.join(argv)
    # Rerun as a person would, in a shell: a fresh process with the printed words.
    rerun = subprocess.run([HARNESS, *argv, "--out", str(pytester.path / "rerun")], cwd=pytester.path,
                           capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 1 and "MULTI_SYMBOL_STRESS FAIL" in rerun.stdout, rerun.stderr
    passing = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider", "--harness-report-dir", "r2")
    passing.assert_outcomes(passed=1)


USER_PLUGIN_TEST = '''
import pytest
from harness.run.scenario import load


@pytest.mark.parametrize("seed", [5, 6])
def test_lossy(harness_scenario, seed):
    verdict = harness_scenario(load("multi_symbol_stress"), trades=3, seed=seed, mode="single",
                               aggregator="harness.examples.lossy_aggregator:factory")
    assert verdict.passed
'''


def test_pytest_reproduce_command_carries_the_plugins_and_names_each_parameter(pytester):
    pytester.makepyfile(test_user=USER_PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--harness-report-dir", "runs")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert re.search(r"\[UnifiedGate\] MULTI_SYMBOL_STRESS\[5\] FAIL", out), out
    assert re.search(r"\[UnifiedGate\] MULTI_SYMBOL_STRESS\[6\] FAIL", out), out
    argv = _reproduce_argv(out)
    assert "--aggregator harness.examples.lossy_aggregator:factory" in shlex.join(argv)
    rerun = subprocess.run([HARNESS, *argv, "--out", str(pytester.path / "rerun")], cwd=pytester.path,
                           capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 1 and "MULTI_SYMBOL_STRESS FAIL" in rerun.stdout, rerun.stderr


def test_harness_scenario_takes_the_controlled_run_flags(harness_scenario, tmp_path):
    from harness.run.scenario import load

    verdict = harness_scenario(load("component_contention"), schedules=3, trades=2, out=tmp_path / "run")
    assert [g.area for g in verdict.gates] == ["Controlled Schedules"]
    assert verdict.gates[0].lines[0].text.startswith("Explored ")
    assert "--schedules 3" in verdict.command
    assert (tmp_path / "run" / "VERIFY_LOG.txt").is_file()


def test_harness_scenario_refuses_a_controlled_flag_without_schedules(harness_scenario, tmp_path):
    from harness.errors import ConfigError
    from harness.run.scenario import load

    with pytest.raises(ConfigError, match="add --schedules N"):
        harness_scenario(load("component_contention"), strategy="random", out=tmp_path / "run")


def test_harness_scenario_takes_the_nemesis_flags_as_the_cli_does(harness_scenario, tmp_path):
    from harness.errors import ConfigError
    from harness.run.scenario import load

    # The same refusal `harness run multi_symbol_stress --nemesis pause` gives, not "unknown setting".
    with pytest.raises(ConfigError, match="--nemesis: scenario multi_symbol_stress cannot inject pause"):
        harness_scenario(load("multi_symbol_stress"), nemesis="pause", nemesis_rounds=2, out=tmp_path / "run")


def test_every_harness_run_flag_has_a_harness_scenario_keyword():
    """A flag added to `harness run` without a way to give it from pytest fails here."""
    import argparse
    import dataclasses

    from harness.cli.run import add_arguments
    from harness.pytest.plugin import CONTROLLED, NEMESIS
    from harness.system.ports import PORTS
    from harness.system.settings import RunConfig

    run_parser = argparse.ArgumentParser()
    add_arguments(run_parser)
    dests = {a.dest for a in run_parser._actions if a.dest != "help"}
    keywords = {*PORTS, *CONTROLLED, *NEMESIS, "out", "gates", *(f.name for f in dataclasses.fields(RunConfig))}
    # The scenario is the first argument, --config is --harness-config, --set KEY is any keyword,
    # a live API is not something a test item serves, and live judging reports on a console
    # while the run goes (a test item's verdict is the judged run, at its end).
    elsewhere = {"name", "config", "settings", "serve", "token", "judge_live", "stop_on_fail"}
    assert dests - keywords - elsewhere == set()


USER_SCENARIO_TEST = '''
from harness.run.scenario import Scenario, Trial

SCENARIO = Scenario("their_check", "Theirs", "theirs", run=lambda ctx: Trial(ctx.run_engine().events()))


def test_theirs(harness_scenario):
    assert harness_scenario(SCENARIO, trades=3, gates={"min_throughput_trades_per_s": 1e12}).passed
'''


def test_a_scenario_only_a_test_module_defines_is_reproduced_by_its_file(pytester):
    pytester.makepyfile(test_theirs=USER_SCENARIO_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--harness-report-dir", "runs")
    result.assert_outcomes(failed=1)
    argv = _reproduce_argv(result.stdout.str())
    assert argv[:2] == ["run", "test_theirs.py"], argv
    rerun = subprocess.run([HARNESS, *argv, "--out", str(pytester.path / "rerun")], cwd=pytester.path,
                           capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 1 and "THEIR_CHECK FAIL" in rerun.stdout, rerun.stderr
