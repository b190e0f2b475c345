"""Linearizability checking of operation histories (Wing-Gong-Lowe search, as Knossos/Porcupine).

A history is a list of operations, each an interval from invocation to completion. The
history is linearizable when every completed operation can be given one instant inside its
interval such that, taken in that order, the operations are legal for a sequential model.

Jepsen semantics: a ``:fail`` operation did not happen and is dropped; an ``:info`` operation
may or may not have happened, and since its reply never came its interval is open on the
right (it may be linearised anywhere after its invocation, or not at all); operations of
non-client processes (the nemesis) are not part of the history.

Linearizability is local (P-compositionality), so each key -- lock name, register, kv key --
is checked on its own. A model may bring a specialised checker for its histories (the mutex
models do, see ``mutex``); otherwise, or where it declines, the key is searched with the
Wing-Gong-Lowe algorithm and Lowe's memoisation (see ``search``). Crashed operations the
model declares unobservable (reads) are dropped first, as Knossos does. Checks are bounded
by a budget of steps and seconds; one that runs out answers "unknown", never "true".

Failed operations: under Knossos semantics (the default) a ``:fail`` op did not happen and
is dropped. Under porcupine semantics a failed ``cas`` is kept as a completed op that
observed a value other than the one it expected (porcupine's etcd model), which is stricter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.errors import InputError

Verdict = Literal["true", "false", "unknown"]
Kind = Literal["invoke", "ok", "fail", "info"]
FailSemantics = Literal["knossos", "porcupine"]
FAIL_SEMANTICS: tuple[FailSemantics, ...] = ("knossos", "porcupine")
# Failed ops porcupine semantics keeps: a failed cas still compared (and found another value).
KEPT_WHEN_FAILED = frozenset({"cas"})
# The default budget (also the [gates] defaults of the lock checker's).
STEPS, STEPS_PER_OP, SECONDS = 1_000_000, 10_000, 10.0


class MalformedHistory(InputError):
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
    failed: bool = False

    @property
    def is_info(self) -> bool:
        """True when the outcome is unknown (the operation may or may not have happened)."""
        return self.complete_index is None

    def describe(self) -> str:
        """Short human-readable form, e.g. ``p0 acquire None -> 3 [12..15]``; a crashed op reads
        ``p0 write 2 -> crashed (:info) [12..?]``: it may or may not have taken effect."""
        end = "?" if self.complete_index is None else str(self.complete_index)
        key = "" if self.key is None else f" key={self.key}"
        out = "failed" if self.failed else "crashed (:info)" if self.is_info else repr(self.output)
        return f"{self.process} {self.f} {self.value!r} -> {out} [{self.invoke_index}..{end}]{key}"


@dataclass(frozen=True)
class Model:
    """A sequential specification: initial state and a step function over hashable states.

    ``fs`` are the operations it knows; ``validate`` says what is wrong with an op's value
    (None when fine); crashed ops in ``unobservable`` cannot change the state, so they are
    dropped; ``unseen`` picks, from one key's ops, the crashed ops whose effect no other op
    could observe (dropping them keeps every legal order legal); ``by_process`` says the step
    looks at an op's process; ``fast`` is a specialised checker for one key that may decline.
    """

    name: str
    init: Hashable
    step: Callable[[Any, Operation], tuple[bool, Hashable]]
    fs: frozenset[str] = frozenset()
    validate: Callable[[Operation], str | None] | None = None
    unobservable: frozenset[str] = frozenset()
    unseen: Callable[[Sequence[Operation]], set[int]] | None = None
    by_process: bool = False
    fast: Callable[[Sequence[Operation], Model, Hashable], Result | None] | None = None


@dataclass(frozen=True)
class Budget:
    """Limits of one check: search steps for each key on its own, seconds for the whole check.

    A key's step budget grows with its length -- ``steps_per_op`` for each of its ops, at
    least ``steps`` -- so a long clean history is not "unknown" because it is long. None: no
    limit (``steps``), or a budget that does not grow (``steps_per_op``).
    """

    steps: int | None = STEPS
    seconds: float | None = SECONDS
    steps_per_op: int | None = STEPS_PER_OP

    def for_key(self, ops: int) -> int | None:
        """The step budget of a key with ``ops`` operations (None: unlimited)."""
        if self.steps is None or self.steps_per_op is None:
            return self.steps
        return max(self.steps, self.steps_per_op * ops)


@dataclass(frozen=True)
class KeyVerdict:
    """One key's verdict and the steps its search (or fast path) took.

    ``exhausted`` names the budget that ran out for an "unknown" key, or "stopped" when
    another key refuted the history first and this one was not searched further.
    """

    key: Hashable
    verdict: Verdict
    steps: int
    ops: int
    exhausted: str | None = None


@dataclass(frozen=True)
class Result:
    """Verdict of a check, with the counterexample when it is "false"."""

    verdict: Verdict
    exhausted: str | None = None
    failed_op: Operation | None = None
    linearized_prefix: tuple[Operation, ...] = ()
    key: Hashable = None
    steps: int = 0
    error: str | None = None
    keys: tuple[KeyVerdict, ...] = ()

    def summary(self) -> str:
        """One line saying what was found."""
        if self.error is not None:
            return f"unknown: malformed history: {self.error}"
        if self.verdict == "true":
            return f"linearizable ({self.steps} steps)"
        if self.verdict == "unknown":
            on = "" if self.key is None else f" on key {self.key}"
            return f"unknown: {self.exhausted} budget exhausted{on} after {self.steps} steps"
        assert self.failed_op is not None
        return (
            f"not linearizable: cannot linearize {self.failed_op.describe()} "
            f"after a linearizable prefix of {len(self.linearized_prefix)} operations"
        )


def operations(records: Iterable[Record], fail_semantics: FailSemantics = "knossos") -> list[Operation]:
    """Pair invocations with completions per (process, key), dropping non-client ops and :fail ones.

    An invocation that never completes becomes an :info operation, as in Jepsen. Under
    porcupine semantics a failed cas is kept, marked ``failed``.
    """
    keep_failed = fail_semantics == "porcupine"
    open_: dict[tuple[Hashable, Hashable], Record] = {}
    done: list[tuple[int, Operation]] = []
    for rec in records:
        if not rec.client:
            continue
        slot = (rec.process, rec.key)
        if rec.type == "invoke":
            if slot in open_:
                outstanding = open_[slot].f
                raise MalformedHistory(
                    f"process {rec.process} invoked {rec.f} with {outstanding} outstanding{_at(rec)}"
                )
            open_[slot] = rec
            continue
        invoke = open_.pop(slot, None)
        if invoke is None:
            raise MalformedHistory(f"process {rec.process} completed {rec.f} without an invocation{_at(rec)}")
        if rec.type != "fail":
            done.append((invoke.index, _pair(invoke, None if rec.type == "info" else rec)))
        elif keep_failed and invoke.f in KEPT_WHEN_FAILED:
            done.append((invoke.index, _pair(invoke, rec, failed=True)))
    done.extend((rec.index, _pair(rec, None)) for rec in open_.values())
    done.sort(key=lambda item: item[0])
    return [op for _, op in done]


def _at(rec: Record) -> str:
    return "" if rec.line is None else f" (line {rec.line})"


def _pair(invoke: Record, complete: Record | None, failed: bool = False) -> Operation:
    return Operation(
        process=invoke.process,
        f=invoke.f,
        value=invoke.value,
        invoke_index=invoke.index,
        invoke_time=invoke.time,
        complete_index=None if complete is None else complete.index,
        complete_time=None if complete is None else complete.time,
        output=None if complete is None or failed else complete.value,
        key=invoke.key,
        failed=failed,
    )


def invalid(ops: Sequence[Operation], model: Model) -> str | None:
    """What is wrong with the first op the model cannot judge (unknown f, malformed value), or None."""
    unknown = {op.f for op in ops} - model.fs if model.fs else set()
    validate = model.validate
    if not unknown and validate is None:
        return None
    for op in ops:
        if op.f in unknown:
            known = ", ".join(sorted(model.fs))
            return f"unknown operation {op.f!r} for model {model.name} (knows {known}): {op.describe()}"
        problem = validate(op) if validate is not None else None
        if problem is not None:
            return f"{problem}: {op.describe()}"
    return None
