"""Linearizability engine: generated linearizable histories, known counterexamples, :info, budgets."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.judge.linearizability.checker import check
from harness.judge.linearizability.models import CAS_REGISTER, FENCED_MUTEX, MODELS, MUTEX, OWNER_MUTEX
from harness.judge.linearizability.operations import Budget, MalformedHistory, Record, operations


def history(*rows: tuple[Any, ...]) -> list[Record]:
    """Records from (process, type, f, value[, key]) rows, indexed in order."""
    return [Record(row[0], row[1], row[2], row[3], index, key=row[4] if len(row) > 4 else None) for index, row in enumerate(rows)]


# -- a real sequential object run with random concurrency windows --------------------------


class Mutex:
    """The system under test for the mutex models: a lock with an owner."""

    def __init__(self) -> None:
        self.owner: Hashable = None
        self.tokens = 0

    def apply(self, process: Hashable, f: str, value: Any) -> tuple[bool, Any]:
        if f == "acquire" and self.owner is None:
            self.owner, self.tokens = process, self.tokens + 1
            return True, self.tokens
        if f == "release" and self.owner == process:
            self.owner = None
            return True, None
        return False, None


class Register:
    """The system under test for the CAS register model."""

    def __init__(self) -> None:
        self.value: Any = None

    def apply(self, process: Hashable, f: str, value: Any) -> tuple[bool, Any]:
        if f == "read":
            return True, self.value
        if f == "write":
            self.value = value
            return True, value
        if self.value == value[0]:
            self.value = value[1]
            return True, value
        return False, value


class KVStore:
    """The system under test for the kv model: one key's string value (keys are split upstream)."""

    def __init__(self) -> None:
        self.value = ""

    def apply(self, process: Hashable, f: str, value: Any) -> tuple[bool, Any]:
        if f == "get":
            return True, self.value
        self.value = value if f == "put" else self.value + value
        return True, value


def invocation(data: st.DataObject, system: Any) -> tuple[str, Any]:
    if isinstance(system, Mutex):
        return data.draw(st.sampled_from(["acquire", "release"])), None
    if isinstance(system, KVStore):
        f = data.draw(st.sampled_from(["get", "put", "append"]))
        return f, None if f == "get" else data.draw(st.sampled_from(["x", "y", "xy"]))
    f = data.draw(st.sampled_from(["read", "write", "cas"]))
    small = st.integers(0, 2)
    value = {"read": st.none(), "write": small, "cas": st.tuples(small, small)}[f]
    return f, data.draw(value)


def run_concurrently(data: st.DataObject, system: Any, processes: int, steps: int) -> list[Record]:
    """Interleave processes that invoke, take effect (one at a time, atomically), and complete.

    A process may crash between invocation and completion: its op is recorded :info and a
    fresh process takes its place, as in Jepsen.
    """
    records: list[Record] = []
    phase: dict[int, tuple[str, str, Any, bool, Any]] = {}  # process -> (phase, f, value, ok, out)
    live = list(range(processes))
    next_process = processes
    for _ in range(steps):
        slot = data.draw(st.integers(0, len(live) - 1))
        p = live[slot]
        state = phase.get(p)
        if state is None:
            f, value = invocation(data, system)
            records.append(Record(p, "invoke", f, value, len(records)))
            phase[p] = ("invoked", f, value, False, None)
        elif data.draw(st.integers(0, 9)) == 0:
            records.append(Record(p, "info", state[1], state[2], len(records)))
            if state[0] == "invoked" and data.draw(st.booleans()):
                system.apply(p, state[1], state[2])  # crashed after taking effect
            del phase[p]
            live[slot], next_process = next_process, next_process + 1
        elif state[0] == "invoked":
            ok, out = system.apply(p, state[1], state[2])
            phase[p] = ("applied", state[1], state[2], ok, out)
        else:
            records.append(Record(p, "ok" if state[3] else "fail", state[1], state[4], len(records)))
            del phase[p]
    return records


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(MODELS)), processes=st.integers(1, 4), steps=st.integers(0, 60))
def test_histories_of_a_real_sequential_object_are_linearizable(data, name, processes, steps):
    system = {"cas-register": Register, "kv": KVStore}.get(name, Mutex)()
    ops = operations(run_concurrently(data, system, processes, steps))
    result = check(ops, MODELS[name], Budget(steps=None, seconds=None))
    assert result.verdict == "true", result.summary()


