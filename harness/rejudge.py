"""Re-judging a saved history: the same checkers and gates, on events read from disk.

Accepts a run directory (its ``events.jsonl``), an ``events.jsonl``, or a
``STRESS_TEST.log`` -- also one recorded by another system in the documented format. The
areas judged are the scenario's when it is known (``--scenario``, or the run directory's
``evidence.json``), else every area the history has events for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harness.config import ConfigError, load_config
from harness.gates import judge, unified
from harness.history import Event, HistoryError
from harness.scenario import STANDARD_AREAS, evaluate, load
from harness.validate import Checked, contract_gate
from harness.validate import load as load_checked


def read_history(path: Path, lenient: bool = False) -> tuple[list[Event], str | None]:
    """Events of a run directory, JSONL history or human log, and the scenario if recorded."""
    checked, scenario = read_checked(path, lenient)
    return list(checked.events), scenario


def read_checked(path: Path, lenient: bool = False) -> tuple[Checked, str | None]:
    """The history checked against the contract (``FILE:LINE`` errors), and the scenario if recorded."""
    scenario = None
    if path.is_dir():
        evidence = path / "evidence.json"
        if evidence.is_file():
            try:
                scenario = json.loads(evidence.read_text(encoding="utf-8")).get("scenario")
            except (ValueError, UnicodeDecodeError) as exc:
                raise HistoryError(f"{evidence}: not valid JSON: {exc}") from None
        path = path / "events.jsonl"
    if not path.exists():
        raise HistoryError(f"{path}: no such file")
    checked = load_checked(path, lenient)
    if not checked.events:
        raise HistoryError(f"{path}: the history is empty" + (f" ({checked.problems[0]})" if checked.problems else ""))
    return checked, scenario


def areas_present(events: Sequence[Event]) -> tuple[str, ...]:
    """The standard areas a history has events for."""
    kinds = {e.kind for e in events}
    has_locks = any(k.startswith("lock.") for k in kinds)
    has_trading = bool(kinds & {"order.fill", "trade.closed"})
    wanted = {"races"} | ({"locks"} if has_locks else set()) | (
        {"performance", "aggregator", "risk"} if has_trading else set())
    return tuple(a for a in STANDARD_AREAS if a in wanted)


def rejudge(path: Path, scenario_name: str | None, config_file: Path | None, lenient: bool = False) -> int:
    """Judge a saved history and print the verdict; return the exit code (0 PASS, 1 FAIL)."""
    checked, recorded = read_checked(path, lenient)
    events = list(checked.events)
    name = scenario_name or recorded
    config = load_config(config_file)
    areas = areas_present(events)
    if name is not None:
        scenario = load(name)
        config = scenario.configure(config)
        areas = tuple(a for a in scenario.areas if a in areas)
    if not areas:
        raise ConfigError(f"{path}: no events any checker can judge")
    contract = contract_gate(checked)
    gates = ([contract] if contract else []) + list(judge(evaluate(events, areas), config.gates))
    for gate in gates:
        print(f"[PHYSICAL_EVIDENCE] {gate.area}: {gate.status}")
        for line in gate.lines:
            print(f"  {'✅' if line.ok else '❌'} {line.text}")
    status = "PASS" if unified(gates) else "FAIL"
    print(f"[UnifiedGate] {(name or 'HISTORY').upper()} {status}")
    return 0 if status == "PASS" else 1
