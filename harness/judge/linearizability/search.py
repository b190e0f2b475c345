"""Wing-Gong-Lowe search of one key's operations, with the costs that grew with history length removed.

- The linearised set is a window: ``base`` counts the completed ops (numbered by invocation)
  that are all linearised, and a small int holds the bits above it, so a memo key is about as
  wide as the concurrency, not the history.
- Crashed (:info) ops have no return, so they are kept out of the entry list and tried only
  where the search is stuck at a return -- an op with an open interval never has to be
  linearised sooner -- and they have their own bitset. Of identical crashed ops (same f,
  value, and process where the model looks at it) only the earliest still open is tried:
  open forever, they are interchangeable. One that leaves the state as it was is not tried.
- The stack is a persistent linked list of frames, so keeping the deepest one for the
  counterexample is one assignment, not a copy.
- The search is a generator that pauses at a step count it is sent, so the checker can
  interleave the keys' searches and stop them on its own budgets.
- The memo is bounded: past the size it is sent with each slice it is forgotten (it only
  prunes configurations already explored, so that costs re-exploration, never a verdict).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Generator, Hashable, Sequence
from sys import getsizeof
from typing import Any

from harness.judge.linearizability.operations import Model, Operation, Result

# A frame: (call position, info index or -1, state, base, window, infos, info reps, parent, depth)
Frame = tuple[int, int, Hashable, int, int, int, int, Any, int]


def _entries(ops: Sequence[Operation]) -> list[tuple[int, int, bool]]:
    """Call and return entries (time, op id, is_call) of completed ops, in time order."""
    entries = []
    for i, op in enumerate(ops):
        assert op.complete_index is not None
        entries.append((op.invoke_index, i, True))
        entries.append((op.complete_index, i, False))
    # At equal times calls sort first: ops that touch the same instant count as concurrent.
    entries.sort(key=lambda e: (e[0], not e[2]))
    return entries


def _mark(base: int, window: int, op_id: int) -> tuple[int, int]:
    """Add completed op ``op_id`` to the windowed set; slide the window over a full low run."""
    window |= 1 << (op_id - base)
    if op_id == base:
        run = (~window & (window + 1)).bit_length() - 1
        return base + run, window >> run
    return base, window


def _twins(infos_ops: Sequence[Operation], by_process: bool) -> tuple[int, list[int]]:
    """The first of each class of identical crashed ops (a bitset), and each op's next twin (or -1)."""
    last: dict[Hashable, int] = {}
    reps, next_twin = 0, [-1] * len(infos_ops)
    for j, op in enumerate(infos_ops):
        twin = (op.f, op.value, op.failed, op.process if by_process else None)
        if twin in last:
            next_twin[last[twin]] = j
        else:
            reps |= 1 << j
        last[twin] = j
    return reps, next_twin


# Sent (step count to pause at, memo bound in bytes or None); yields (steps taken, memo bytes, estimated).
Search = Generator[tuple[int, int], tuple[int, int | None], Result]
ENTRY_BYTES = 200  # a memo entry less its state: the tuple, its set slot, the ints (measured)


