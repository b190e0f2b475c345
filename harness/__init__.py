"""Verification and stress-test harness for concurrent multi-symbol trading engines.

What users import -- everything else is internal and may move between releases:

- Run a scenario and get its verdict (reports written): ``run_scenario("multi_symbol_stress", trades=20)``.
- Judge a saved history: ``check("reports/<run>/")`` or ``check("events.jsonl", areas=("locks",))``.
- Record your own engine's history: ``Recorder`` (also ``harness.record``).
- Plug in your own component: the Protocols of ``harness.ports``; mark a race window in your
  own code with ``harness.schedule.point("...")``.
- Test helpers (history builders, defect planters, ``FakeClock``): ``harness.testing``.
- Errors: ``HarnessError`` and its families; ``exit_code(exc)`` is what the command returns.

Names are loaded on first use, so ``import harness`` (and ``harness --version``) costs nothing.
The layout behind them is described in docs/DESIGN.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._version import __version__

if TYPE_CHECKING:
    from harness.clock import Clock, FakeClock
    from harness.errors import ConfigError, HarnessError, InputError, RunError, ServiceUnavailable, exit_code
    from harness.history.log import Event, History, HistoryError, iter_jsonl, read_jsonl, write_jsonl
    from harness.history.record import Recorder, RecordError
    from harness.judge.gates import GateResult, Line, outcome, unified
    from harness.judge.thresholds import Thresholds
    from harness.run.config import HarnessConfig, load_config
    from harness.run.plugins import Plugins
    from harness.run.scenario import Scenario, ScenarioContext, Trial, Verdict
    from harness.system.settings import RunConfig

_EXPORTS: Mapping[str, str] = {
    **dict.fromkeys(("Clock", "FakeClock"), "harness.clock"),
    **dict.fromkeys(("ConfigError", "HarnessError", "InputError", "RunError", "ServiceUnavailable", "exit_code"),
                    "harness.errors"),
    **dict.fromkeys(("Event", "History", "HistoryError", "iter_jsonl", "read_jsonl", "write_jsonl"),
                    "harness.history.log"),
    **dict.fromkeys(("RecordError", "Recorder"), "harness.history.record"),
    **dict.fromkeys(("GateResult", "Line", "outcome", "unified"), "harness.judge.gates"),
    "Thresholds": "harness.judge.thresholds",
    **dict.fromkeys(("HarnessConfig", "load_config"), "harness.run.config"),
    "Plugins": "harness.run.plugins",
    **dict.fromkeys(("Scenario", "ScenarioContext", "Trial", "Verdict"), "harness.run.scenario"),
    "RunConfig": "harness.system.settings",
}
_MODULES = ("clock", "errors", "ports", "record", "schedule", "testing")

__all__ = [
    "Clock", "ConfigError", "Event", "FakeClock", "GateResult", "HarnessConfig", "HarnessError", "History",
    "HistoryError", "InputError", "Line", "Plugins", "RecordError", "Recorder", "RunConfig", "RunError",
    "Scenario", "ScenarioContext", "ServiceUnavailable", "Thresholds", "Trial", "Verdict", "__version__", "check",
    "clock", "errors", "exit_code", "iter_jsonl", "load_config", "outcome", "ports", "read_jsonl", "record", "run_scenario",
    "schedule", "testing", "unified", "write_jsonl",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"harness.{name}")
    else:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def run_scenario(name: str, *, out: str | Path | None = None, components: Mapping[str, Any] | None = None,
                 config_file: str | Path | None = None, gates: Mapping[str, Any] | None = None,
                 **settings: Any) -> Verdict:
    """Run a scenario (a name or a ``.py`` file), write its report directory, return the verdict.

    ``settings`` are run settings (``seed=``, ``trades=``, ``mode="process"``, ``symbols=``, ...),
    ``gates`` gate thresholds, ``components`` your own parts by port (``{"locks": "my.mod:factory"}``);
    all layer over the defaults, ``pyproject.toml`` and ``config_file`` as on the command line.
    """
    from harness.report import write_reports
    from harness.run.config import load_config
    from harness.run.plugins import Plugins
    from harness.run.scenario import execute, load, run_dir_name

    scenario = load(name)
    config = scenario.configure(load_config(None if config_file is None else Path(config_file)),
                                {"run": settings, "gates": dict(gates or {})})
    target = Path(out) if out is not None else Path("reports") / run_dir_name(scenario.name, config.run.seed)
    verdict = execute(scenario, config, target, plugins=Plugins.of(**(components or {})))
    write_reports(verdict, target)
    return verdict


def check(path: str | Path, *, areas: Sequence[str] = (), lenient: bool = False,
          config_file: str | Path | None = None) -> tuple[GateResult, ...]:
    """Judge a saved run directory, ``events.jsonl`` or ``STRESS_TEST.log``: one gate result per area.

    As ``harness check``: the areas and thresholds the run recorded, else every area its events
    feed; ``areas`` judges exactly those (each required to apply); ``lenient`` sets aside lines that
    break the history contract and fails a contract gate listing them. ``unified(gates)`` is the verdict;
    ``outcome(gates)`` says PASS, FAIL or NOTHING JUDGED (no gate judged anything).
    """
    from harness.cli.check import judged

    return judged(Path(path), None, None if config_file is None else Path(config_file),
                  ",".join(areas) or None, lenient)[1]
