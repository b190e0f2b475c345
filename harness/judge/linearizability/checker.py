"""Checking a history against a model: each key (P-compositionality) searched on its own.

The operation and model types are ``operations``; the Wing-Gong-Lowe search of one key is
``search``; a model may give a fast path (``Model.fast``) that decides a key without it.

Each key's search has its own step budget, proportional to its length, and the searches are interleaved in rounds of
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
from dataclasses import dataclass

from harness.judge.linearizability.operations import Budget, KeyVerdict, Model, Operation, Result, Verdict, invalid
from harness.judge.linearizability.search import Search, search

DEFAULT_BUDGET = Budget()  # 10,000 steps an op (1 M at least) a key, 10 s
FIRST_SLICE = 1024  # steps each key searches in the first round; the slice doubles each round
MAX_SLICE = 1 << 16  # the clock is read between slices, so they stay short:
SLICE_SECONDS = 0.05  # a round whose slowest slice took longer halves the slice
MEMO_BYTES = 512 << 20  # the searches' memos together, estimated; past it a memo is forgotten
# Freeing a memo takes time too (millions of small objects), and the seconds budget counts it:
# measured about 6 ms a (estimated) MB here, so 512 MB would overrun a 10 s budget by 3 s.
FREE_SECONDS_PER_BYTE = 8e-3 / (1 << 20)


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


@dataclass
class _Live:
    """A key's search under way: the steps it took, its budget, its memo's size (estimated)."""

    search: Search
    limit: int | None
    taken: int = 0
    memo: int = 0


class _Schedule:
    """The keys' searches, interleaved round by round until one refutes or all are decided."""

    def __init__(self, parts: dict[Hashable, list[Operation]], model: Model, budget: Budget,
                 deadline: float | None) -> None:
        self.parts, self.model, self.budget, self.deadline = parts, model, budget, deadline
        self.done: dict[Hashable, KeyVerdict] = {}
        self.live: dict[Hashable, _Live] = {}

    def run(self) -> Result:
        """The verdict of the whole history, with each key's."""
        searched, refuted = self._fast_paths()
        if refuted is None:
            self._start(searched)
            refuted = self._interleave()
        return self._result(refuted)

    def _fast_paths(self) -> tuple[list[Hashable], Result | None]:
        """The keys the model's fast path declines (smallest first), or the refutation it found."""
        fast = self.model.fast
        searched = []
        for key in sorted(self.parts, key=lambda k: len(self.parts[k])):
            result = fast(self.parts[key], self.model, key) if fast is not None else None
            if result is None:
                searched.append(key)
                continue
            self._decided(key, result.verdict, result.steps)
            if result.verdict == "false":
                return searched, result
        return searched, None

    def _start(self, keys: list[Hashable]) -> None:
        """Queue the keys' searches."""
        for key in keys:
            found = search(self.parts[key], self.model, key)
            next(found)
            self.live[key] = _Live(found, self.budget.for_key(len(self.parts[key])))

    def _interleave(self) -> Result | None:
        """Run the searches in rounds of growing slices until one refutes (returned) or none is left."""
        slice_ = FIRST_SLICE
        while self.live:
            slowest = 0.0
            for key in list(self.live):
                began = time.monotonic()
                refuted = self._advance(key, slice_)
                if refuted is not None:
                    return refuted
                slowest = max(slowest, time.monotonic() - began)
            # The clock is read between slices: keep a slice short on a slow (or loaded) machine.
            slice_ = max(FIRST_SLICE, slice_ // 2) if slowest > SLICE_SECONDS else min(2 * slice_, MAX_SLICE)
        return None

    def _advance(self, key: Hashable, slice_: int) -> Result | None:
        """One slice of a key's search, within its step budget and the deadline."""
        live = self.live[key]
        until = live.taken + slice_ if live.limit is None else min(live.taken + slice_, live.limit)
        try:
            # The memo bound is shared by the live searches, so memory stays flat however many.
            live.taken, live.memo = live.search.send((until, MEMO_BYTES // len(self.live)))
        except StopIteration as stop:
            result: Result = stop.value
            del self.live[key]
            self._decided(key, result.verdict, result.steps)
            return result if result.verdict == "false" else None
        if live.limit is not None and live.taken >= live.limit:
            self._give_up(key, "steps")
        elif self._late():
            for other in list(self.live):
                self._give_up(other, "seconds")
        return None

    def _late(self) -> bool:
        """True once the deadline, less the time freeing the live memos will take, has passed."""
        if self.deadline is None:
            return False
        teardown = sum(live.memo for live in self.live.values()) * FREE_SECONDS_PER_BYTE
        return time.monotonic() + teardown > self.deadline

    def _decided(self, key: Hashable, verdict: Verdict, steps: int, exhausted: str | None = None) -> None:
        self.done[key] = KeyVerdict(key, verdict, steps, len(self.parts[key]), exhausted)

    def _give_up(self, key: Hashable, why: str) -> None:
        live = self.live.pop(key)
        live.search.close()  # frees the search's memo now, not when the check ends
        self._decided(key, "unknown", live.taken, why)

    def _result(self, refuted: Result | None) -> Result:
        """The whole history's result: the refutation, else unknown if a key is, else true (steps: the
        deciding key's, or all keys' for "true")."""
        for key in list(self.live):
            self._give_up(key, "stopped")
        keys = tuple(self.done[key] for key in self.parts if key in self.done)
        if refuted is not None:
            return Result("false", failed_op=refuted.failed_op, linearized_prefix=refuted.linearized_prefix,
                          key=refuted.key, steps=refuted.steps, keys=keys)
        unknown = next((verdict for verdict in keys if verdict.verdict == "unknown"), None)
        if unknown is not None:
            return Result("unknown", exhausted=unknown.exhausted, key=unknown.key, steps=unknown.steps, keys=keys)
        return Result("true", steps=sum(verdict.steps for verdict in keys), keys=keys)


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
