"""Sequential models the linearizability engine checks histories against.

Each model's state is hashable so the search can memoise it. A step returns (legal, next
state). An :info operation has no output (None): a model must accept any output then, since
the reply that would carry it never came.
"""

from __future__ import annotations

from collections.abc import Hashable

from harness.linearizability.engine import Model, Operation

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
        return (True, new) if value == old else _ILLEGAL
    return _ILLEGAL


MUTEX = Model("mutex", False, _mutex)
OWNER_MUTEX = Model("owner-mutex", None, _owner_mutex)
FENCED_MUTEX = Model("fenced-mutex", (None, 0), _fenced_mutex)
CAS_REGISTER = Model("cas-register", None, _cas_register)

MODELS: dict[str, Model] = {m.name: m for m in (MUTEX, OWNER_MUTEX, FENCED_MUTEX, CAS_REGISTER)}
