"""pytest plugin: options, ini keys, the ``harness_scenario`` fixture and the gate summary.

Only wiring lives here; running, judging and reporting are the library's
(``harness.run.scenario``, ``harness.report``). Under ``pytest -n auto`` every worker writes its
own run directories, and each verdict travels to the controller as a user property of the
test report, so the controller prints one gate summary table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

VERDICT_PROPERTY = "harness_verdict"
pytest_plugins = ("harness.pytest.schedules", "harness.pytest.sweep")  # harness_schedules, --harness-sweep


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "verification harness")
    group.addoption("--harness-seed", type=int, default=None, help="seed of every scenario run")
    group.addoption("--harness-report-dir", default=None, help="where run directories are written")
    group.addoption("--harness-config", default=None, help="TOML file with [run] and [gates] tables")
    group.addoption("--harness-gate", action="append", default=[], metavar="KEY=VALUE",
                    help="override one gate threshold (repeatable)")
    parser.addini("harness_seed", "seed of every scenario run", default="")
    parser.addini("harness_report_dir", "where run directories are written", default="reports/pytest")
    parser.addini("harness_gates", "gate thresholds, one KEY=VALUE a line", type="linelist", default=[])


def _settings(config: pytest.Config) -> dict[str, Any]:
    from harness.settings import assignments

    explicit: dict[str, Any] = {}
    seed = config.getoption("--harness-seed")
    if seed is None and config.getini("harness_seed"):
        seed = int(config.getini("harness_seed"))
    if seed is not None:
        explicit["run"] = {"seed": seed}
    gates = assignments([*config.getini("harness_gates"), *config.getoption("--harness-gate")])
    if gates:
        explicit["gates"] = gates
    return explicit


def _command_flags(config: pytest.Config, explicit: dict[str, Any]) -> list[str]:
    """What ``harness run`` needs beyond seed and size to rerun this item: config file, overrides."""
    from harness.run.overrides import override_flags

    config_file = config.getoption("--harness-config")
    flags = ["--config", str(Path(config_file).resolve())] if config_file else []
    return flags + override_flags(explicit)


# The `harness run` flags a controlled run takes, and their defaults (harness.cli.schedules).
CONTROLLED = {"schedules": None, "replay_schedule": None, "first_schedule": 0, "strategy": None, "depth": None}
# The --nemesis flags, as keywords, and their keys in the [nemesis] table.
NEMESIS = {"nemesis": "faults", "nemesis_seed": "seed", "nemesis_interval": "interval", "nemesis_rounds": "rounds"}


def _plugin_flags(plugins: Any) -> list[str]:
    """``--port path`` for each component, as the user wrote it (a callable: its ``module:qualname``)."""
    return [word for name, plugin in plugins.given().items() for word in (f"--{name}", plugin.path)]


def _params(request: pytest.FixtureRequest) -> str:
    """The item's parameters (``[process-7]``), so parametrized runs are told apart in the summary."""
    callspec = getattr(request.node, "callspec", None)
    return f"[{callspec.id}]" if callspec is not None else ""


@pytest.fixture
def harness_scenario(request: pytest.FixtureRequest, record_property):
    """Run a scenario (with your components, if given), write its report directory, record its verdict.

    Takes what ``harness run`` takes, as keywords: run settings (``trades=5``, ``mode="process"``,
    any ``--set`` key), ``gates={...}`` (``--gate``), components by port (``locks="my.mod:factory"``
    or a callable), ``out=``, the nemesis (``nemesis="pause"``, ``nemesis_seed=``, ``nemesis_interval=``,
    ``nemesis_rounds=``) and the controlled-run flags (``schedules=100``, ``strategy=``, ``depth=``,
    ``first_schedule=``, ``replay_schedule=``).
    """
    from harness.cli import schedules
    from harness.report import write_reports
    from harness.run.config import load_config
    from harness.run.plugins import Plugins
    from harness.run.scenario import Scenario, execute, run_dir_name
    from harness.system.ports import PORTS

    config = request.config
    root = Path(config.getoption("--harness-report-dir") or config.getini("harness_report_dir"))
    config_file = config.getoption("--harness-config")
    base = load_config(Path(config_file) if config_file else None, Path(config.rootpath))

    def run(scenario: Scenario, *, gates: dict[str, Any] | None = None, out: str | Path | None = None,
            **settings: Any):
        """``settings`` are run settings (``trades=5``), components by port and controlled-run flags."""
        plugins = Plugins.of(**{name: settings.pop(name) for name in PORTS if name in settings})
        controlled = {**CONTROLLED, **{k: settings.pop(k) for k in CONTROLLED if k in settings}}
        explicit = _settings(config)
        nemesis = {key: settings.pop(word) for word, key in NEMESIS.items() if word in settings}
        if nemesis:
            explicit["nemesis"] = nemesis
        if settings:
            explicit.setdefault("run", {}).update(settings)
        if gates:
            explicit["gates"] = {**explicit.get("gates", {}), **gates}
        harness_config = scenario.configure(base, explicit)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        target = Path(out) if out is not None else root / f"{run_dir_name(scenario.name, harness_config.run.seed)}-{worker}"
        flags = _command_flags(config, explicit) + _plugin_flags(plugins)
        given = explicit.get("run", {})  # as on the command line: what was asked, not the defaults
        args = argparse.Namespace(**controlled, mode=given.get("mode"), duration=given.get("duration"), serve=None)
        if schedules.wanted(args):
            verdict = schedules.controlled(args, scenario, harness_config, plugins, target, flags)
        else:
            verdict = execute(scenario, harness_config, target, plugins=plugins, command_flags=flags)
        write_reports(verdict, target)
        record_property(VERDICT_PROPERTY, json.dumps(
            {"scenario": scenario.name, "params": _params(request), "status": verdict.status, "report": str(target),
             "command": verdict.command, "gates": {g.name: g.status for g in verdict.gates}}))
        return verdict

    return run


class GateSummary:
    """Collects verdicts from test reports (also those xdist workers send) and prints them."""

    def __init__(self, config: pytest.Config) -> None:
        self.verdicts: list[dict[str, Any]] = []
        # xdist's own marker of a worker process; an environment variable would also be
        # inherited by a pytest that a test starts in a subprocess (pytester).
        self.is_worker = hasattr(config, "workerinput")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            # Our property's value is the JSON text ``record_property`` was given above.
            self.verdicts += [json.loads(cast(str, v)) for k, v in report.user_properties if k == VERDICT_PROPERTY]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.verdicts or self.is_worker:
            return
        terminalreporter.section("harness gates")
        for verdict in self.verdicts:
            gates = " ".join(f"{name}={status}" for name, status in verdict["gates"].items())
            name = verdict["scenario"].upper() + verdict.get("params", "")
            terminalreporter.write_line(f"[UnifiedGate] {name} {verdict['status']}  {gates}")
            terminalreporter.write_line(f"    report: {verdict['report']}")
            if verdict["status"] != "PASS":
                terminalreporter.write_line(f"    reproduce: {verdict['command']}")


MARKERS = (
    "slow: takes more than a few seconds (deselect with -m 'not slow')",
    "services: needs real Redis/PostgreSQL",
    "harness: a test that runs a harness scenario",
)


def pytest_configure(config: pytest.Config) -> None:
    # Registered here so a user's project with --strict-markers can use them unchanged.
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    config.pluginmanager.register(GateSummary(config), "harness-gate-summary")