def search(ops: Sequence[Operation], model: Model, key: Hashable) -> Search:
    """Linearizability of one key's operations, step by step.

    Sent a step count and a memo bound, it runs until it has taken that many steps and yields
    the count and its memo's size, or returns the verdict (``StopIteration.value``) once
    decided. Prime it with ``next``. The memo is forgotten whenever it outgrows the bound.
    """
    done = [op for op in ops if not op.is_info]
    infos_ops = sorted((op for op in ops if op.is_info), key=lambda op: op.invoke_index)
    info_invokes = [op.invoke_index for op in infos_ops]
    reps, next_twin = _twins(infos_ops, model.by_process)
    entries = _entries(done)
    n = len(entries)
    # A doubly linked list over entries; index n is the head sentinel.
    nxt = list(range(1, n + 1)) + [0]
    prv = [n] + list(range(n))
    partner = [0] * n
    call_of: dict[int, int] = {}
    for pos, (_, op_id, is_call) in enumerate(entries):
        if is_call:
            call_of[op_id] = pos
        else:
            partner[call_of[op_id]], partner[pos] = pos, call_of[op_id]

    step = model.step
    steps = 0
    pause, memo_bytes = yield 0, 0
    state: Hashable = model.init
    base = window = infos = 0
    frame: Frame | None = None
    depth = 0
    cache: set[tuple[int, int, int, Hashable]] = {(0, 0, 0, state)}
    best: tuple[Frame | None, int, tuple[int, int]] = (None, -1, (-1, -1))
    info_from = 0
    pos = nxt[n]
    while pos != n:
        steps += 1
        if steps > pause:  # checked inline: a method call per step was a seventh of the search's time
            size = len(cache) * (ENTRY_BYTES + getsizeof(state))
            if memo_bytes is not None and size > memo_bytes:
                cache, size = set(), 0
            pause, memo_bytes = yield steps - 1, size
        time_, op_id, is_call = entries[pos]
        if is_call:
            ok, new_state = step(state, done[op_id])
            if ok:
                new_base, new_window = _mark(base, window, op_id)
                memo = (new_base, new_window, infos, new_state)
                if memo not in cache:
                    cache.add(memo)
                    depth += 1
                    frame = (pos, -1, state, base, window, infos, reps, frame, depth)
                    state, base, window = new_state, new_base, new_window
                    for p in (pos, partner[pos]):
                        nxt[prv[p]], prv[nxt[p]] = nxt[p], prv[p]
                    pos = nxt[n]
                    continue
            pos = nxt[pos]
            continue
        # A return entry: its op is not linearised yet. A crashed op invoked earlier may help:
        # walk the set bits of those not linearised yet, from where the last try left off (an op
        # invoked at the very instant of the return counts as concurrent, as calls sort first).
        candidates = reps & ((1 << bisect_right(info_invokes, time_)) - 1) & -(1 << info_from)
        info_from = 0
        while candidates:
            low = candidates & -candidates
            candidates ^= low
            j = low.bit_length() - 1
            ok, new_state = step(state, infos_ops[j])
            memo = (base, window, infos | low, new_state)
            # A crashed op that leaves the state as it was is never needed: not taking it
            # reaches the same state with one more optional op still in hand.
            if ok and new_state != state and memo not in cache:
                cache.add(memo)
                depth += 1
                frame = (pos, j, state, base, window, infos, reps, frame, depth)
                state, infos, reps = new_state, infos | low, reps ^ low
                if next_twin[j] >= 0:
                    reps |= 1 << next_twin[j]
                break
        else:
            # Stuck: undo the latest choice. The configuration stuck latest in time (then deepest)
            # is the counterexample: every op returned before that point could be linearised, and
            # the history up to that return cannot -- its op is the first that cannot be.
            if (time_, depth) > best[2]:
                best = (frame, op_id, (time_, depth))
            if frame is None:
                return _refuted(done, infos_ops, entries, best, key, steps)
            call_pos, j, state, base, window, infos, reps, frame, depth = frame
            if j >= 0:
                pos, info_from = call_pos, j + 1
                continue
            for p in (partner[call_pos], call_pos):
                prv[nxt[p]] = p
                nxt[prv[p]] = p
            pos = nxt[call_pos]
            continue
        pos = nxt[n]
    return Result("true", key=key, steps=steps)


def _refuted(
    done: Sequence[Operation], infos_ops: Sequence[Operation], entries: Sequence[tuple[int, int, bool]],
    best: tuple[Frame | None, int, tuple[int, int]], key: Hashable, steps: int,
) -> Result:
    """A "false" result: the deepest linearised prefix found and the op that could not follow it."""
    frame, failed, _ = best
    prefix = []
    while frame is not None:
        call_pos, j = frame[0], frame[1]
        prefix.append(infos_ops[j] if j >= 0 else done[entries[call_pos][1]])
        frame = frame[7]
    prefix.reverse()
    return Result("false", failed_op=done[failed], linearized_prefix=tuple(prefix), key=key, steps=steps)


def decide(ops: Sequence[Operation], model: Model, key: Hashable, steps: int | None = None) -> Result | None:
    """One key's verdict by the search alone, or None when it needs more than ``steps`` steps."""
    found = search(ops, model, key)
    next(found)
    try:
        found.send((steps if steps is not None else 1 << 62, None))
    except StopIteration as stop:
        result: Result = stop.value
        return result
    found.close()
    return None
