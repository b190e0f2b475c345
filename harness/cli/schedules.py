"""``harness run NAME --schedules N`` and ``--replay-schedule PATH``: controlled runs as a CI gate.

Explores N schedules of the scenario's workload (its own, or the reference engine's),
shrinks the first failure, saves it as ``schedule.json`` in the run directory, replays it
to confirm, and writes the usual report with a "Controlled Schedules" gate whose evidence
holds the counts, rates, the minimal schedule and its per-worker timeline.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.explore.exploration import (
    Execution,
    Exploration,
    Workload,
    explore,
    load,
    replay_saved,
    save,
    shrink,
    timeline,
)
from harness.explore.strategies import DEFAULT_STRATEGY, STRATEGIES, describe
from harness.history.events import f
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line
from harness.run.config import HarnessConfig
from harness.run.plugins import Plugins
from harness.run.scenario import Scenario, Verdict, make_dir
from harness.run.workloads import workload_of

AREA = "Controlled Schedules"
DEPTH = 3


@evidence_record
class MinimalSchedule:
    """The failing schedule shrunk, saved as schedule.json and replayed."""

    steps: int = f("scheduling decisions", "count")
    preemptions: int = f("switches away from a worker that could go on", "count")
    trades: int = f("trades per worker", "count")
    shrink_attempts: int = f("candidate schedules tried while shrinking", "count")
    replayed_exactly: bool = f("replaying schedule.json made the same decisions and the same violation")


@evidence_record
class ExplorationFigures:
    """What ``--schedules N`` explored, and the first failure shrunk."""

    strategy: str = f("how schedules were drawn (portfolio: random, pct depth 1..d and pos in turn)")
    depth: int = f("PCT bug depth d")
    found_by: str = f("the strategy that drew the first failing schedule (empty when none failed)")
    seed: int = f("seed of the strategy")
    schedules: int = f("schedules run", "count")
    steps: int = f("scheduling decisions made in all", "count")
    preemption_points: float = f("k: points per execution where a worker could be preempted", "count")
    distinct_interleavings: int = f("distinct orders of the scheduling points", "count")
    schedules_per_s: float = f("schedules run per second", "1/s")
    steps_per_s: float = f("scheduling decisions per second", "1/s")
    violation: str = f("what the first failing schedule violated (empty when none did)")
    minimal: MinimalSchedule | None = f("the failing schedule shrunk (null when none failed)")


@evidence_record
class ReplayFigures:
    """What ``--replay-schedule PATH`` did."""

    replayed_exactly: bool = f("the replay made the saved decisions and met the saved violation")
    steps: int = f("scheduling decisions replayed", "count")
    violation: str = f("what the replay violated (empty when nothing)")


def add_schedule_arguments(parser: argparse.ArgumentParser, count: Any) -> None:
    """The controlled-run flags of ``harness run``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--schedules", type=count, help="explore N controlled schedules (thread mode)")
    group.add_argument("--replay-schedule", type=Path, metavar="PATH", help="replay a saved schedule.json exactly")
    parser.add_argument("--first-schedule", type=int, default=0, metavar="I",
                        help="explore schedule indices I .. I+N-1 (one chunk of a sweep; default 0)")
    parser.add_argument("--strategy", choices=STRATEGIES,
                        help=f"how schedules are drawn (default {DEFAULT_STRATEGY}: random, pct depth 1..d, pos)")
    parser.add_argument("--depth", type=count, help=f"PCT bug depth d, d-1 priority change points (default {DEPTH})")


def wanted(args: argparse.Namespace) -> bool:
    """True when the command line asks for a controlled run; ConfigError for a flag that would be ignored."""
    if getattr(args, "schedules", None) is not None or getattr(args, "replay_schedule", None) is not None:
        return True
    if getattr(args, "strategy", None) or getattr(args, "depth", None) is not None \
            or getattr(args, "first_schedule", 0):
        raise ConfigError("--strategy/--depth/--first-schedule apply to controlled runs: add --schedules N")
    return False


def run_controlled(args: argparse.Namespace, scenario: Scenario, config: HarnessConfig, plugins: Plugins,
                   out: Path, flags: list[str]) -> int:
    """Explore or replay, write the report directory, print the verdict; return the exit code."""
    from harness.report import write_reports

    verdict = controlled(args, scenario, config, plugins, out, flags)
    write_reports(verdict, out)
    gate = verdict.gates[0]
    for line in gate.lines:
        print(f"{'✅' if line.ok else '❌'} {line.text}")
    for row in gate.counterexamples.get("timeline", ()):
        print(row["row"])
    print(f"[UnifiedGate] {scenario.name.upper()} {verdict.status}\nreport: {out}")
    if not verdict.passed:
        print(f"replay: {verdict.command}")
    return verdict.exit_code


