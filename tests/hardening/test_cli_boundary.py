"""The CLI boundary: every bad input is one line and exit 2; a scenario's error is a failing verdict."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path

import pytest

from harness.cli.boundary import check_endpoint
from harness.cli.main import main
from harness.errors import ConfigError
from harness.judge.thresholds import Thresholds
from harness.report import write_reports
from harness.run.config import HarnessConfig
from harness.run.scenario import Scenario, execute
from harness.system.guardian.store import StoreError


def cli(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def refused(code: int, err: str, flag: str) -> bool:
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and lines[0].startswith("harness") and flag in lines[0]


def test_an_existing_run_directory_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text("the earlier run\n")
    code, _, err = cli("run", "multi_symbol_stress", "--trades", "1", "--out", str(tmp_path))
    assert refused(code, err, "--out") and "never overwrites" in err
    assert [p.name for p in tmp_path.iterdir()] == ["events.jsonl"]
    assert (tmp_path / "events.jsonl").read_text() == "the earlier run\n"


def test_a_file_where_the_run_directory_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    code, _, err = cli("run", "multi_symbol_stress", "--out", str(tmp_path / "out"))
    assert refused(code, err, "--out")


@pytest.mark.parametrize("argv", [
    ("run", "multi_symbol_stress", "--out", "o\udcff"),
    ("run", "multi_symbol_stress", "--symbols", "A\udcfe"),
    ("run", "multi_symbol_stress", "--config=c\udcff.toml"),
    ("serve", "--events", "e.jsonl", "--token", "t\udcff"),
    ("check", "\udcffevents.jsonl"),
    ("broker", "--state-file", "s\udcff", "--endpoint", "tcp://127.0.0.1:0"),
])
def test_arguments_that_are_not_utf8_are_refused_up_front(tmp_path: Path, monkeypatch, argv) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not valid UTF-8" in err
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


NUMERIC_GATES = [f.name for f in dataclasses.fields(Thresholds)
                 if f.type in ("int", "float", "Decimal", "int | None", "float | None", "Decimal | None")]


@pytest.mark.parametrize("gate", NUMERIC_GATES)
def test_a_negative_gate_threshold_is_refused(tmp_path: Path, gate: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[gates]\n{gate} = -1\n")
    code, _, err = cli("run", "multi_symbol_stress", "--config", str(config), "--out", str(tmp_path / "o"))
    assert refused(code, err, f"gates.{gate}") and not (tmp_path / "o").exists()


def test_zero_thresholds_are_accepted() -> None:
    from harness.run.config import harness_config

    assert harness_config({"gates": {gate: 0 for gate in NUMERIC_GATES}}).gates.max_errors == 0
    assert len(NUMERIC_GATES) >= 15


@pytest.mark.parametrize("argv", [
    ("broker", "--endpoint", "tcp://127.0.0.1:99999", "--state-file", "s"),
    ("broker", "--endpoint", "tcp://127.0.0.1:-1", "--state-file", "s"),
    ("broker", "--endpoint", "tcp://127.0.0.1", "--state-file", "s"),
    ("broker", "--endpoint", "tcp://127.0.0.1:55x", "--state-file", "s"),
    ("serve", "--port", "70000", "--token", "t", "--events", "e"),
    ("serve", "--port", "-1", "--token", "t", "--events", "e"),
])
def test_invalid_endpoints_and_ports_are_refused(tmp_path: Path, monkeypatch, argv) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*argv)
    assert refused(code, err, "--endpoint" if argv[0] == "broker" else "--port")


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:0", "tcp://127.0.0.1:65535", "tcp://*:5555",
                                      "tcp://[::1]:5555", "ipc:///tmp/x"])
def test_valid_endpoints_pass_the_boundary(endpoint: str) -> None:
    check_endpoint("--endpoint", endpoint)


def raising(exc: BaseException) -> Scenario:
    def run(ctx):
        raise exc

    return Scenario(name="boom", title="raises", description="raises", run=run)


def test_an_error_inside_a_scenario_is_a_failing_verdict_line_in_every_report(tmp_path: Path) -> None:
    error = StoreError("postgres: no answer within 0.5s")
    verdict = execute(raising(error), HarnessConfig(), tmp_path / "run")
    write_reports(verdict, tmp_path / "run")
    assert verdict.status == "FAIL" and verdict.exit_code == 1
    [gate] = verdict.gates
    assert not gate.passed and "StoreError: postgres: no answer within 0.5s" in gate.lines[0].text
    log = (tmp_path / "run" / "VERIFY_LOG.txt").read_text()
    assert "StoreError: postgres: no answer within 0.5s" in log and "[UnifiedGate] BOOM FAIL" in log
    assert "no answer within 0.5s" in json.dumps(json.loads((tmp_path / "run" / "evidence.json").read_text()))


def test_a_scenario_that_completes_is_not_judged_by_the_error_gate(tmp_path: Path) -> None:
    from harness.run.scenario import Trial

    quiet = Scenario(name="quiet", title="t", description="d", run=lambda ctx: Trial(()), areas=())
    assert execute(quiet, HarnessConfig(), tmp_path / "run").gates == ()


@pytest.mark.parametrize("exc", [ConfigError("run.trades: must be at least 1")])
def test_bad_input_inside_a_scenario_stays_exit_2(tmp_path: Path, exc) -> None:
    with pytest.raises(ConfigError):
        execute(raising(exc), HarnessConfig(), tmp_path / "run")
