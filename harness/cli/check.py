"""``harness check PATH``: re-judge a saved history and print the verdict in the VERIFY_LOG style.

The judging is ``harness.judge.rejudge``; this front end decides which areas and thresholds
to use -- ``--areas``, what the run recorded in its evidence.json, or a scenario's (named with
``--scenario`` or recorded without areas) -- and loads a scenario, and with it the system
under test, only in that last case.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.cli.judge_progress import judge_progress
from harness.errors import HarnessError, one_line, worst
from harness.history.validate import Reader
from harness.judge.areas import STANDARD_AREAS
from harness.judge.checks.coverage import AREA as COVERAGE_AREA
from harness.judge.gates import NOTHING_JUDGED, GateResult, outcome
from harness.judge.rejudge import Progress, judge_history, locate, parse_areas, recorded_plan
from harness.judge.thresholds import Thresholds, load_thresholds, thresholds
from harness.settings import assignments


def _scenario_plan(name: str, config_file: Path | None) -> tuple[tuple[str, ...], Thresholds]:
    """A scenario's areas and thresholds (its own settings over the config file's)."""
    from harness.run.config import load_config  # only here: a scenario module brings the engine with it
    from harness.run.scenario import load

    scenario = load(name)
    return scenario.areas, scenario.configure(load_config(config_file)).gates


def judged(path: Path, scenario_name: str | None = None, config_file: Path | None = None,
           areas: str | None = None, lenient: bool = False,
           gates: Sequence[str] = (), progress: Progress | None = None) -> tuple[str | None, tuple[GateResult, ...]]:
    """The scenario name (if known) and the gates of a saved history.

    ``areas`` (``--areas locks,races``) judges exactly those areas, each required to apply;
    ``lenient`` judges the lines that meet the history contract and fails a contract gate
    listing the others; ``gates`` (``--gate KEY=VALUE``) override thresholds, whichever were chosen;
    ``progress`` is called as the file is read.
    """
    chosen = parse_areas(areas)
    history, document = locate(path)
    name = scenario_name or document.get("scenario")
    recorded = None if scenario_name else recorded_plan(document, load_thresholds(config_file))
    if recorded is not None:
        judged_areas, limits = recorded
    elif name is not None:
        judged_areas, limits = _scenario_plan(name, config_file)
    else:
        judged_areas, limits = STANDARD_AREAS, load_thresholds(config_file)
    limits = thresholds(assignments(list(gates)), limits)
    counted = COVERAGE_AREA in (document.get("evidence") or {})  # the run reported its coverage: so does check
    reader = Reader(history)
    results = judge_history(reader, judged_areas, limits, chosen, str(path), lenient, progress, counted)
    for note in reader.notes:
        print(f"note: {note}")
    return name, results


def rejudge(path: Path, scenario_name: str | None, config_file: Path | None, areas: str | None = None,
            lenient: bool = False, allow_empty: bool = False, gates: Sequence[str] = ()) -> int:
    """Judge a saved history and print the verdict; return the exit code.

    0 PASS, 1 FAIL -- and 1 when no area found anything to judge, unless ``allow_empty``.
    """
    with judge_progress() as bar:
        name, results = judged(path, scenario_name, config_file, areas, lenient, gates, bar)
    for gate in results:
        print(f"[PHYSICAL_EVIDENCE] {gate.area}: {gate.status}" + (" (nothing to judge)" if gate.vacuous else ""))
        for line in gate.lines:
            print(f"  {'✅' if line.ok else '❌'} {line.text}")
    status = outcome(results)
    why = f" (no area found events it judges in {path}{'; allowed' if allow_empty else ''})"
    print(f"[UnifiedGate] {(name or 'HISTORY').upper()} {status}" + (why if status == NOTHING_JUDGED else ""))
    return 0 if status == "PASS" or (status == NOTHING_JUDGED and allow_empty) else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``harness check``."""
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                   help="run directories, events.jsonl or STRESS_TEST.log files; several are judged one by one "
                        "(exit 1 if any failed, else 2 if any was unreadable)")
    p.add_argument("--scenario", help="judge with this scenario's areas and thresholds")
    p.add_argument("--areas", help="judge exactly these areas (comma-separated keys), each required to apply")
    p.add_argument("--config", type=Path)
    p.add_argument("--lenient", action="store_true",
                   help="judge the lines that meet the history contract; report the others as a failed gate")
    p.add_argument("--allow-empty", action="store_true",
                   help="exit 0 when no area found anything to judge (the verdict is NOTHING JUDGED, never PASS)")
    p.add_argument("--gate", action="append", default=[], metavar="KEY=VALUE", dest="gates",
                   help="override one gate threshold (linearizability_seconds=60)")


def execute(args: argparse.Namespace) -> int:
    """Re-judge each saved history with the same gates."""
    def one(path: Path) -> int:
        return rejudge(path, args.scenario, args.config, args.areas, args.lenient, args.allow_empty, args.gates)

    if len(args.paths) == 1:
        return one(args.paths[0])
    codes = []
    for path in args.paths:
        print(f"== {path}", flush=True)
        try:
            codes.append(one(path))
        except HarnessError as exc:  # one unreadable file is reported, and the others still judged
            print(one_line(f"harness: error: {exc}"), file=sys.stderr, flush=True)
            codes.append(exc.exit_code)
    return worst(codes)
