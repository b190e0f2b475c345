"""The planted races are found by the default portfolio within the default budget; the reference never fails.

Short versions here (two seeds; the reference over one); the ten-seed sweeps carry the slow
marker, and ``bench/bench_races.py`` measures schedules to the first failure per strategy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_races import RACES, REFERENCE, reference_plugins, to_first_failure, workload
from harness.explore.exploration import DEFAULT_SCHEDULES, explore, load, replay_saved, save, shrink, timeline
from harness.run.plugins import Plugins

CASES = [(race, scenario) for race, (_, scenarios) in RACES.items() for scenario in scenarios]
FAST = [case for case in CASES if case[1] != "race_detection"]  # shrinking a 12-worker failure takes ~20 s


@pytest.mark.parametrize("race, scenario", CASES)
def test_a_planted_race_is_found_within_the_default_budget(race: str, scenario: str) -> None:
    work = workload(scenario, RACES[race][0])
    assert all(to_first_failure(work, seed, "portfolio") <= DEFAULT_SCHEDULES for seed in range(2))


@pytest.mark.parametrize("race, scenario", FAST)
def test_its_minimal_schedule_fits_sixty_lines_and_replays_exactly(race: str, scenario: str, tmp_path: Path) -> None:
    work = workload(scenario, RACES[race][0])
    failure = explore(work, DEFAULT_SCHEDULES, 0).failure
    assert failure is not None
    shrunk = shrink(work, failure)
    minimal = shrunk.execution
    assert len(timeline(minimal.trace)) <= 60 and len(minimal.trace.workers) <= len(failure.trace.workers)
    execution, exact = replay_saved(work, load(save(minimal, shrunk.workload, tmp_path / "s.json", {})))
    assert exact and execution.trace.decisions == minimal.trace.decisions


@pytest.mark.parametrize("scenario", ["component_contention", "multi_symbol_stress"])
def test_the_reference_components_plugged_in_and_traced_do_not_fail(scenario: str) -> None:
    assert explore(workload(scenario, reference_plugins(scenario)), 40, 0).failure is None


@pytest.mark.slow
@pytest.mark.parametrize("race, scenario", CASES)
def test_a_planted_race_is_found_on_ten_seeds_of_ten(race: str, scenario: str, tmp_path: Path) -> None:
    work = workload(scenario, RACES[race][0])
    for seed in range(10):
        failure = explore(work, DEFAULT_SCHEDULES, seed).failure
        assert failure is not None, f"seed {seed}: not found in {DEFAULT_SCHEDULES} schedules"
        shrunk = shrink(work, failure, budget=60)
        assert len(timeline(shrunk.execution.trace)) <= 60
        _, exact = replay_saved(work, load(save(shrunk.execution, shrunk.workload, tmp_path / f"{seed}.json", {})))
        assert exact


@pytest.mark.slow
@pytest.mark.parametrize("scenario", REFERENCE)
@pytest.mark.parametrize("plugged", [False, True])
def test_the_reference_passes_ten_seeds_of_the_default_budget(scenario: str, plugged: bool) -> None:
    work = workload(scenario, reference_plugins(scenario) if plugged else Plugins())
    assert [s for s in range(10) if explore(work, DEFAULT_SCHEDULES, s).failure] == []
