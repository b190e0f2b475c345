"""Sweeps: the spec grammar, cases and schedule chunks, and running one case as a child process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.explore.exploration import explore
from harness.pytest.schedules import component_workload
from harness.run.sweep import Case, ScheduleChunk, Spec, chunks, expand, markdown, parse_spec, run_case, summary


def test_spec_names_scenarios_seeds_modes_schedules_and_run_flags():
    spec = parse_spec("race_detection,pnl_consistency seeds=0-2,7 modes=thread,process schedules=120 chunk=50 "
                      "-- --trades 3 --locks my.locks:factory")
    assert spec == Spec(("race_detection", "pnl_consistency"), (0, 1, 2, 7), ("thread", "process"), 120, 50,
                        ("--trades", "3", "--locks", "my.locks:factory"))


@pytest.mark.parametrize("text, word", [
    ("", "at least one scenario"),
    ("race_detection seeds=3-1", "empty or negative"),
    ("race_detection seeds=a", "not a list of seeds"),
    ("race_detection modes=threads", "each mode is one of"),
    ("race_detection schedules=-1", "schedules='-1' must be an integer >= 0"),
    ("race_detection chunk=0", "chunk='0' must be an integer >= 1"),
    ("race_detection --trades 3", "run flags go after --"),
    ("'race detection'", "is not a scenario name"),
])
def test_a_bad_spec_is_one_line_naming_the_word(text, word):
    with pytest.raises(ConfigError, match=word):
        parse_spec(text)


def test_cases_are_the_product_in_a_stable_order_with_unique_ids():
    cases = list(expand(parse_spec("a,b seeds=0-1 modes=thread,process schedules=5 chunk=2")))
    assert len(cases) == 2 * 2 * 2 * 3
    assert len({c.id for c in cases}) == len(cases)
    assert cases[0].id == "a-seed0-thread-s0-1" and cases[-1].id == "b-seed1-process-s4-4"
    assert cases[-1].argv(Path("/r")) == ["run", "b", "--seed", "1", "--out", "/r", "--mode", "process",
                                          "--schedules", "1", "--first-schedule", "4"]


@given(st.integers(1, 5000), st.integers(1, 700))
def test_chunks_cover_every_schedule_index_once(schedules, size):
    parts = chunks(schedules, size)
    indices = [i for c in parts for i in range(c.first, c.first + c.count)]
    assert indices == list(range(schedules))
    assert all(1 <= c.count <= size for c in parts)


def _counter_setup():
    import threading

    class Counter:
        def __init__(self) -> None:
            self.value, self.lock = 0, threading.Lock()

        def add(self) -> None:
            for _ in range(3):
                with self.lock:
                    self.value += 1

    counter = Counter()
    return [counter.add, counter.add], lambda: counter.value == 6


def test_2000_schedules_in_4_chunks_are_the_schedules_one_worker_runs():
    workload = component_workload(_counter_setup)
    whole = explore(workload, 2000, seed=11, strategy="random")
    parts = [explore(workload, c.count, seed=11, strategy="random", first=c.first) for c in chunks(2000, 500)]
    assert whole.failure is None and len(whole.digests) == 2000
    assert [d for p in parts for d in p.digests] == list(whole.digests)
    assert len(set(whole.digests)) > 1  # the schedules differ: equality above is not a constant's


def test_a_case_that_cannot_run_is_an_error_row_with_its_reason_and_reproduce_command(tmp_path):
    case = Case("race_detection", 3, None, None, ("--trades", "many"))
    row = run_case(case, tmp_path, "here")
    assert (row.status, row.exit_code) == ("ERROR", 2)
    assert "--trades" in row.detail and row.reproduce.startswith("harness run race_detection --seed 3")


def test_the_merged_report_orders_rows_and_lists_how_to_rerun_failures(tmp_path):
    rows = [run_case(Case("race_detection", s, None, ScheduleChunk(0, 1), ("--depth", "0")), tmp_path, "h")
            for s in (2, 1)]
    document = summary(rows)
    assert [r["case"] for r in document["rows"]] == ["race_detection-seed1-s0-0", "race_detection-seed2-s0-0"]
    assert document["counts"] == {"ERROR": 2}
    text = markdown(document)
    assert text.split("## Reproduce")[1].count("`harness run race_detection --seed") == 2
    json.dumps(document)


def test_harness_sweep_refuses_a_bad_spec_in_one_line(capsys):
    from harness.cli.main import main

    assert main(["sweep", "race_detection modes=sideways"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "modes='sideways'" in err[0]


def test_pytest_refuses_a_bad_sweep_spec_before_any_worker_starts(pytester):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--harness-sweep", "race_detection seeds=9-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--harness-sweep: sweep 'race_detection seeds=9-1': seeds range '9-1'*"])


def test_a_sweep_session_collects_only_the_sweep_and_names_each_case(pytester):
    pytester.makepyfile(test_project="def test_of_the_project(): raise AssertionError('must not run')")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q",
                                           "--harness-sweep", "race_detection,symbol_isolation seeds=1-2")
    result.stdout.fnmatch_lines(["harness-sweep::race_detection-seed1", "*race_detection-seed2", "*symbol_isolation-seed1",
                                 "*symbol_isolation-seed2", "4 tests collected*"])
    assert "test_of_the_project" not in result.stdout.str()
