"""Sequential models the linearizability engine checks histories against.

Each model's state is hashable so the search can memoise it. A step returns (legal, next
state). An :info operation has no output (None): a model must accept any output then, since
the reply that would carry it never came. ``validate`` names a malformed value before any
search starts, so a bad input is an error, not a verdict.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from harness.judge.linearizability.mutex import fast_mutex
from harness.judge.linearizability.operations import Model, Operation

Step = tuple[bool, Hashable]
_ILLEGAL: Step = (False, None)


def _mutex(held: bool, op: Operation) -> Step:
    """A lock without owners: acquire needs it free, release needs it held."""
    if op.f == "acquire":
        return (True, True) if not held else _ILLEGAL
    if op.f == "release":
        return (True, False) if held else _ILLEGAL
    return _ILLEGAL


def _owner_mutex(owner: Hashable, op: Operation) -> Step:
    """A lock with an owner: only the owner may release or renew it; a lease expiry frees it.

    ``expire`` is the lock service's own operation (its value names the owner whose lease
    ran out), so histories of leased locks stay checkable.
    """
    if op.f == "acquire":
        return (True, op.process) if owner is None else _ILLEGAL
    if op.f == "release":
        return (True, None) if owner is not None and owner == op.process else _ILLEGAL
    if op.f == "renew":
        return (True, owner) if owner is not None and owner == op.process else _ILLEGAL
    if op.f == "expire":
        return (True, None) if owner is not None and owner == op.value else _ILLEGAL
    return _ILLEGAL


def _fenced_mutex(state: tuple[Hashable, int], op: Operation) -> Step:
    """An owner-aware mutex whose every acquire returns a token above all earlier ones."""
    owner, newest = state
    legal, next_owner = _owner_mutex(owner, op)
    if not legal:
        return _ILLEGAL
    if op.f != "acquire" or op.output is None:
        # A lost reply carries no token; any later token is still compared with the newest known.
        return True, (next_owner, newest)
    if not isinstance(op.output, int) or op.output <= newest:
        return _ILLEGAL
    return True, (next_owner, op.output)


def _cas_register(value: Hashable, op: Operation) -> Step:
    """A register with read, write and compare-and-set ``[old new]``."""
    if op.f == "read":
        return (True, value) if op.output is None or op.output == value else _ILLEGAL
    if op.f == "write":
        return True, op.value
    if op.f == "cas":
        old, new = op.value
        if op.failed:
            # Porcupine semantics: the comparison ran and saw another value; nothing changed.
            return (True, value) if value != old else _ILLEGAL
        return (True, new) if value == old else _ILLEGAL
    return _ILLEGAL


def _pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2


def _cas_register_value(op: Operation) -> str | None:
    if op.f == "cas" and not _pair(op.value):
        return f"cas needs [old new], got {op.value!r}"
    return None


def _register_unseen(ops: Sequence[Operation]) -> set[int]:
    """Crashed writes and cas whose new value no read returned and no cas expected.

    Without such an op, the ops up to the next write still see legal states: none of them
    needed its value. A failed cas (porcupine semantics) needs only some other value, so any
    op may matter then and none is dropped.
    """
    if any(op.failed for op in ops):
        return set()
    seen = {op.output for op in ops if op.f == "read" and not op.is_info}
    seen |= {op.value[0] for op in ops if op.f == "cas"}
    return {i for i, op in enumerate(ops) if op.is_info and op.f != "read" and _written(op) not in seen}


def _written(op: Operation) -> Any:
    return op.value if op.f == "write" else op.value[1]


def _kv_unseen(ops: Sequence[Operation]) -> set[int]:
    """Crashed puts and appends whose value is in no value a get returned."""
    outputs = [op.output for op in ops if op.f == "get" and not op.is_info]
    return {i for i, op in enumerate(ops)
            if op.is_info and op.f != "get" and not any(op.value in out for out in outputs)}


def _kv(value: str, op: Operation) -> Step:
    """One key of porcupine's kv store: get returns the value, put replaces it, append extends it."""
    if op.f == "get":
        return (True, value) if op.output is None or op.output == value else _ILLEGAL
    if op.f == "put":
        return True, op.value
    if op.f == "append":
        return True, value + op.value
    return _ILLEGAL


def _kv_value(op: Operation) -> str | None:
    if op.f in ("put", "append") and not isinstance(op.value, str):
        return f"{op.f} needs a string value, got {op.value!r}"
    if op.f == "get" and not isinstance(op.output, (str, type(None))):
        return f"get returns a string, got {op.output!r}"
    return None


_LOCK_FS = frozenset({"acquire", "release", "renew", "expire"})
MUTEX = Model("mutex", False, _mutex, frozenset({"acquire", "release"}))
OWNER_MUTEX = Model("owner-mutex", None, _owner_mutex, _LOCK_FS, by_process=True, fast=fast_mutex)
FENCED_MUTEX = Model("fenced-mutex", (None, 0), _fenced_mutex, _LOCK_FS, by_process=True, fast=fast_mutex)
CAS_REGISTER = Model("cas-register", None, _cas_register, frozenset({"read", "write", "cas"}), _cas_register_value,
                     frozenset({"read"}), _register_unseen, reads=lambda op: op.f == "read" or op.failed)
KV = Model("kv", "", _kv, frozenset({"get", "put", "append"}), _kv_value, frozenset({"get"}), _kv_unseen,
           reads=lambda op: op.f == "get")

MODELS: dict[str, Model] = {m.name: m for m in (MUTEX, OWNER_MUTEX, FENCED_MUTEX, CAS_REGISTER, KV)}
