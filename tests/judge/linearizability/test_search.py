"""The general search against a brute-force oracle on small random histories, crashed ops included."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from itertools import chain, combinations, permutations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.judge.linearizability.checker import check
from harness.judge.linearizability.models import CAS_REGISTER, KV, OWNER_MUTEX
from harness.judge.linearizability.operations import Budget, Model, Operation, Record, operations


def brute_force(ops: Sequence[Operation], model: Model) -> bool:
    """Some subset of the crashed ops plus every completed op, in some real-time-respecting order, is legal."""
    done = [op for op in ops if not op.is_info]
    crashed = [op for op in ops if op.is_info]
    subsets = chain.from_iterable(combinations(crashed, k) for k in range(len(crashed) + 1))
    return any(_legal_order(done + list(chosen), model) for chosen in subsets)


def _legal_order(ops: Sequence[Operation], model: Model) -> bool:
    for order in permutations(ops):
        if _respects_real_time(order) and _legal(order, model):
            return True
    return False


def _respects_real_time(order: Sequence[Operation]) -> bool:
    # An op that returned before another was invoked must come first.
    return not any(
        later.complete_index is not None and later.complete_index < earlier.invoke_index
        for i, earlier in enumerate(order) for later in order[i + 1:]
    )


def _legal(order: Sequence[Operation], model: Model) -> bool:
    state = model.init
    for op in order:
        ok, state = model.step(state, op)
        if not ok:
            return False
    return True


SCRIPTS: dict[str, Any] = {
    "cas-register": (CAS_REGISTER, st.sampled_from([("read", None), ("write", 1), ("write", 2), ("cas", (1, 2))]),
                     st.sampled_from([None, 1, 2])),
    "kv": (KV, st.sampled_from([("get", None), ("put", "a"), ("append", "b")]), st.sampled_from(["", "a", "ab", "b"])),
    "owner-mutex": (OWNER_MUTEX, st.sampled_from([("acquire", None), ("release", None)]), st.none()),
}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(SCRIPTS)), ops=st.integers(1, 6))
def test_search_agrees_with_brute_force(data, name, ops):
    model, invocations, outputs = SCRIPTS[name]
    records: list[Record] = []
    waiting: dict[int, tuple[str, Any]] = {}
    started = 0
    while started < ops or waiting:
        p = data.draw(st.integers(0, 2))
        if p not in waiting and started < ops:
            f, value = data.draw(invocations)
            records.append(Record(p, "invoke", f, value, len(records)))
            waiting[p], started = (f, value), started + 1
        elif p in waiting:
            f, value = waiting.pop(p)
            kind = data.draw(st.sampled_from(["ok", "ok", "ok", "info"]))
            out = data.draw(outputs) if f in ("read", "get") else value
            records.append(Record(p, kind, f, out, len(records)))
    history = operations(records)
    result = check(history, model, Budget(steps=None, seconds=None))
    assert (result.verdict == "true") == brute_force(history, model), result.summary()
    if result.verdict == "false":
        assert_first_that_cannot_be_linearized(history, model, result.failed_op)


def until(ops: Sequence[Operation], time: int) -> list[Operation]:
    """The history as it stood at ``time``: ops invoked by then, those not yet returned as crashed."""
    return [op if op.complete_index is not None and op.complete_index <= time else dataclasses.replace(
        op, complete_index=None, complete_time=None, output=None) for op in ops if op.invoke_index < time]


def assert_first_that_cannot_be_linearized(ops: Sequence[Operation], model: Model, failed: Operation | None) -> None:
    """The history up to ``failed``'s return is not linearizable, and is without ``failed``: removing it is
    enough, and no op returned earlier could be named instead (so never an op legal in every state)."""
    assert failed is not None and failed.complete_index is not None
    before = until(ops, failed.complete_index)
    assert not brute_force(before, model)
    assert brute_force([op for op in before if op.invoke_index != failed.invoke_index], model)
