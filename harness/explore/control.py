"""Plug-ins under the scheduler's control, without the user editing their code.

``traced(component, label)`` makes every read and write of the component's own instance
attributes a schedule point (``label.attr``): its class is swapped for a subclass whose
``__getattribute__``/``__setattr__`` pass a point first. So an unlocked read-modify-write
(``slots = dict(self._slots)`` ... ``self._slots = slots``) has a point inside its gap.
``controlled_factory`` builds a plug-in under ``harness.schedule.controlled_locks`` (its
``threading.Lock``/``Condition`` become the scheduler's) and traces what it returns.

What it can see: attribute reads and writes on the component object itself, and the locks
and conditions it makes while it is built. What it cannot: state reached without touching
an attribute after it is read (a local alias of a shared dict mutated in a loop is one
point, at the read), objects the component shares that are not attributes of it (module
globals, other objects' attributes), locks made before it was built or ``RLock``\\ s (a
point while one is held by a waiting worker stalls the run: it is reported, never hung),
and classes whose instances cannot change class (``__slots__``, C types): those keep only
the points the harness puts before each call.

``controlled_locks_plugin`` wraps an in-process lock provider (``shared_across_processes``
False): each client call is a point and the provider is built with controlled locks, so its
waiters wait through the scheduler. A provider shared across processes is an external
service (a ZeroMQ broker, Redis): a worker waiting for its reply would hold the baton, so it
is refused with one line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from harness import schedule
from harness.errors import ConfigError
from harness.system.locks.protocol import Grant, LockClient, LockProvider

T = TypeVar("T")


def traced(component: T, label: str) -> T:
    """``component`` with a schedule point before each read or write of its own attributes (in place)."""
    try:
        kind: Any = type(component)
        component.__class__ = _traced_class(kind, label)
    except TypeError:  # __slots__ or a C type: only the points before each call remain
        pass
    return component


@functools.cache
def _traced_class(cls: Any, label: str) -> type:
    def __getattribute__(self: Any, name: str) -> Any:  # noqa: N807 -- the hook's own name
        if name in object.__getattribute__(self, "__dict__"):
            schedule.point(f"{label}.{name}")
        return cls.__getattribute__(self, name)

    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        schedule.point(f"{label}.{name}")
        cls.__setattr__(self, name, value)

    namespace = {"__getattribute__": __getattribute__, "__setattr__": __setattr__, "__module__": cls.__module__,
                 "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls,), namespace)


def controlled_factory(factory: Callable[..., Any], label: str) -> Callable[..., Any]:
    """``factory`` building under controlled locks, its products traced as ``label``."""
    def build(*args: Any, **kwargs: Any) -> Any:
        with schedule.controlled_locks():
            return traced(factory(*args, **kwargs), label)
    return build


class ControlledClient:
    """A lock client whose every call is a schedule point first."""

    def __init__(self, client: LockClient) -> None:
        self._client = client
        self.client_id = client.client_id

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """The wrapped acquire, after a point."""
        schedule.point("locks.acquire")
        return self._client.acquire(names, timeout)

    def release(self, grant: Grant) -> None:
        """The wrapped release, after a point."""
        schedule.point("locks.release")
        self._client.release(grant)

    def renew(self, grant: Grant) -> Grant:
        """The wrapped renew, after a point."""
        schedule.point("locks.renew")
        return self._client.renew(grant)

    def close(self) -> None:
        """The wrapped close."""
        self._client.close()


class ControlledProvider:
    """An in-process lock provider whose clients' calls are schedule points."""

    shared_across_processes = False

    def __init__(self, provider: LockProvider) -> None:
        self.provider = provider

    def client(self, client_id: str, history: Any) -> ControlledClient:
        """A controlled client of the wrapped provider."""
        return ControlledClient(self.provider.client(client_id, history))


def build_lock_plugin(factory: Callable[..., Any], *args: Any) -> Any:
    """Build a ``--locks`` plug-in under controlled locks; refuse one that is an external service."""
    with schedule.controlled_locks():
        provider = factory(*args)
    if getattr(provider, "shared_across_processes", False):
        raise ConfigError("--locks: a lock service shared across processes (a broker, Redis) answers from outside "
                          "the controlled threads and cannot be controlled; an in-process provider "
                          "(shared_across_processes = False) can")
    return provider
