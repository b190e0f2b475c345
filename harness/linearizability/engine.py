"""Linearizability checking of operation histories (Wing-Gong-Lowe search, as Knossos/Porcupine).

A history is a list of operations, each an interval from invocation to completion. The
history is linearizable when every completed operation can be given one instant inside its
interval such that, taken in that order, the operations are legal for a sequential model.

Jepsen semantics: a ``:fail`` operation did not happen and is dropped; an ``:info`` operation
may or may not have happened, and since its reply never came its interval is open on the
right (it may be linearised anywhere after its invocation, or not at all); operations of
non-client processes (the nemesis) are not part of the history.

The search is the Wing-Gong-Lowe algorithm with Lowe's memoisation of (linearised set,
model state) pairs, run separately for each key (linearizability is local, so each lock
name or register is checked on its own, which keeps each search small). It is bounded by a
budget of steps and seconds; a search that runs out answers "unknown", never "true".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["true", "false", "unknown"]
Kind = Literal["invoke", "ok", "fail", "info"]


class MalformedHistory(ValueError):
    """Records that do not form a history (a completion without an invocation)."""


@dataclass(frozen=True)
class Record:
    """One line of a Jepsen-style history: an invocation or a completion by a process."""

    process: Hashable
    type: Kind
    f: str
    value: Any = None
    index: int = 0
    time: int | float | None = None
    key: Hashable = None
    client: bool = True
    line: int | None = None


@dataclass(frozen=True)
class Operation:
    """An invocation paired with its completion; ``complete_index`` is None for :info."""

    process: Hashable
    f: str
    value: Any
    invoke_index: int
    invoke_time: int | float | None
    complete_index: int | None
    complete_time: int | float | None
    output: Any = None
    key: Hashable = None

    @property
    def is_info(self) -> bool:
        """True when the outcome is unknown (the operation may or may not have happened)."""
        return self.complete_index is None

    def describe(self) -> str:
        """Short human-readable form, e.g. ``p0 acquire nil -> 3 [12..15]``."""
        end = "?" if self.complete_index is None else str(self.complete_index)
        key = "" if self.key is None else f" key={self.key}"
        return f"{self.process} {self.f} {self.value!r} -> {self.output!r} [{self.invoke_index}..{end}]{key}"


@dataclass(frozen=True)
class Model:
    """A sequential specification: initial state and a step function over hashable states."""

    name: str
    init: Hashable
    step: Callable[[Hashable, Operation], tuple[bool, Hashable]]


@dataclass(frozen=True)
class Budget:
    """Limits of one check; None means unlimited."""

    steps: int | None = 1_000_000
    seconds: float | None = 10.0


@dataclass(frozen=True)
class Result:
    """Verdict of a check, with the counterexample when it is "false"."""

    verdict: Verdict
    exhausted: str | None = None
    failed_op: Operation | None = None
    linearized_prefix: tuple[Operation, ...] = ()
    key: Hashable = None
    steps: int = 0

    def summary(self) -> str:
        """One line saying what was found."""
        if self.verdict == "true":
            return f"linearizable ({self.steps} steps)"
        if self.verdict == "unknown":
            return f"unknown: {self.exhausted} budget exhausted after {self.steps} steps"
        assert self.failed_op is not None
        return (
            f"not linearizable: cannot linearize {self.failed_op.describe()} "
            f"after a linearizable prefix of {len(self.linearized_prefix)} operations"
        )


def operations(records: Iterable[Record]) -> list[Operation]:
    """Pair invocations with completions per (process, key), dropping :fail and non-client ops.

    An invocation that never completes becomes an :info operation, as in Jepsen.
    """
    open_: dict[tuple[Hashable, Hashable], Record] = {}
    done: list[tuple[int, Operation]] = []
    for rec in records:
        if not rec.client:
            continue
        slot = (rec.process, rec.key)
        if rec.type == "invoke":
            if slot in open_:
                raise MalformedHistory(f"process {rec.process} invoked {rec.f} with {open_[slot].f} outstanding{_at(rec)}")
            open_[slot] = rec
            continue
        invoke = open_.pop(slot, None)
        if invoke is None:
            raise MalformedHistory(f"process {rec.process} completed {rec.f} without an invocation{_at(rec)}")
        if rec.type != "fail":
            done.append((invoke.index, _pair(invoke, None if rec.type == "info" else rec)))
    done.extend((rec.index, _pair(rec, None)) for rec in open_.values())
    done.sort(key=lambda item: item[0])
    return [op for _, op in done]


def _at(rec: Record) -> str:
    return "" if rec.line is None else f" (line {rec.line})"


def _pair(invoke: Record, complete: Record | None) -> Operation:
    return Operation(
        process=invoke.process,
        f=invoke.f,
        value=invoke.value,
        invoke_index=invoke.index,
        invoke_time=invoke.time,
        complete_index=None if complete is None else complete.index,
        complete_time=None if complete is None else complete.time,
        output=None if complete is None else complete.value,
        key=invoke.key,
    )


class _Clock:
    """Counts search steps against a Budget; says which limit ran out."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.steps = 0
        self._deadline = None if budget.seconds is None else time.monotonic() + budget.seconds

    def tick(self) -> str | None:
        """Count one step; return the name of an exhausted budget, or None."""
        self.steps += 1
        if self.budget.steps is not None and self.steps > self.budget.steps:
            return "steps"
        # Reading the clock every step would dominate small searches.
        if self._deadline is not None and self.steps % 1024 == 0 and time.monotonic() > self._deadline:
            return "seconds"
        return None