# -- known non-linearizable histories --------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "rows", "failed"),
    [
        pytest.param(
            MUTEX,
            [(0, "invoke", "acquire", None), (0, "ok", "acquire", None), (1, "invoke", "acquire", None), (1, "ok", "acquire", None)],
            (1, "acquire"),
            id="mutex-acquired-twice",
        ),
        pytest.param(
            OWNER_MUTEX,
            [(0, "invoke", "acquire", None), (0, "ok", "acquire", None), (1, "invoke", "release", None), (1, "ok", "release", None)],
            (1, "release"),
            id="owner-mutex-release-by-non-owner",
        ),
        pytest.param(
            FENCED_MUTEX,
            [
                (0, "invoke", "acquire", None), (0, "ok", "acquire", 2), (0, "invoke", "release", None),
                (0, "ok", "release", None), (1, "invoke", "acquire", None), (1, "ok", "acquire", 1),
            ],
            (1, "acquire"),
            id="fenced-mutex-token-goes-back",
        ),
        pytest.param(
            CAS_REGISTER,
            [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 0)],
            (1, "read"),
            id="register-stale-read",
        ),
        pytest.param(
            CAS_REGISTER,
            [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", (2, 3)), (1, "ok", "cas", (2, 3))],
            (1, "cas"),
            id="register-cas-from-wrong-value",
        ),
    ],
)
def test_known_violations_are_refuted_with_the_failing_op(model, rows, failed):
    result = check(operations(history(*rows)), model)
    assert result.verdict == "false"
    assert result.failed_op is not None
    assert (result.failed_op.process, result.failed_op.f) == failed
    assert all(op.process != failed[0] or op.f != failed[1] for op in result.linearized_prefix)


def test_counterexample_carries_the_longest_linearizable_prefix():
    rows = [
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (1, "invoke", "write", 2), (1, "ok", "write", 2),
        (2, "invoke", "read", None), (2, "ok", "read", 1),
    ]
    result = check(operations(history(*rows)), CAS_REGISTER)
    assert result.verdict == "false"
    assert [op.value for op in result.linearized_prefix] == [1, 2]
    assert result.failed_op is not None and result.failed_op.f == "read"


# -- :info, :fail, non-client processes --------------------------------------------------------


def test_info_op_that_must_have_taken_effect_is_linearized():
    rows = [(0, "invoke", "write", 1), (0, "info", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1)]
    assert check(operations(history(*rows)), CAS_REGISTER).verdict == "true"


def test_info_op_that_must_not_have_taken_effect_is_omitted():
    rows = [(0, "invoke", "acquire", None), (0, "info", "acquire", None), (1, "invoke", "acquire", None), (1, "ok", "acquire", None)]
    assert check(operations(history(*rows)), MUTEX).verdict == "true"


def test_info_op_may_take_effect_long_after_its_invocation():
    rows = [
        (0, "invoke", "write", 1), (0, "info", "write", 1),
        (1, "invoke", "read", None), (1, "ok", "read", None),
        (2, "invoke", "read", None), (2, "ok", "read", 1),
    ]
    assert check(operations(history(*rows)), CAS_REGISTER).verdict == "true"


def test_fail_and_nemesis_ops_are_dropped_and_unfinished_invocations_become_info():
    records = history((0, "invoke", "acquire", None), (1, "invoke", "acquire", None), (0, "ok", "acquire", None), (1, "fail", "acquire", None))
    records.append(Record("nemesis", "info", "partition", None, 4, client=False))
    records.append(Record(2, "invoke", "release", None, 5))
    ops = operations(records)
    assert [(op.process, op.f, op.is_info) for op in ops] == [(0, "acquire", False), (2, "release", True)]


def test_completion_without_invocation_is_malformed():
    with pytest.raises(MalformedHistory, match="without an invocation"):
        operations(history((0, "ok", "acquire", None)))


def test_keys_are_checked_independently():
    rows = [
        (0, "invoke", "acquire", None, "a"), (0, "ok", "acquire", None, "a"),
        (1, "invoke", "acquire", None, "b"), (1, "ok", "acquire", None, "b"),
    ]
    assert check(operations(history(*rows)), MUTEX).verdict == "true"
    rows.append((2, "invoke", "acquire", None, "b"))
    rows.append((2, "ok", "acquire", None, "b"))
    result = check(operations(history(*rows)), MUTEX)
    assert (result.verdict, result.key) == ("false", "b")


# -- budgets -----------------------------------------------------------------------------------


def concurrent_writes(n: int) -> list[Record]:
    """n overlapping writes followed by a read of a value never written: hard to refute."""
    rows = [(p, "invoke", "write", p) for p in range(n)] + [(p, "ok", "write", p) for p in range(n)]
    rows += [(n, "invoke", "read", None), (n, "ok", "read", -1)]
    return history(*rows)


@pytest.mark.parametrize(("budget", "exhausted"), [(Budget(steps=50, seconds=None, steps_per_op=None), "steps"), (Budget(steps=None, seconds=0.0), "seconds")])
def test_exhausted_budget_gives_unknown_naming_the_budget(budget, exhausted):
    result = check(operations(concurrent_writes(14)), CAS_REGISTER, budget)
    assert (result.verdict, result.exhausted) == ("unknown", exhausted)
    assert exhausted in result.summary()
