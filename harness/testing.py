"""Helpers for tests of the harness and of a user's own components.

- a small DSL for histories: one clean engine run, and edits that plant one defect each
  (edits never mutate their input; they return a new list; events added or removed in the
  middle are followed by ``renumber`` so the only sequence gap is one a test plants);
- gate helpers: judge one area on a history, assert it fails on a pattern;
- ``FakeClock``, for code that takes its clock as a parameter;
- ``run_scenario``: run a scenario against your own components (``aggregator=``, ``ledger=``, ...).

The project's own test suite uses these same helpers (``tests/_history_builders.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness.clock import FakeClock as FakeClock  # re-exported: tests drive time with it
from harness.history.events import AGG_STATE, LOCK_INVOKE, LOCK_OK, RUN_START, WORKER_ERROR
from harness.history.log import Event
from harness.judge.areas import AREAS, judge
from harness.judge.evidence import Evidence
from harness.judge.gates import GateResult
from harness.judge.thresholds import Thresholds

Events = Sequence[Event]
MS = 1_000_000
TRACEBACK = 'Traceback (most recent call last):\n  File "engine.py", line 1, in run\nRuntimeError: boom\n'


# -- the clean history ------------------------------------------------------------------


@functools.cache
def clean_events(trades: int = 10, seed: int = 127) -> tuple[Event, ...]:
    """A real engine run (thread mode, in-process lock table), cached per process."""
    from harness.system.engine import run
    from harness.system.locks.local import LockTable
    from harness.system.settings import RunConfig

    return tuple(run(RunConfig(trades=trades, seed=seed), LockTable()).events())


# -- finding events ---------------------------------------------------------------------


def where(events: Events, kind: str, symbol: str | None = None, **payload: Any) -> list[Event]:
    """Events of ``kind`` (and ``symbol``, and payload values) in order."""
    return [e for e in events if e.kind == kind and (symbol is None or e.symbol == symbol)
            and all(e.payload.get(k) == v for k, v in payload.items())]


def first(events: Events, kind: str, symbol: str | None = None, **payload: Any) -> Event:
    """The first matching event (AssertionError when there is none)."""
    found = where(events, kind, symbol, **payload)
    assert found, f"no {kind} event for {symbol}"
    return found[0]


def last(events: Events, kind: str, symbol: str | None = None) -> Event:
    """The last matching event."""
    found = where(events, kind, symbol)
    assert found, f"no {kind} event for {symbol}"
    return found[-1]


def symbols(events: Events) -> list[str]:
    """The symbols of the run, from run.start."""
    return list(first(events, RUN_START).payload["symbols"])


# -- editing ----------------------------------------------------------------------------


def renumber(events: Iterable[Event]) -> list[Event]:
    """Consecutive sequence numbers 1..n in the given order (timestamps kept)."""
    return [dataclasses.replace(e, seq=i) for i, e in enumerate(events, start=1)]


def drop(events: Events, event: Event, *, keep_seq: bool = False) -> list[Event]:
    """Remove one event; renumber unless ``keep_seq`` (which leaves a sequence gap)."""
    assert event in events
    rest = [e for e in events if e is not event and e != event]
    return rest if keep_seq else renumber(rest)


def replace(events: Events, old: Event, new: Event) -> list[Event]:
    """The history with ``old`` swapped for ``new`` in the same place."""
    assert old in events
    return [new if e == old else e for e in events]


def with_payload(event: Event, **changes: Any) -> Event:
    """A copy of ``event`` with some payload values changed (same seq)."""
    return dataclasses.replace(event, payload={**event.payload, **changes})


def alter(events: Events, event: Event, **changes: Any) -> list[Event]:
    """The history with one event's payload values changed in place."""
    return replace(events, event, with_payload(event, **changes))


def append(events: Events, kind: str, *, worker: str = "engine", symbol: str | None = None,
           **payload: Any) -> list[Event]:
    """A new event at the end, with the next seq and a later timestamp."""
    end = events[-1]
    new = Event(end.seq + 1, end.mono_ns + MS, end.wall, end.run_id, worker, symbol, kind, payload)
    return [*events, new]


def repeat_at_end(events: Events, event: Event) -> list[Event]:
    """The history with a copy of ``event`` recorded again, under a new seq, at the end."""
    end = events[-1]
    return [*events, dataclasses.replace(event, seq=end.seq + 1, mono_ns=end.mono_ns + MS)]


def alter_agg_state(events: Events, symbol: str, **changes: Any) -> list[Event]:
    """The history with the final agg.state's figures of one symbol changed."""
    state = last(events, AGG_STATE)
    table = {name: dict(raw) for name, raw in state.payload["symbols"].items()}
    table[symbol].update({k: str(v) if isinstance(v, Decimal) else v for k, v in changes.items()})
    return alter(events, state, symbols=table)


def worker_error(events: Events, symbol: str, *, fatal: bool = False, traceback: str | None = None) -> list[Event]:
    """A worker.error of ``symbol`` appended, fatal or not, with or without a traceback."""
    payload: dict[str, Any] = {"error": "RuntimeError: boom"}
    if fatal:
        payload["fatal"] = True
    if traceback is not None:
        payload["traceback"] = traceback
    return append(events, WORKER_ERROR, worker=f"{symbol}#0", symbol=symbol, **payload)


