"""A checker for one lock's history under the owner-aware mutex models, without a search.

Every op of a lock belongs to an owner: its own process, or for a lease expiry the client
whose lease ran out. When each owner's ops are totally ordered in real time, each owner's
sequence is fixed, so its holds are fixed: acquire, renews, then release or expiry. A hold
certainly holds the lock from its acquire's return to its end's invocation (its core), so
the holds must be ordered as their cores and the cores must not overlap; the linearisation
is then unique, and replaying the model along it decides the rest (fencing tokens).

Crashed ops, and expiries that overlap an op of their owner, leave real choices: the checker
declines those locks (returns None) and the general search takes them. Its work is bounded
by the history's size (n log n), so it spends no search budget: a clean lock history of any
length is decided. Its result counts one step per hold, for comparison.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from itertools import pairwise
from operator import attrgetter

from harness.judge.linearizability.operations import Model, Operation, Result

Hold = tuple[int, float, list[Operation]]  # (core start, core end, the hold's ops in order)
ENDS = frozenset({"release", "expire"})
_INVOKED = attrgetter("invoke_index")
_RETURNED = attrgetter("complete_index")


def fast_mutex(ops: Sequence[Operation], model: Model, key: Hashable) -> Result | None:
    """The verdict for one lock's ops, or None when the history leaves choices to search."""
    if any(op.complete_index is None for op in ops):
        return None
    by_owner: dict[Hashable, list[Operation]] = defaultdict(list)
    for op in ops:
        by_owner[op.value if op.f == "expire" else op.process].append(op)
    holds: list[Hold] = []
    strays: list[Operation] = []
    for seq in by_owner.values():
        seq.sort(key=_INVOKED)
        if any(a.complete_index is None or a.complete_index >= b.invoke_index for a, b in pairwise(seq)):
            return None
        _holds_of(seq, holds, strays)
    holds.sort(key=lambda hold: hold[0])
    # Each kind of violation gives its earliest (prefix, op); the one that returned first is the
    # first op that cannot be linearized, as the search names it.
    found: list[tuple[list[Operation], Operation]] = []
    if strays:
        first = min(strays, key=_RETURNED)
        found.append((_prefix_before(holds, first), first))
    clean = next((holds[: i + 1] for i, (a, b) in enumerate(pairwise(holds)) if a[1] > b[0]), holds)
    if len(clean) < len(holds):  # the first hold to start while another still held the lock
        found.append((_flatten(clean), holds[len(clean)][2][0]))
    order = _flatten(clean)
    failed = _replay(order, model)
    if failed is not None:
        found.append((order[:failed], order[failed]))
    steps = max(1, len(holds))
    if not found:
        return Result("true", key=key, steps=steps)
    prefix, culprit = min(found, key=lambda pair: _RETURNED(pair[1]))
    return Result("false", failed_op=culprit, linearized_prefix=tuple(prefix), key=key, steps=steps)


def _holds_of(seq: Sequence[Operation], holds: list[Hold], strays: list[Operation]) -> None:
    """Cut one owner's ops into holds; an op that cannot be in a hold is a stray (a violation)."""
    current: list[Operation] | None = None
    for op in seq:
        if op.f == "acquire":
            if current is not None:
                strays.append(op)  # acquiring a lock its owner already holds
                continue
            current = [op]
        elif current is None:
            strays.append(op)  # releasing or renewing a lock its owner does not hold
        else:
            current.append(op)
            if op.f in ENDS:
                holds.append((_start(current), op.invoke_index, current))
                current = None
    if current is not None:
        holds.append((_start(current), float("inf"), current))


def _start(hold: list[Operation]) -> int:
    complete = hold[0].complete_index
    assert complete is not None
    return complete


def _flatten(holds: Sequence[Hold]) -> list[Operation]:
    return [op for hold in holds for op in hold[2]]


def _prefix_before(holds: Sequence[Hold], failed: Operation) -> list[Operation]:
    """The holds, in order, that ended before ``failed`` was invoked and do not overlap."""
    kept: list[Hold] = []
    for hold in holds:
        last = hold[2][-1].complete_index
        if last is None or last >= failed.invoke_index or (kept and kept[-1][1] > hold[0]):
            break
        kept.append(hold)
    return _flatten(kept)


def _replay(order: Sequence[Operation], model: Model) -> int | None:
    """Run the model along the only possible linearisation: the index of the first illegal op, or None."""
    state = model.init
    for index, op in enumerate(order):
        ok, state = model.step(state, op)
        if not ok:
            return index
    return None
