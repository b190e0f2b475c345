"""Checking a history against a model: each key (P-compositionality) searched on its own.

The operation and model types are ``operations``; the Wing-Gong-Lowe search of one key is
``search``; a model may give a fast path (``Model.fast``) that decides a key without it.

Each key's search has its own step budget, and the searches are interleaved in rounds of
growing slices, smallest key first: a key that refutes the history in a few thousand steps
is found before a hard key spends the budget, and one refuted key decides "false" whatever
the others would say. The seconds budget bounds the whole check.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager

from harness.judge.linearizability.operations import Budget, KeyVerdict, Model, Operation, Result, Verdict, invalid
from harness.judge.linearizability.search import Search, search

DEFAULT_BUDGET = Budget()  # 1 M steps a key, 10 s
FIRST_SLICE = 1024  # steps each key searches in the first round; the slice doubles each round
MAX_SLICE = 1 << 16  # the clock is read between slices: about 0.1 s of search at most


def check(ops: Sequence[Operation], model: Model, budget: Budget = DEFAULT_BUDGET) -> Result:
    """Check a history against a model, each key on its own search with its own step budget."""
    error = invalid(ops, model)
    if error is not None:
        return Result("unknown", error=error)
    deadline = None if budget.seconds is None else time.monotonic() + budget.seconds
    with _collector_paused():
        return _Schedule(partitions(ops, model), model, budget, deadline).run()


def partitions(ops: Sequence[Operation], model: Model) -> dict[Hashable, list[Operation]]:
    """Each key's ops, less the crashed ops the model says no other op could observe."""
    by_key: dict[Hashable, list[Operation]] = defaultdict(list)
    dropped = model.unobservable
    for op in ops:
        if not (dropped and op.complete_index is None and op.f in dropped):
            by_key[op.key].append(op)
    if model.unseen is None:
        return by_key
    out = {}
    for key, key_ops in by_key.items():
        drop = model.unseen(key_ops)
        out[key] = [op for i, op in enumerate(key_ops) if i not in drop]
    return out


class _Schedule:
    """The keys' searches, interleaved round by round until one refutes or all are decided."""

    def __init__(self, parts: dict[Hashable, list[Operation]], model: Model, budget: Budget,
                 deadline: float | None) -> None:
        self.parts, self.model, self.budget, self.deadline = parts, model, budget, deadline
        self.done: dict[Hashable, KeyVerdict] = {}
        self.live: dict[Hashable, tuple[Search, int]] = {}  # key -> (search, steps taken)

    def run(self) -> Result:
        """The verdict of the whole history, with each key's."""
        for key in sorted(self.parts, key=lambda k: len(self.parts[k])):
            refuted = self._start(key, self.parts[key])
            if refuted is not None:
                return self._result(refuted)
        slice_ = FIRST_SLICE
        while self.live:
            for key in list(self.live):
                refuted = self._advance(key, slice_)
                if refuted is not None:
                    return self._result(refuted)
            slice_ = min(2 * slice_, MAX_SLICE)
        return self._result(None)

    def _start(self, key: Hashable, key_ops: list[Operation]) -> Result | None:
        """Decide a key by the model's fast path, or queue its search; a refutation is returned."""
        fast = self.model.fast(key_ops, self.model, key) if self.model.fast is not None else None
        if fast is None:
            found = search(key_ops, self.model, key)
            next(found)
            self.live[key] = (found, 0)
            return None
        self._decided(key, fast.verdict, fast.steps)
        return fast if fast.verdict == "false" else None

    def _advance(self, key: Hashable, slice_: int) -> Result | None:
        """One slice of a key's search, within its step budget and the deadline."""
        found, taken = self.live[key]
        limit = self.budget.steps
        until = taken + slice_ if limit is None else min(taken + slice_, limit)
        try:
            taken = found.send(until)
        except StopIteration as stop:
            result: Result = stop.value
            del self.live[key]
            self._decided(key, result.verdict, result.steps)
            return result if result.verdict == "false" else None
        self.live[key] = (found, taken)
        if limit is not None and taken >= limit:
            self._give_up(key, "steps")
        elif self.deadline is not None and time.monotonic() > self.deadline:
            for live in list(self.live):
                self._give_up(live, "seconds")
        return None

    def _decided(self, key: Hashable, verdict: Verdict, steps: int, exhausted: str | None = None) -> None:
        self.done[key] = KeyVerdict(key, verdict, steps, len(self.parts[key]), exhausted)

    def _give_up(self, key: Hashable, why: str) -> None:
        found, taken = self.live.pop(key)
        found.close()  # frees the search's memo now, not when the check ends
        self._decided(key, "unknown", taken, why)

    def _result(self, refuted: Result | None) -> Result:
        """The whole history's result: the refutation, else unknown if a key is, else true."""
        for key in list(self.live):
            self._give_up(key, "stopped")
        keys = tuple(self.done[key] for key in self.parts if key in self.done)
        steps = sum(verdict.steps for verdict in keys)
        if refuted is not None:
            return Result("false", failed_op=refuted.failed_op, linearized_prefix=refuted.linearized_prefix,
                          key=refuted.key, steps=refuted.steps, keys=keys)
        unknown = next((verdict for verdict in keys if verdict.verdict == "unknown"), None)
        if unknown is not None:
            return Result("unknown", exhausted=unknown.exhausted, key=unknown.key, steps=steps, keys=keys)
        return Result("true", steps=steps, keys=keys)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a check builds millions of small acyclic tuples
    (frames, memo keys, holds) that it would otherwise rescan over and over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
