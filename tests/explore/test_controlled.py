"""Known-broken components are caught within the default budget, shrunk and replayed; the reference is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.explore.exploration import DEFAULT_SCHEDULES, Workload, explore, load, replay_saved, save, shrink
from harness.explore.planted import check_then_act, racy_aggregator
from harness.run.config import load_config
from harness.run.plugins import Plugins
from harness.run.scenario import load as load_scenario
from harness.run.workloads import workload_of

BROKEN = {
    "check-then-act, no gap": (Plugins(guardian=check_then_act(0)), "guardian"),
    "check-then-act, 0.3 ms gap": (Plugins(guardian=check_then_act(0.0003)), "guardian"),
    "check-then-act, plain threading.Lock": (Plugins(guardian=check_then_act(0, plain_lock=True)), "guardian"),
    "unlocked read-modify-write": (Plugins(aggregator=racy_aggregator), "aggregator"),
}


def component(plugins: Plugins) -> Workload:
    scenario = load_scenario("component_contention")
    return workload_of(scenario, scenario.configure(load_config(None)), plugins)


def caught_shrunk_replayed(workload: Workload, seed: int, violation: str, tmp: Path, strategy: str = "pct") -> None:
    exploration = explore(workload, DEFAULT_SCHEDULES, seed, strategy)
    assert exploration.failure is not None, f"seed {seed}: not caught in {DEFAULT_SCHEDULES} schedules"
    assert exploration.failure.violation == violation
    minimal = shrink(workload, exploration.failure).execution
    assert minimal.violation == violation
    assert minimal.trace.preemptions <= exploration.failure.trace.preemptions
    assert len(minimal.trace.steps) <= len(exploration.failure.trace.steps)
    execution, exact = replay_saved(workload, load(save(minimal, workload, tmp / f"s{seed}.json", {})))
    assert exact and execution.violation == violation and execution.trace.decisions == minimal.trace.decisions


@pytest.mark.parametrize("name", BROKEN)
def test_broken_component_is_caught_shrunk_and_replayed(name: str, tmp_path: Path) -> None:
    plugins, violation = BROKEN[name]
    for seed in range(3):
        caught_shrunk_replayed(component(plugins), seed, violation, tmp_path)


def test_reference_components_pass_the_budget() -> None:
    exploration = explore(component(Plugins()), DEFAULT_SCHEDULES, 0)
    assert exploration.failure is None and exploration.schedules == DEFAULT_SCHEDULES + 1
    assert exploration.distinct > DEFAULT_SCHEDULES // 2  # the schedules are not one interleaving repeated


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["pct", "random"])
@pytest.mark.parametrize("name", BROKEN)
def test_broken_component_caught_in_20_seeds_of_20(name: str, strategy: str, tmp_path: Path) -> None:
    plugins, violation = BROKEN[name]
    for seed in range(20):
        caught_shrunk_replayed(component(plugins), seed, violation, tmp_path, strategy)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["pct", "random"])
def test_reference_components_pass_20_seeds(strategy: str) -> None:
    failures = [s for s in range(20) if explore(component(Plugins()), DEFAULT_SCHEDULES, s, strategy).failure]
    assert failures == []


def test_minimal_schedule_is_smaller_than_the_failure() -> None:
    workload = component(Plugins(aggregator=racy_aggregator))
    failure = explore(workload, DEFAULT_SCHEDULES, 5).failure
    assert failure is not None
    shrunk = shrink(workload, failure)
    minimal = shrunk.execution
    assert shrunk.attempts > 0 and minimal.trace.preemptions == 1  # one switch inside the read-modify-write suffices
    assert minimal.trades < failure.trades


def test_a_corrupt_schedule_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "schedule.json"
    for text in ("{", json.dumps({"format": "other"}), json.dumps({"format": "harness.schedule/1"})):
        bad.write_text(text)
        with pytest.raises(ConfigError, match="not a schedule file"):
            load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.json")
