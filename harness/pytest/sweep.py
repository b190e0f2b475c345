"""pytest: a sweep as test items, so pytest-xdist spreads it (``-n auto``, ``--tx socket=HOST:PORT``).

``pytest --harness-sweep "race_detection seeds=0-19 modes=thread,process" -n 4`` turns each
case of the spec (``harness.run.sweep``) into one item; a session given ``--harness-sweep``
runs only those items (nothing else is collected). Each item runs its case as a ``harness
run`` child process on whichever host its xdist worker lives, and sends its row to the
controller as a user property; the controller writes one merged ``sweep.json`` and
``SWEEP.md`` (a row per case: verdict, gates, run dir, reproduce command), and pytest's own
``--junitxml`` gives the JUnit file. Every worker writes under the one sweep directory the
controller chose (``workerinput``), so a rerun never collides with an earlier sweep.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError, Finding
from harness.run.sweep import Case, Row, expand, headline, markdown, parse_spec, run_case, summary

ROW_PROPERTY = "harness_sweep_row"
_DIR_KEY = "harness_sweep_dir"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "verification harness")
    group.addoption("--harness-sweep", action="append", default=[], metavar="SPEC",
                    help="run a sweep instead of collecting tests: 'SCENARIO[,..] seeds=0-9 modes=thread,process "
                         "schedules=N chunk=K -- RUN FLAGS' (repeatable)")
    group.addoption("--harness-sweep-dir", default=None, metavar="DIR",
                    help="where the sweep's run directories, sweep.json and SWEEP.md go "
                         "(default reports/sweep-<UTC>)")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--harness-sweep", default=None))


def sweep_dir(config: pytest.Config) -> Path:
    """The sweep directory: the controller's choice on an xdist worker, chosen once otherwise."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and _DIR_KEY in workerinput:
        return Path(workerinput[_DIR_KEY])
    chosen = getattr(config, "_harness_sweep_dir", None)
    if chosen is None:
        given = config.getoption("--harness-sweep-dir")
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        chosen = Path(given) if given else Path("reports") / f"sweep-{stamp}"
        config._harness_sweep_dir = chosen.resolve()  # type: ignore[attr-defined]
    return Path(config._harness_sweep_dir)  # type: ignore[attr-defined]


def host_name() -> str:
    """Where this worker runs: $HARNESS_HOST when a host is named so (namespaces share a hostname)."""
    return os.environ.get("HARNESS_HOST") or socket.gethostname()


class SweepCaseFailed(Finding):
    """A sweep case did not PASS; its row says how and how to rerun it."""


class SweepItem(pytest.Item):
    """One sweep case as a test item."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        """Run the case where this worker is; record its row; fail unless it PASSed."""
        row = run_case(self.case, sweep_dir(self.config), host_name())
        self.user_properties.append((ROW_PROPERTY, json.dumps(row.to_json())))
        if row.status != "PASS":
            raise SweepCaseFailed(row)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The case's status, its last output lines and the command that reproduces it."""
        if isinstance(excinfo.value, SweepCaseFailed):
            row: Row = excinfo.value.args[0]
            return f"{row.case}: {row.status} (exit {row.exit_code}) on {row.host}\n{row.detail}\n" \
                   f"reproduce: {row.reproduce}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        """How pytest names the item in its reports."""
        return "harness-sweep", 0, self.name


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # A sweep session runs the sweep only: no test module of the project is imported.
    return True if _enabled(config) else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _enabled(config):
        return
    cases = {case.id: case for spec in config.getoption("--harness-sweep") for case in expand(parse_spec(spec))}
    items[:] = [SweepItem.from_parent(session, name=name, nodeid=f"harness-sweep::{name}", case=case)
                for name, case in cases.items()]
    # The items were made here, not by a collector: report them so pytest counts them as collected.
    config.hook.pytest_collectreport(report=pytest.CollectReport("harness-sweep", "passed", None, list(items)))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    # xdist controller: every worker writes under the directory the controller chose.
    if _enabled(node.config):
        node.workerinput[_DIR_KEY] = str(sweep_dir(node.config))


class SweepReport:
    """On the controller: collects each case's row and writes the merged report at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[Row] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.rows += [Row(**json.loads(str(v))) for k, v in report.user_properties if k == ROW_PROPERTY]

    def pytest_sessionfinish(self) -> None:
        if not self.rows:
            return
        root = sweep_dir(self.config)
        root.mkdir(parents=True, exist_ok=True)
        document = summary(self.rows)
        (root / "sweep.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        (root / "SWEEP.md").write_text(markdown(document), encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        terminalreporter.section("harness sweep")
        terminalreporter.write_line(headline(summary(self.rows)))
        terminalreporter.write_line(f"report: {sweep_dir(self.config) / 'SWEEP.md'}")


def pytest_configure(config: pytest.Config) -> None:
    if _enabled(config) and not hasattr(config, "workerinput"):
        try:
            for spec in config.getoption("--harness-sweep"):
                parse_spec(spec)  # a bad spec is one usage error before any worker starts
        except ConfigError as exc:
            raise pytest.UsageError(f"--harness-sweep: {exc}") from None
        config.pluginmanager.register(SweepReport(config), "harness-sweep-report")