# -- judging ----------------------------------------------------------------------------


def evidence(events: Events, area: str) -> Evidence[Any]:
    """One checker's evidence on a history (area key as in ``harness.judge.areas.AREAS``)."""
    return AREAS[area].checker(list(events))


def gate(events: Events, area: str, thresholds: Thresholds | None = None) -> GateResult:
    """The gate of one area judged on a history (default thresholds unless given)."""
    return judge([evidence(events, area)], thresholds or Thresholds())[0]


def failing(result: GateResult) -> list[str]:
    """Texts of the lines that failed."""
    return [line.text for line in result.lines if not line.ok]


def assert_fails_on(result: GateResult, pattern: str) -> None:
    """The gate failed, and a failing line matches ``pattern`` (a regex)."""
    assert result.status == "FAIL", [line.text for line in result.lines]
    assert any(re.search(pattern, text) for text in failing(result)), failing(result)


def nested_events(items: Iterable[Any]) -> list[dict[str, Any]]:
    """Every event dict nested anywhere in counterexample items."""
    found = []
    for item in items:
        stack = [item]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                if "worker" in value and "kind" in value:
                    found.append(value)
                stack.extend(value.values())
            elif isinstance(value, (list, tuple)):
                stack.extend(value)
    return found


# -- hand-built lock histories ----------------------------------------------------------


class LockHistory:
    """Lock events of several clients, one event per call, 1 ms apart."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._reqs: dict[str, int] = {}

    def _add(self, worker: str, kind: str, **payload: Any) -> None:
        seq = len(self.events) + 1
        self.events.append(Event(seq, seq * MS, "", "test", worker, None, kind, payload))

    def invoke(self, client: str, op: str, name: str, **extra: Any) -> LockHistory:
        """The invocation of an operation by ``client``."""
        self._reqs[client] = self._reqs.get(client, 0) + 1
        self._add(client, LOCK_INVOKE, op=op, names=[name], req=self._reqs[client], **extra)
        return self

    def ok(self, client: str, op: str, name: str, token: int | None = None) -> LockHistory:
        """The successful completion of ``client``'s outstanding operation."""
        tokens = {name: token} if token is not None else {}
        self._add(client, LOCK_OK, op=op, names=[name], req=self._reqs[client], tokens=tokens, lease_ms=0)
        return self

    def acquire(self, client: str, name: str, token: int) -> LockHistory:
        """A whole acquire (invoke then ok)."""
        return self.invoke(client, "acquire", name, ts=0, attempt=1).ok(client, "acquire", name, token)

    def release(self, client: str, name: str) -> LockHistory:
        """A whole release (invoke then ok)."""
        return self.invoke(client, "release", name).ok(client, "release", name)


# -- time -------------------------------------------------------------------------------



# -- scenario runs and reports ----------------------------------------------------------


def small_config(trades: int = 10, seed: int = 127, mode: str | None = None, **gates: Any):
    """A HarnessConfig for a short scenario run (gate thresholds overridable)."""
    from harness.run.config import HarnessConfig, harness_config

    run: dict[str, Any] = {"trades": trades, "seed": seed}
    if mode is not None:
        run["mode"] = mode
    config = harness_config({"run": run}, HarnessConfig())
    return dataclasses.replace(config, gates=dataclasses.replace(config.gates, **gates)) if gates else config


def run_scenario(out: Path, name: str = "multi_symbol_stress", *, components: Mapping[str, Any] | None = None,
                 **config: Any):
    """Execute a scenario (a name or a .py file) with a small config and write its reports into ``out``.

    ``components`` replace reference parts by port (``{"aggregator": my_factory}``; see harness.system.ports).
    """
    from harness.report import write_reports
    from harness.run.plugins import Plugins
    from harness.run.scenario import execute, load

    scenario = load(name)
    verdict = execute(scenario, scenario.configure(small_config(**config)), out,
                      plugins=Plugins.of(**(components or {})))
    write_reports(verdict, out)
    return verdict


def evidence_json(run_dir: Path) -> dict[str, Any]:
    """The parsed evidence.json of a run directory."""
    return json.loads((run_dir / "evidence.json").read_text(encoding="utf-8"))


def per_symbol(run_dir: Path) -> dict[str, tuple[Any, Any, Any]]:
    """(trades, pnl, win_rate) per symbol from evidence.json."""
    metrics = evidence_json(run_dir)["metrics"]["per_symbol"]
    return {name: (m["trades"], m["pnl"], m["win_rate"]) for name, m in metrics.items()}


def gate_lines(text: str) -> list[str]:
    """The indented ✅/❌ fact lines of a VERIFY_LOG.txt or of `harness check` output, stripped."""
    return [line.strip() for line in text.splitlines() if line.startswith("  ") and line.strip()[:1] in ("✅", "❌")]


def cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """Run ``harness.cli.main.main`` and return (exit code, stdout, stderr)."""
    from harness.cli.main import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_by_line(events: Events, predicate: Callable[[Event], bool]) -> Event:
    """The first event satisfying ``predicate``."""
    return next(e for e in events if predicate(e))
