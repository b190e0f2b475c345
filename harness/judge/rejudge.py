"""Re-judging a saved history: the same checkers and gates, on events read from disk.

Accepts a run directory (its ``events.jsonl``), an ``events.jsonl``, or a
``STRESS_TEST.log`` -- also one recorded by another system in the documented format. The
areas and thresholds are those the run recorded in its ``evidence.json``, else every
registered area; an area whose input events are absent is "not applicable" unless required
(``--areas``, ``require_areas``). Nothing here imports the system under test: the command
line (``harness.cli.check``) loads a scenario only when one must say which areas to judge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.history.log import Event, HistoryError
from harness.history.validate import Checked
from harness.history.validate import load as load_checked
from harness.judge.areas import STANDARD_AREAS, UnknownArea, evaluate, judge, known
from harness.judge.checks.coverage import coverage_evidence
from harness.judge.gates import GateResult, contract_gate
from harness.judge.thresholds import Thresholds, thresholds


def read_history(path: Path, lenient: bool = False) -> tuple[list[Event], str | None]:
    """Events of a run directory, JSONL history or human log, and the scenario if recorded."""
    checked, document = read_run(path, lenient)
    return list(checked.events), document.get("scenario")


def read_run(path: Path, lenient: bool = False) -> tuple[Checked, Mapping[str, Any]]:
    """A run directory's, JSONL history's or human log's events checked against the contract
    (``FILE:LINE`` errors; with ``lenient`` the bad lines are set aside), and its evidence.json."""
    document: Mapping[str, Any] = {}
    if path.is_dir():
        evidence = path / "evidence.json"
        if evidence.is_file():
            try:
                document = json.loads(evidence.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise HistoryError(f"{evidence}: not valid JSON: {exc}") from None
        path = path / "events.jsonl"
        if not path.exists() and path.with_name("events.jsonl.gz").exists():
            path = path.with_name("events.jsonl.gz")  # a long run's history, compressed when written
    if not path.exists():
        raise HistoryError(f"{path}: no such file")
    checked = load_checked(path, lenient)
    if not checked.events:
        raise HistoryError(f"{path}: the history is empty" + (f" ({checked.problems[0]})" if checked.problems else ""))
    return checked, document


def parse_areas(text: str | None) -> tuple[str, ...]:
    """``--areas locks,races`` as registry keys (ConfigError for an unknown one)."""
    if not text:
        return ()
    try:
        return known(tuple(a.strip() for a in text.split(",") if a.strip()))
    except UnknownArea as exc:
        raise ConfigError(f"--areas: {exc}") from None


def recorded_plan(document: Mapping[str, Any], base: Thresholds) -> tuple[tuple[str, ...], Thresholds] | None:
    """The areas and thresholds a run recorded in its evidence.json (None when it recorded none)."""
    if "areas" not in document:
        return None
    gates = {k[len("gates."):]: v for k, v in (document.get("config") or {}).items() if k.startswith("gates.")}
    areas = tuple(a for a in document["areas"] if a in STANDARD_AREAS)
    return areas, thresholds(gates, base)


def judge_history(checked: Checked, areas: tuple[str, ...], limits: Thresholds, chosen: tuple[str, ...] = (),
                  source: str = "the history", counts: bool = False) -> tuple[GateResult, ...]:
    """The gates of ``areas`` (``chosen`` ones replace them, each required) over checked events.

    State-machine coverage is judged when the history declares transitions, and its counts
    shown when ``counts`` (the run reported them).
    """
    try:
        required = chosen + tuple(a for a in known(limits.require_areas) if a not in chosen)
    except UnknownArea as exc:
        raise ConfigError(f"gates.require_areas: {exc}") from None
    judged = (chosen or areas) + tuple(a for a in required if a not in (chosen or areas))
    events = list(checked.events)
    coverage = coverage_evidence(events, limits.require_coverage, counts)
    gates = judge(evaluate(events, judged, coverage, required, limits), limits)
    if not any(g.applicable for g in gates):
        raise ConfigError(f"{source}: no events any checker can judge")
    contract = contract_gate(checked)
    return ((contract,) if contract else ()) + gates
