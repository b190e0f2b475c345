"""Many controlled schedules of one workload: explore, stop at the first failure, shrink it, replay it.

A ``Workload`` runs its worker targets through whatever runner it is given (a
``Scheduler`` here) at a given size and says whether the end state is right. ``explore``
runs one non-preemptive calibration execution (it also measures ``k``, the preemption points
PCT draws its change points from), then schedules 0..N-1, each built from (seed, index) alone
by the strategy (by default the portfolio: each schedule says which member drew it).
``shrink`` reduces a failure the way hypothesis shrinks a choice sequence: it tries fewer
trades and fewer switches (chunks, then single ones) and keeps a candidate only when it
fails with the same violation and is smaller (fewer preemptions, then steps, then trades).
A schedule is saved as its switches -- the steps where the choice differs from the
non-preemptive default -- so ``replay`` re-runs it exactly and says so.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.explore.scheduler import Scheduler, Strategy, Trace
from harness.explore.strategies import DEFAULT_STRATEGY, KeyedReplay, ReplayStrategy, make_strategy, plan

FORMAT = "harness.schedule/1"
DEFAULT_SCHEDULES = 200  # the budget the known-broken components are caught within (tests/schedules)
Runner = Callable[[Sequence[Callable[[], None]]], Any]


@dataclass(frozen=True)
class Outcome:
    """How one execution ended: ``violation`` names what went wrong ("" when nothing did)."""

    violation: str = ""
    detail: tuple[str, ...] = ()
    events: Sequence[Any] = ()


@dataclass(frozen=True)
class Workload:
    """Something to run under control: ``run(runner, trades)`` returns its judged outcome.

    ``narrow(names)``, when given, is the same workload with only the named workers (shrinking
    drops the workers a failure does not need; a saved schedule names the ones it ran).
    """

    name: str
    run: Callable[[Runner, int], Outcome]
    trades: int
    workers: tuple[str, ...] = ()
    narrow: Callable[[tuple[str, ...]], Workload] | None = None

    def only(self, names: Sequence[str]) -> Workload:
        """This workload with only ``names`` (in this workload's order); itself when it has them all."""
        kept = tuple(n for n in self.workers if n in set(names))
        if kept == self.workers or self.narrow is None:
            return self
        return self.narrow(kept)


@dataclass(frozen=True)
class Execution:
    """One controlled execution: its size, its decisions, its outcome and the strategy that drew it."""

    label: str
    trades: int
    trace: Trace
    outcome: Outcome
    diverged: tuple[int, ...] = ()
    strategy: str = "non-preemptive"

    @property
    def violation(self) -> str:
        """The violation: a deadlock, a stall or a worker crash first, else the workload's verdict."""
        t = self.trace
        if t.deadlock:
            return "deadlock"
        if t.stalled:
            return "stalled"
        if t.errors:
            return "worker error"
        return self.outcome.violation

    def details(self) -> tuple[str, ...]:
        """Lines saying what went wrong."""
        t = self.trace
        if t.deadlock:
            return tuple(f"{w} waits for {r}" for w, r in t.deadlock.items())
        if t.stalled:
            return (t.stalled,)
        if t.errors:
            return tuple(f"{w}: {e}" for w, e in t.errors.items())
        return self.outcome.detail


@dataclass(frozen=True)
class Exploration:
    """What ``explore`` did: counts, rates and the first failing execution (if any)."""

    strategy: str
    seed: int
    depth: int
    schedules: int
    steps: int
    distinct: int
    elapsed_s: float
    failure: Execution | None
    last: Execution
    points: int = 0  # preemption points passed in all executions (k summed)
    first: int = 0
    digests: tuple[str, ...] = ()  # each schedule's interleaving, in index order from ``first``

    @property
    def found_by(self) -> str:
        """The strategy whose schedule failed first ("" when none did)."""
        return self.failure.strategy if self.failure else ""

    @property
    def mean_k(self) -> float:
        """Preemption points per execution."""
        return self.points / max(self.schedules, 1)

    @property
    def per_second(self) -> tuple[float, float]:
        """(schedules/s, steps/s)."""
        elapsed = max(self.elapsed_s, 1e-9)
        return self.schedules / elapsed, self.steps / elapsed


def plain_threads(targets: Sequence[Callable[[], Any]]) -> None:
    """The uncontrolled runner: plain threads released together by a barrier, joined."""
    barrier = threading.Barrier(len(targets))
    threads = [threading.Thread(target=lambda t=t: (barrier.wait(), t())) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def execute(workload: Workload, strategy: Strategy, trades: int, label: str, stall_s: float = 10.0,
            drawn_by: str = "non-preemptive") -> Execution:
    """Run the workload once under ``strategy`` (``drawn_by`` names it in reports)."""
    scheduler = Scheduler(strategy, stall_s=stall_s, names=workload.workers)
    outcome = workload.run(scheduler, trades)
    if scheduler.trace is None:
        raise ConfigError(f"{workload.name}: the workload never ran its workers through the scheduler")
    diverged = tuple(getattr(strategy, "diverged", ()))
    return Execution(label, trades, scheduler.trace, outcome, diverged, drawn_by)


def replay(workload: Workload, switches: Sequence[tuple[int, int]], trades: int, label: str = "replay") -> Execution:
    """Run the workload following ``switches`` ((step, worker) pairs), defaults elsewhere."""
    return execute(workload, ReplayStrategy(dict(switches)), trades, label)


def explore(workload: Workload, schedules: int, seed: int, strategy: str = DEFAULT_STRATEGY,
            depth: int = 3, first: int = 0) -> Exploration:
    """Run schedules ``first .. first+schedules-1`` (after the calibration one); stop at the first that fails.

    Schedule ``i`` depends on (seed, i) and the calibration alone, so chunks of indices run on
    several workers explore exactly the schedules one worker would.
    """
    trades = workload.trades
    started = time.perf_counter()
    last = replay(workload, (), trades, "calibration")
    k, calibration = last.trace.points, last.trace.digest
    steps, points, count = len(last.trace.steps), k, 1
    explored: list[str] = []
    index = first
    while not last.violation and index < first + schedules:
        drawn_by = plan(strategy, index, depth).label
        last = execute(workload, make_strategy(strategy, seed, index, depth, k), trades,
                       f"schedule {index} ({drawn_by})", drawn_by=drawn_by)
        steps, points, count, index = steps + len(last.trace.steps), points + last.trace.points, count + 1, index + 1
        explored.append(last.trace.digest)
    failure = last if last.violation else None
    return Exploration(strategy, seed, depth, count, steps, len({calibration, *explored}),
                       time.perf_counter() - started, failure, last, points, first, tuple(explored))


Keyed = tuple[tuple[tuple[int, str, int], int], ...]  # switches as ((worker, point, arrival), chosen), in order


@dataclass(frozen=True)
class Shrunk:
    """The minimal failing execution, the workload it ran (fewer workers, maybe) and the attempts made."""

    execution: Execution
    workload: Workload
    attempts: int


def shrink(workload: Workload, failure: Execution, budget: int = 300) -> Shrunk:
    """A minimal execution failing with the same violation: fewer workers, preemptions, steps, trades.

    Candidates keep each switch at the same arrival of the same worker at the same point
    (``KeyedReplay``), so dropping one leaves the others meaning what they meant. Delta
    debugging drops workers first (with the switches among the rest), then switches; fewer
    trades are tried, and switches moved to earlier arrivals.
    """
    best, current, attempts = failure, workload, 0

    def attempt(switches: Keyed, trades: int, candidate_workload: Workload | None = None) -> bool:
        nonlocal best, current, attempts
        if attempts >= budget:
            return False
        attempts += 1
        work = candidate_workload or current
        candidate = execute(work, KeyedReplay(dict(switches)), trades, f"{failure.label}, shrunk",
                            drawn_by=failure.strategy)
        if candidate.violation == failure.violation and _size(candidate) < _size(best):
            best, current = candidate, work
            return True
        return False

    def keyed() -> Keyed:
        return tuple(best.trace.keyed_switches().items())

    def keeping(kept: Sequence[str]) -> bool:  # only these workers, the switches among them
        narrowed = current.only(kept) if kept else current
        return narrowed is not current and attempt(
            _renamed(keyed(), best.trace.workers, narrowed.workers), best.trades, narrowed)

    while current.narrow is not None and _ddmin(current.workers, keeping, lambda: attempts < budget):
        pass
    progress = True
    while progress and attempts < budget:
        # Fewer trades: the switches where they were, at first arrivals, or one moved earlier.
        progress = any(attempt(candidate, t) for t in range(1, best.trades)
                       for candidate in (keyed(), _first(keyed()), *_earlier(keyed())))
        progress = _ddmin(keyed(), lambda s: attempt(s, best.trades), lambda: attempts < budget) or progress
        progress = any(attempt(candidate, best.trades) for candidate in _earlier(keyed())) or progress
        if not progress and best.trace.preemptions > 1:  # stuck: one preemption alone, by any worker at the same point
            progress = any(attempt(c, best.trades) for c in _alone(keyed(), len(best.trace.workers)))
    return Shrunk(best, current, attempts)


def _size(execution: Execution) -> tuple[int, int, int, int]:
    """What shrinking minimises, in order: workers, preemptions, steps, trades."""
    trace = execution.trace
    return len(trace.workers), trace.preemptions, len(trace.steps), execution.trades


def _ddmin(items: Sequence[Any], attempt: Callable[[Any], bool], allowed: Callable[[], bool]) -> bool:
    """Delta debugging: drop chunks of ``items`` (all of them first), halving their size; True once one drop held."""
    items = tuple(items)
    size = len(items)
    while items and size >= 1 and allowed():
        for start in range(0, len(items), size):
            if attempt(items[:start] + items[start + size:]):
                return True
        size //= 2
    return False


def _renamed(switches: Keyed, names: Sequence[str], kept: Sequence[str]) -> Keyed:
    """The switches among ``kept`` workers, renumbered to their places in ``kept``."""
    place = {name: i for i, name in enumerate(kept)}
    return tuple(((place[names[w]], point, arrival), place[names[chosen]])
                 for (w, point, arrival), chosen in switches if names[w] in place and names[chosen] in place)


def _first(switches: Keyed) -> Keyed:
    """The same switches at each worker's first arrival at their point: what a smaller workload still reaches."""
    return tuple(((worker, point, 0), chosen) for (worker, point, _), chosen in switches)


def _alone(switches: Keyed, workers: int) -> list[Keyed]:
    """Single-switch candidates: any worker preempted at a switch's point and arrival, for any other."""
    keys = dict.fromkeys((point, arrival) for (_, point, arrival), _ in switches)
    return [(((w, point, arrival), other),) for point, arrival in keys for w in range(workers)
            for other in range(workers) if other != w]


def _earlier(switches: Keyed) -> list[Keyed]:
    """Candidates moving one switch to an earlier arrival at its point (shortening the prefix before it).

    One and two arrivals back (points often alternate, a read then a write), half-way, the first.
    """
    return [switches[:i] + (((worker, point, earlier), chosen),) + switches[i + 1:]
            for i, ((worker, point, arrival), chosen) in enumerate(switches)
            for earlier in sorted({arrival - 1, arrival - 2, arrival // 2, 0}) if 0 <= earlier < arrival]


@dataclass(frozen=True)
class SavedSchedule:
    """A schedule as ``schedule.json`` holds it."""

    workload: str
    trades: int
    workers: tuple[str, ...]
    switches: tuple[tuple[int, int], ...]
    steps: int
    digest: str
    violation: str
    origin: dict[str, Any] = field(default_factory=dict)


def save(execution: Execution, workload: Workload, path: Path, origin: dict[str, Any]) -> Path:
    """Write ``schedule.json``: what replays the execution exactly."""
    names = execution.trace.workers
    document = {
        "format": FORMAT, "workload": workload.name, "trades": execution.trades, "workers": list(names),
        "switches": [[step, names[worker]] for step, worker in execution.trace.switches],
        "steps": len(execution.trace.steps), "preemptions": execution.trace.preemptions,
        "digest": execution.trace.digest, "violation": execution.violation, "detail": list(execution.details()),
        "origin": origin,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load(path: Path) -> SavedSchedule:
    """Read ``schedule.json``; anything malformed is a ConfigError naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT:
            raise ValueError(f"format is {raw.get('format')!r}, expected {FORMAT!r}")
        workers = tuple(str(w) for w in raw["workers"])
        switches = tuple((int(step), workers.index(str(name))) for step, name in raw["switches"])
        return SavedSchedule(str(raw["workload"]), int(raw["trades"]), workers, switches, int(raw["steps"]),
                             str(raw["digest"]), str(raw["violation"]), dict(raw.get("origin") or {}))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the schedule: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a schedule file: {exc}") from None


def replay_saved(workload: Workload, saved: SavedSchedule) -> tuple[Execution, bool]:
    """Replay a saved schedule (on the workers it names); True when every decision and the violation came out the same."""
    if workload.workers and (not set(saved.workers) <= set(workload.workers)
                             or (saved.workers != workload.workers and workload.narrow is None)):
        raise ConfigError(f"schedule workers {', '.join(saved.workers)} do not match this run's "
                          f"{', '.join(workload.workers)}")
    execution = replay(workload.only(saved.workers) if workload.workers else workload, saved.switches, saved.trades)
    exact = (not execution.diverged and execution.trace.digest == saved.digest
             and execution.violation == saved.violation)
    return execution, exact


def timeline(trace: Trace, context: int = 4, limit: int = 60) -> list[str]:
    """A per-worker text timeline of the steps around each switch (and the last steps), at most ``limit`` lines.

    Context around the switches narrows until everything fits; if even one step each does
    not, the earliest switches are left out (a first line says how many steps are not shown).
    """
    marks = [step for step, _ in trace.switches] + [len(trace.steps) - 1]
    note: list[str] = []
    for width in range(context, -1, -1):
        shown = sorted({i for m in marks for i in range(m - width, m + width + 1) if 0 <= i < len(trace.steps)})
        if len(shown) + _gaps(shown) + 1 <= limit:
            break
    else:  # not even the switches alone fit: leave the earliest out, and say so
        while len(shown) + _gaps(shown) + 2 > limit:
            shown = shown[1:]
        note = [f"  ({shown[0]} earlier steps not shown)"]
    names = trace.workers
    cell = max([len(n) for n in names] + [16]) + 2
    rows = ["step  " + "".join(name.ljust(cell) for name in names).rstrip(), *note]
    previous = None
    for i in shown:
        if previous is not None and i != previous + 1:
            rows.append("  ...")
        step = trace.steps[i]
        cells = [""] * len(names)
        if step.worker >= 0:
            cells[step.worker] = step.point
        if step.chosen != step.default:
            cells[step.chosen] = (cells[step.chosen] + " " if cells[step.chosen] else "") + "<- switched to"
        rows.append(f"{i:>4}  " + "".join(c.ljust(cell) for c in cells).rstrip())
        previous = i
    return rows


def _gaps(shown: Sequence[int]) -> int:
    """The "..." lines between the shown steps."""
    return sum(1 for a, b in zip(shown, shown[1:], strict=False) if b != a + 1)
