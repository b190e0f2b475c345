"""``harness run --schedules / --replay-schedule``: exit codes, schedule.json, the replay command, bad input."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from harness.cli.main import main

RACY = ["--aggregator", "harness.explore.planted:racy_aggregator"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_failure_is_saved_shrunk_and_the_printed_command_replays_it(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, text, _ = _run(capsys, "run", "component_contention", "--schedules", "200", *RACY, "--out", str(out))
    assert code == 1
    saved = json.loads((out / "schedule.json").read_text())
    assert saved["violation"] == "aggregator" and saved["preemptions"] == 1
    log = (out / "VERIFY_LOG.txt").read_text()
    assert "[PHYSICAL_EVIDENCE] Controlled Schedules" in log and "Minimal failing schedule: 1 preemptions" in log
    assert "found by " in log and "preemption points per execution" in log
    assert "<- switched to" in log  # the minimal schedule's timeline, under the gate's lines
    assert "<- switched to" in (out / "PHYSICAL_EVIDENCE.md").read_text()  # the per-worker timeline
    assert "<- switched to" in (out / "schedule_timeline.txt").read_text()
    command = next(line for line in text.splitlines() if line.startswith("replay: "))[len("replay: "):]
    argv = shlex.split(command)[1:] + ["--out", str(tmp_path / "replayed")]
    code, text, _ = _run(capsys, *argv)
    assert code == 1 and "the same decisions and violation" in text and "Violation: aggregator" in text


def test_reference_components_pass_and_exit_zero(tmp_path: Path, capsys) -> None:
    code, text, _ = _run(capsys, "run", "component_contention", "--schedules", "50", "--out", str(tmp_path / "r"))
    assert code == 0 and "No schedule violated" in text and not (tmp_path / "r" / "schedule.json").exists()


def test_replaying_against_fixed_components_says_it_did_not_reproduce(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    _run(capsys, "run", "component_contention", "--schedules", "200", *RACY, "--out", str(out))
    code, text, _ = _run(capsys, "run", "component_contention", "--replay-schedule", str(out / "schedule.json"),
                         "--out", str(tmp_path / "fixed"))
    assert code == 1 and "NOT the same" in text and "Violation: none" in text


@pytest.mark.parametrize("argv, message", [
    (["--schedules", "5", "--depth", "0"], "--depth: must be at least 1"),
    (["--schedules", "5", "--strategy", "dfs"], "invalid choice"),
    (["--schedules", "5", "--replay-schedule", "x.json"], "not allowed with"),
    (["--replay-schedule", "missing.json"], "cannot read the schedule"),
    (["--schedules", "5", "--mode", "process"], "controlled runs are thread mode"),
    (["--schedules", "5", "--duration", "2"], "sized in trades"),
    (["--schedules", "5", "--serve"], "a controlled run is many executions"),
    (["--schedules", "0"], "--schedules: must be at least 1"),
    (["--strategy", "random"], "add --schedules N"),
    (["--depth", "2"], "add --schedules N"),
])
def test_bad_flags_are_one_line_exit_two(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "run", "component_contention", *argv, "--out", str(tmp_path / "o"))
    assert code == 2 and message in err and err.count("\n") == 1


def test_an_external_lock_service_is_explored_through_the_relay(tmp_path: Path, capsys) -> None:
    code, text, _ = _run(capsys, "run", "multi_symbol_stress", "--schedules", "5",
                         "--locks", "harness.examples.ports.locks:own_broker", "--out", str(tmp_path / "o"))
    assert code == 0 and "No schedule violated" in text


def test_a_schedule_of_another_scenario_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    _run(capsys, "run", "component_contention", "--schedules", "200", *RACY, "--out", str(out))
    code, _, err = _run(capsys, "run", "multi_symbol_stress", "--replay-schedule", str(out / "schedule.json"),
                        "--out", str(tmp_path / "o"))
    assert code == 2 and "a schedule of 'component_contention'" in err


def test_an_in_process_lock_plug_in_is_controlled_and_its_early_release_caught(tmp_path: Path, capsys) -> None:
    code, text, _ = _run(capsys, "run", "multi_symbol_stress", "--schedules", "50",
                         "--locks", "harness.explore.planted:early_release", "--out", str(tmp_path / "o"))
    assert code == 1 and "violated: Lock Atomicity" in text
    saved = json.loads((tmp_path / "o" / "schedule.json").read_text())
    assert len(saved["workers"]) == 2  # two workers meet in the critical section the lock no longer guards
