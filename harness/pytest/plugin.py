"""pytest plugin: options, ini keys, the ``harness_scenario`` fixture and the gate summary.

Only wiring lives here; running, judging and reporting are the library's
(``harness.run.scenario``, ``harness.report``). Under ``pytest -n auto`` every worker writes its
own run directories, and each verdict travels to the controller as a user property of the
test report, so the controller prints one gate summary table at the end.
"""

from __future__ import annotations

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


@pytest.fixture
def harness_scenario(request: pytest.FixtureRequest, record_property):
    """Run a scenario (with your components, if given), write its report directory, record its verdict."""
    from harness.report import write_reports
    from harness.run.config import load_config
    from harness.run.plugins import Plugins
    from harness.run.scenario import Scenario, execute, run_dir_name
    from harness.system.ports import PORTS

    config = request.config
    root = Path(config.getoption("--harness-report-dir") or config.getini("harness_report_dir"))
    config_file = config.getoption("--harness-config")
    base = load_config(Path(config_file) if config_file else None, Path(config.rootpath))

    def run(scenario: Scenario, **settings: Any):
        """``settings`` are run settings (``trades=5``) and components by port (``aggregator=factory``)."""
        components = {name: settings.pop(name) for name in PORTS if name in settings}
        explicit = _settings(config)
        if settings:
            explicit.setdefault("run", {}).update(settings)
        harness_config = scenario.configure(base, explicit)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        out = root / f"{run_dir_name(scenario.name, harness_config.run.seed)}-{worker}"
        verdict = execute(scenario, harness_config, out, plugins=Plugins.of(**components),
                          command_flags=_command_flags(config, explicit))
        write_reports(verdict, out)
        record_property(VERDICT_PROPERTY, json.dumps(
            {"scenario": scenario.name, "status": verdict.status, "report": str(out), "command": verdict.command,
             "gates": {g.name: g.status for g in verdict.gates}}))
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
            terminalreporter.write_line(f"[UnifiedGate] {verdict['scenario'].upper()} {verdict['status']}  {gates}")
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