def check(ops: Sequence[Operation], model: Model, budget: Budget = Budget()) -> Result:
    """Check a history against a model, each key on its own; the budget is shared by all keys."""
    by_key: dict[Hashable, list[Operation]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    clock = _Clock(budget)
    for key, key_ops in by_key.items():
        result = _check_one(key_ops, model, clock, key)
        # An exhausted budget is shared, so the keys not yet checked could only be unknown too.
        if result.verdict != "true":
            return result
    return Result("true", steps=clock.steps)


def _entries(ops: Sequence[Operation]) -> list[tuple[int, int, bool]]:
    """Call and return entries (time, op id, is_call) in time order; :info ops never return.

    Entries are ordered by history index; an :info op's return is placed after every other
    entry (completion at +infinity), so reaching it means every completed op is linearised.
    """
    last = max((op.complete_index or op.invoke_index for op in ops), default=0) + 1
    entries = []
    for i, op in enumerate(ops):
        entries.append((op.invoke_index, i, True))
        entries.append((last if op.complete_index is None else op.complete_index, i, False))
    # At equal times calls sort first: ops that touch the same instant count as concurrent.
    entries.sort(key=lambda e: (e[0], not e[2]))
    return entries


def _check_one(ops: Sequence[Operation], model: Model, clock: _Clock, key: Hashable) -> Result:
    """Wing-Gong-Lowe search over one key's operations."""
    entries = _entries(ops)
    n = len(entries)
    # A doubly linked list over entries; index n is the head sentinel.
    nxt = [(i + 1) % (n + 1) for i in range(n + 1)]
    prv = [(i - 1) % (n + 1) for i in range(n + 1)]
    partner = [0] * n
    call_of = {}
    for pos, (_, op_id, is_call) in enumerate(entries):
        if is_call:
            call_of[op_id] = pos
        else:
            partner[call_of[op_id]] = pos
            partner[pos] = call_of[op_id]

    def lift(pos: int) -> None:
        for p in (pos, partner[pos]):
            nxt[prv[p]] = nxt[p]
            prv[nxt[p]] = prv[p]

    def unlift(pos: int) -> None:
        for p in (partner[pos], pos):
            prv[nxt[p]] = p
            nxt[prv[p]] = p

    state = model.init
    linearized = 0
    cache: set[tuple[int, int, Hashable]] = {_memo(0, state)}
    stack: list[tuple[int, Hashable]] = []
    best: tuple[tuple[int, ...], int] = ((), -1)
    pos = nxt[n]
    while pos != n:
        _, op_id, is_call = entries[pos]
        if ops[op_id].complete_index is None and not is_call:
            # Only :info ops remain unlinearised; they may be left out.
            break
        exhausted = clock.tick()
        if exhausted:
            return Result("unknown", exhausted=exhausted, key=key, steps=clock.steps)
        if is_call:
            ok, new_state = model.step(state, ops[op_id])
            marked = linearized | (1 << op_id)
            memo = _memo(marked, new_state) if ok else None
            if memo is not None and memo not in cache:
                cache.add(memo)
                stack.append((pos, state))
                state, linearized = new_state, marked
                lift(pos)
                pos = nxt[n]
            else:
                pos = nxt[pos]
            continue
        # A return entry: its op could not be linearised before it returned.
        if len(stack) > len(best[0]) or best[1] < 0:
            best = (tuple(entries[p][1] for p, _ in stack), op_id)
        if not stack:
            return _refuted(ops, best, key, clock)
        call_pos, state = stack.pop()
        linearized &= ~(1 << entries[call_pos][1])
        unlift(call_pos)
        pos = nxt[call_pos]
    return Result("true", key=key, steps=clock.steps)


def _memo(linearized: int, state: Hashable) -> tuple[int, int, Hashable]:
    """Cache key of a search configuration, without the run of linearised ops it starts with.

    Ops are numbered in invocation order and mostly linearised in that order, so dropping the
    low run of ones keeps each key about as wide as the concurrency, not the history.
    """
    low = (~linearized & (linearized + 1)).bit_length() - 1
    return low, linearized >> low, state


def _refuted(ops: Sequence[Operation], best: tuple[tuple[int, ...], int], key: Hashable, clock: _Clock) -> Result:
    prefix, failed = best
    return Result(
        "false",
        failed_op=ops[failed],
        linearized_prefix=tuple(ops[i] for i in prefix),
        key=key,
        steps=clock.steps,
    )