def controlled(args: argparse.Namespace, scenario: Scenario, config: HarnessConfig, plugins: Plugins,
               out: Path, flags: list[str]) -> Verdict:
    """Explore or replay (schedule.json lands in ``out``); the verdict, its reports not yet written."""
    depth = DEPTH if args.depth is None else args.depth
    if depth < 1:
        raise ConfigError(f"--depth: must be at least 1, got {depth}")
    if args.schedules is not None and args.schedules < 1:
        raise ConfigError(f"--schedules: must be at least 1, got {args.schedules}")
    if args.first_schedule < 0:
        raise ConfigError(f"--first-schedule: must be at least 0, got {args.first_schedule}")
    if getattr(args, "mode", None) == "process":
        raise ConfigError("controlled runs are thread mode: worker processes cannot be scheduled from here")
    if getattr(args, "duration", None) is not None:
        raise ConfigError("controlled runs are sized in trades (--trades), not --duration")
    if getattr(args, "serve", None) is not None:
        raise ConfigError("--serve watches one live run; a controlled run is many executions")
    started = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    make_dir(out)
    workload = workload_of(scenario, config, plugins)
    evidence: Evidence[object]
    if args.replay_schedule:
        gate, evidence, execution = _replay(workload, args.replay_schedule)
        command = _command(scenario, config, [*flags, "--replay-schedule", str(args.replay_schedule)])
    else:
        exploration = explore(workload, args.schedules, config.run.seed, args.strategy or DEFAULT_STRATEGY, depth,
                              args.first_schedule)
        gate, evidence, execution = _explored(workload, exploration, out)
        chunk = ["--first-schedule", str(args.first_schedule)] if args.first_schedule else []
        command = _command(scenario, config, [*flags, "--replay-schedule", str(out / "schedule.json")]
                           if exploration.failure else [*flags, "--schedules", str(args.schedules), *chunk])
    return Verdict(scenario, config, out.name, (gate,), (evidence,), execution.outcome.events, started, command,
                   plugins=plugins.named())


def _command(scenario: Scenario, config: HarnessConfig, flags: list[str]) -> str:
    """The command that reruns this controlled run (mode and size come from the schedule)."""
    words = ["harness", "run", scenario.name, "--seed", str(config.run.seed),
             "--symbols", ",".join(config.run.symbol_names)]
    return shlex.join([*words, *flags])


def _explored(workload: Workload, ex: Exploration,
              out: Path) -> tuple[GateResult, Evidence[ExplorationFigures], Execution]:
    per_schedule, per_step = ex.per_second
    indices = f", indices {ex.first}-{ex.first + len(ex.digests) - 1}" if ex.first else ""
    lines = [Line(True, f"Explored {ex.schedules} schedules (the non-preemptive one, then "
                        f"{describe(ex.strategy, ex.depth)}, seed {ex.seed}{indices}): "
                        f"{ex.steps} steps, k = {ex.mean_k:.0f} preemption points per execution, "
                        f"{ex.distinct} distinct interleavings, {per_schedule:.1f} schedules/s, {per_step:.0f} steps/s")]
    figures = ExplorationFigures(
        strategy=ex.strategy, depth=ex.depth, found_by=ex.found_by, seed=ex.seed, schedules=ex.schedules,
        steps=ex.steps, preemption_points=round(ex.mean_k, 1), distinct_interleavings=ex.distinct,
        schedules_per_s=round(per_schedule, 1), steps_per_s=round(per_step, 1),
        violation=ex.failure.violation if ex.failure else "", minimal=None)
    if ex.failure is None:
        lines.append(Line(True, "No schedule violated a correctness gate"))
        return GateResult("schedules", AREA, tuple(lines)), Evidence(AREA, figures), ex.last
    shrunk = shrink(workload, ex.failure)
    minimal, attempts = shrunk.execution, shrunk.attempts
    path = save(minimal, workload, out / "schedule.json",
                {"strategy": ex.strategy, "depth": ex.depth, "seed": ex.seed, "schedule": ex.failure.label})
    _, exact = replay_saved(workload, load(path))
    t = minimal.trace
    (out / "schedule_timeline.txt").write_text("\n".join(timeline(t)) + "\n", encoding="utf-8")
    lines += [
        Line(False, f"{ex.failure.label} (seed {ex.seed}, found by {ex.found_by}) violated: {ex.failure.violation}"),
        *(Line(False, f"  {text}") for text in minimal.details()),
        Line(False, f"Minimal failing schedule: {t.preemptions} preemptions, {len(t.switches)} switches, "
                    f"{len(t.steps)} steps, {minimal.trades} trades per worker (from {ex.failure.trace.preemptions} "
                    f"preemptions, {len(ex.failure.trace.steps)} steps, {ex.failure.trades} trades; "
                    f"{attempts} shrink attempts) -> {path}"),
        Line(exact, "Replay of schedule.json: the same decisions and the same violation"),
    ]
    rows = timeline(t)
    gate = GateResult("schedules", AREA, tuple(lines),
                      {"timeline": tuple({"row": row} for row in rows)})
    figures_min = MinimalSchedule(len(t.steps), t.preemptions, minimal.trades, attempts, exact)
    return gate, Evidence(AREA, replace(figures, minimal=figures_min)), minimal


def _replay(workload: Workload, path: Path) -> tuple[GateResult, Evidence[ReplayFigures], Execution]:
    saved = load(path)
    if saved.workload != workload.name:
        raise ConfigError(f"{path}: a schedule of {saved.workload!r}, not of {workload.name!r}")
    execution, exact = replay_saved(workload, saved)
    lines = (
        Line(exact, f"Replayed {path}: {len(execution.trace.steps)} steps of {saved.steps}, "
                    f"{'the same' if exact else 'NOT the same'} decisions and violation"),
        Line(not execution.violation, f"Violation: {execution.violation or 'none'}"),
        *(Line(False, f"  {text}") for text in execution.details()),
    )
    rows = timeline(execution.trace)
    figures = ReplayFigures(exact, len(execution.trace.steps), execution.violation)
    gate = GateResult("schedules", AREA, lines, {"timeline": tuple({"row": r} for r in rows)})
    return gate, Evidence(AREA, figures), execution
