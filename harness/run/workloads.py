"""The reference engine as a controlled workload: a scenario's symbols and limits, judged by its gates.

Each execution runs the reference engine in thread mode over the in-process lock table, or
a user's ``--locks`` provider (each client call a point; an external service's replies
delivered through the relay of ``harness.explore.control``), with the user's aggregator,
guardian and ledger plug-ins if given -- built with controlled locks and traced, so their
own locks, conditions and attribute reads and writes are scheduling points
(``harness.explore.control``) -- and judges the history on the scenario's correctness areas.
Performance is not judged here: a controlled run's timings say nothing about the system.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from harness.errors import ConfigError
from harness.explore.control import ControlledProvider, build_lock_plugin, controlled_factory
from harness.explore.exploration import Outcome, Runner, Workload
from harness.history.log import History, LocalSequence
from harness.judge.areas import judge
from harness.run.config import HarnessConfig
from harness.run.plugins import Plugins
from harness.run.scenario import Scenario, evaluate, owned
from harness.system.engine import run as reference_run
from harness.system.locks.local import LockTable
from harness.system.settings import ConcurrencyMode

JUDGED = ("locks", "races", "aggregator", "risk")
TRADES = 3  # per symbol and execution: races need contention, not length
# A refused worker retries on its next tick; under control each retry is two steps, so a worker
# refused while others hold the exposure would spin through thousands of them. It stops after
# this many refusals in a row instead (reported as stalled, which no gate counts as a failure).
REFUSALS = 20


def engine_workload(scenario: Scenario, config: HarnessConfig, plugins: Plugins, trades: int | None = None) -> Workload:
    """The scenario's engine run as a ``Workload`` (small trade counts per execution)."""
    if plugins.engine is not None:
        raise ConfigError("--schedules controls the reference engine's worker threads; a plug-in engine runs its "
                          "own threads, which the scheduler cannot own (its parts can be plugged in instead)")
    areas = tuple(a for a in scenario.areas if a in JUDGED) or JUDGED
    size = trades or min(config.run.trades or TRADES, TRADES)
    base = dataclasses.replace(config.run, mode=ConcurrencyMode.THREAD, trades=size, duration=None,
                               max_refusals=min(config.run.max_refusals, REFUSALS))

    def run(runner: Runner, trades: int) -> Outcome:
        run_config = dataclasses.replace(base, trades=trades)
        history = History(f"{scenario.name}-controlled", LocalSequence())
        with _lock_service(plugins, run_config, history) as locks:
            result = reference_run(run_config, locks, history=history, threads=runner, **_parts(plugins, history))
        gates = judge(evaluate(result.events(), areas, limits=config.gates), config.gates)
        failing = [g for g in gates if not g.passed]
        detail = tuple(f"{g.area}: {line.text}" for g in failing for line in g.lines if not line.ok)
        return Outcome(", ".join(g.area for g in failing), detail, result.events())

    return Workload(scenario.name, run, size, tuple(f"{spec.name}#0" for spec in base.symbols),
                    narrow=lambda kept: engine_workload(scenario, with_workers(config, kept), plugins, size))


def _parts(plugins: Plugins, history: History) -> dict[str, Any]:
    """The engine's keyword arguments for the plugged-in parts, each controlled and traced."""
    kwargs: dict[str, Any] = {}
    if plugins.aggregator is not None:
        kwargs["aggregator"] = controlled_factory(plugins.aggregator, "aggregator")(history)
    if plugins.guardian is not None:
        kwargs["guardian_factory"] = controlled_factory(plugins.guardian, "guardian")
    if plugins.ledger is not None:
        kwargs["ledger_factory"] = controlled_factory(plugins.ledger, "ledger")
    if plugins.feed is not None:
        kwargs["feed"] = plugins.feed
    return kwargs


@contextlib.contextmanager
def _lock_service(plugins: Plugins, config: Any, history: History) -> Iterator[Any]:
    """The in-process lock table, or the user's provider with every client call a point (relayed if external)."""
    if plugins.locks is None:
        yield LockTable()
        return
    with owned(build_lock_plugin(plugins.locks, config, history)) as provider:
        yield ControlledProvider(provider)


def with_workers(config: HarnessConfig, names: tuple[str, ...]) -> HarnessConfig:
    """``config`` with only the symbols of the workers ``names`` ("SYMBOL#0"): a narrowed workload's."""
    symbols = tuple(spec for spec in config.run.symbols if f"{spec.name}#0" in names)
    return dataclasses.replace(config, run=dataclasses.replace(config.run, symbols=symbols))


def workload_of(scenario: Scenario, config: HarnessConfig, plugins: Plugins) -> Workload:
    """The scenario's own controlled workload, or the reference engine's."""
    if scenario.workload is not None:
        return scenario.workload(config, plugins)
    return engine_workload(scenario, config, plugins)
