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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.history.log import Event, HistoryError
from harness.history.validate import Reader
from harness.history.validate import load as load_checked
from harness.judge.areas import STANDARD_AREAS, Judging, UnknownArea, judge, known
from harness.judge.checks.coverage import CoverageChecker
from harness.judge.gates import GateResult, contract_gate
from harness.judge.thresholds import Thresholds, thresholds

Progress = Callable[[int, int, int], None]  # events judged, bytes read, bytes in the file


def read_history(path: Path, lenient: bool = False) -> tuple[list[Event], str | None]:
    """Events of a run directory, JSONL history or human log, and the scenario if recorded."""
    history, document = locate(path)
    checked = load_checked(history, lenient)
    if not checked.events:
        raise HistoryError(f"{history}: the history is empty" + (f" ({checked.problems[0]})" if checked.problems else ""))
    return list(checked.events), document.get("scenario")


def locate(path: Path) -> tuple[Path, Mapping[str, Any]]:
    """The history file of a run directory (its events.jsonl, or .gz), a JSONL history or a human log,
    and the run's evidence.json when it has one."""
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
    return path, document


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


def judge_history(reader: Reader, areas: tuple[str, ...], limits: Thresholds, chosen: tuple[str, ...] = (),
                  source: str = "the history", lenient: bool = False,
                  progress: Progress | None = None, counts: bool = False) -> tuple[GateResult, ...]:
    """The gates of ``areas`` (``chosen`` ones replace them, each required), judged in one pass over the file.

    Strict (not ``lenient``): the file's first problem is a HistoryError after the pass, as if
    it had been read before judging; lenient: a failed contract gate lists the lines set aside.
    State-machine coverage is judged when the history declares transitions, and its counts
    shown when ``counts`` (the run reported them).
    """
    try:
        required = chosen + tuple(a for a in known(limits.require_areas) if a not in chosen)
    except UnknownArea as exc:
        raise ConfigError(f"gates.require_areas: {exc}") from None
    judged = (chosen or areas) + tuple(a for a in required if a not in (chosen or areas))
    judging = Judging(judged, required, limits, None if progress is None else lambda n: progress(
        n, reader.position(), reader.size))
    coverage = CoverageChecker()
    for event in reader:
        judging.feed(event)
        coverage.feed(event)
    if not lenient:
        reader.refuse()
    if not judging.events:
        first = f" ({reader.problems[0]})" if reader.problems else ""
        raise HistoryError(f"{reader.path}: the history is empty{first}")
    # Areas chosen by name are all the caller asked for; coverage comes with a whole re-judging.
    covered = () if chosen else coverage.result(limits.require_coverage, counts)
    gates = judge(judging.result(covered), limits)
    if not any(g.applicable for g in gates):
        raise ConfigError(f"{source}: no events any checker can judge")
    contract = contract_gate(reader.problems, judging.events)
    return ((contract,) if contract else ()) + gates
