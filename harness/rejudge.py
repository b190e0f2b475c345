"""Re-judging a saved history: the same checkers and gates, on events read from disk.

Accepts a run directory (its ``events.jsonl``), an ``events.jsonl``, or a
``STRESS_TEST.log`` -- also one recorded by another system in the documented format. The
areas and thresholds are those the run recorded in its ``evidence.json``, or a scenario's
(``--scenario``), else every registered area; an area whose input events are absent is
"not applicable" unless required (``--areas``, ``require_areas``). Nothing of the engine
is imported unless a scenario must be loaded to know its areas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.config import ConfigError, HarnessConfig, harness_config, load_config
from harness.gates import judge, unified
from harness.history import Event, HistoryError
from harness.judge import STANDARD_AREAS, UnknownArea, evaluate, known
from harness.validate import Checked, contract_gate
from harness.validate import load as load_checked


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


def _plan(document: Mapping[str, Any], scenario_name: str | None, config: HarnessConfig
          ) -> tuple[str | None, tuple[str, ...], HarnessConfig]:
    """(name, areas, config) to judge with: the scenario's if named, else what the run recorded."""
    name = scenario_name or document.get("scenario")
    if scenario_name is None and "areas" in document:
        gates = {k[len("gates."):]: v for k, v in (document.get("config") or {}).items() if k.startswith("gates.")}
        areas = tuple(a for a in document["areas"] if a in STANDARD_AREAS)
        return name, areas, harness_config({"gates": gates}, config)
    if name is None:
        return None, STANDARD_AREAS, config
    from harness.scenario import load  # only here: a scenario module brings the engine with it

    scenario = load(name)
    return name, scenario.areas, scenario.configure(config)


def rejudge(path: Path, scenario_name: str | None, config_file: Path | None, areas: str | None = None,
            lenient: bool = False) -> int:
    """Judge a saved history and print the verdict; return the exit code (0 PASS, 1 FAIL).

    ``areas`` (``--areas locks,races``) judges exactly those areas, each required to apply;
    ``lenient`` judges the lines that meet the history contract and fails a contract gate
    listing the others.
    """
    chosen = parse_areas(areas)
    checked, document = read_run(path, lenient)
    events = list(checked.events)
    name, judged, config = _plan(document, scenario_name, load_config(config_file))
    try:
        required = chosen + tuple(a for a in known(config.gates.require_areas) if a not in chosen)
    except UnknownArea as exc:
        raise ConfigError(f"gates.require_areas: {exc}") from None
    judged = (chosen or judged) + tuple(a for a in required if a not in (chosen or judged))
    gates = judge(evaluate(events, judged, (), required), config.gates)
    if not any(g.applicable for g in gates):
        raise ConfigError(f"{path}: no events any checker can judge")
    contract = contract_gate(checked)
    gates = ((contract,) if contract else ()) + gates
    for gate in gates:
        print(f"[PHYSICAL_EVIDENCE] {gate.area}: {gate.status}")
        for line in gate.lines:
            print(f"  {'✅' if line.ok else '❌'} {line.text}")
    status = "PASS" if unified(gates) else "FAIL"
    print(f"[UnifiedGate] {(name or 'HISTORY').upper()} {status}")
    return 0 if status == "PASS" else 1
