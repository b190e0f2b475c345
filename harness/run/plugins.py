"""Loading a user's component and checking it against its port, before it is trusted.

Every way a plug-in can be unusable -- a module that does not import or has a syntax error,
a missing attribute, a factory with the wrong signature, a factory that raises, a product
of the wrong type, a missing method or one with the wrong signature -- becomes one
``PluginError`` line naming the flag, the plug-in path and the problem (exit 2 at the
CLI), never a traceback or a gate failure blamed on the system under test.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from harness import userfiles
from harness.errors import ConfigError
from harness.system.ports import PORTS


class PluginError(ConfigError):
    """A plug-in that cannot be used (one line: flag, path, problem)."""


def import_target(path: str, what: str = "plug-in") -> Any:
    """Resolve ``module:attribute`` or ``file.py:attribute``; PluginError when it cannot."""
    module_name, sep, attr = path.rpartition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{path}: expected module:factory or path/to/file.py:factory")
    try:
        module = import_module(module_name, what)
    except PluginError as exc:
        raise PluginError(f"{path}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"{path}: {module_name} has no attribute {attr!r}") from None


def import_module(name: str, what: str = "plug-in") -> ModuleType:
    """Import a module by dotted name or from a ``.py`` file, turning every failure into one line."""
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # a user's plug-in lives in the project they run from
    try:
        if name.endswith(".py"):
            return _import_file(Path(name))
        return importlib.import_module(name)
    except PluginError:
        raise
    except SyntaxError as exc:
        raise PluginError(f"syntax error in the {what} at {exc.filename}:{exc.lineno}: {exc.msg}") from None
    except ImportError as exc:
        raise PluginError(f"cannot import {name}: {exc}") from None
    except SystemExit as exc:  # a module that exits on import would end the harness with its own code
        raise PluginError(f"importing {name} called sys.exit({exc.code!r})") from None
    except Exception as exc:  # noqa: BLE001 -- whatever a user's module raises on import is bad input
        raise PluginError(f"importing {name} raised {type(exc).__name__}: {exc}") from None


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise PluginError(f"no such file {path}")
    # Imported by a name that encodes its path: a spawned worker unpickling what it defines imports it too.
    return userfiles.load(path)


def problem(protocol: type, obj: Any) -> str | None:
    """What ``obj`` lacks to implement ``protocol`` (a missing member or a wrong signature), or None."""
    for name in _members(protocol):
        if not hasattr(obj, name):
            return f"has no {name!r} ({protocol.__name__} needs it)"
        wanted = inspect.getattr_static(protocol, name, None)
        if not callable(wanted):
            continue
        member = getattr(obj, name)
        if not callable(member):
            return f"whose {name!r} is not callable ({protocol.__name__} calls it)"
        mismatch = call_mismatch(member, wanted, bound=True)
        if mismatch:
            return f"whose {name}() {mismatch}"
    return None


_DUNDERS = ("__call__", "__iter__", "__next__")


def _members(protocol: type) -> list[str]:
    """Attributes, properties and methods a protocol declares, its protocol bases' included."""
    names: list[str] = []
    for klass in reversed(protocol.__mro__):
        if not getattr(klass, "_is_protocol", False) or klass is Protocol:
            continue
        names += [n for n in vars(klass).get("__annotations__", {}) if not n.startswith("_")]
        names += [n for n, v in vars(klass).items()
                  if (callable(v) or isinstance(v, property)) and (not n.startswith("_") or n in _DUNDERS)]
    return list(dict.fromkeys(names))


def call_mismatch(func: Callable[..., Any], like: Callable[..., Any], bound: bool = False) -> str | None:
    """Why ``func`` cannot be called the way ``like`` is declared (None when it can)."""
    try:
        sig, wanted = inspect.signature(func), inspect.signature(like)
    except (TypeError, ValueError):
        return None  # builtins without a signature: nothing to check
    params = list(wanted.parameters.values())[1 if bound else 0:]
    return bind_mismatch(sig, [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)],
                         [p.name for p in params if p.kind is p.KEYWORD_ONLY])


def bind_mismatch(sig: inspect.Signature, args: list[str], kwargs: list[str]) -> str | None:
    """Why ``sig`` does not accept positional ``args`` and keyword ``kwargs`` (None when it does)."""
    try:
        sig.bind(*args, **dict.fromkeys(kwargs))
    except TypeError as exc:
        call = ", ".join([*args, *(f"{k}=" for k in kwargs)])
        return f"has signature {sig} but is called as ({call}): {exc}"
    return None


@dataclass(frozen=True)
class Plugin:
    """A loaded component factory for one port; calling it builds and checks a component."""

    flag: str
    path: str
    factory: Callable[..., Any]
    product: type | None = None  # a stricter port a scenario needs (None: the flag's own)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the factory; a raise or a product that breaks the port is a PluginError."""
        try:
            product = self.factory(*args, **kwargs)
        except PluginError:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 -- a user's factory failing is bad input, with its name
            raise self.error(f"the factory raised {type(exc).__name__}: {exc}") from None
        self.check(product)
        return product

    def check(self, product: Any) -> None:
        """Raise PluginError when ``product`` does not implement the port."""
        protocol = self.product or PORTS[self.flag].product
        wrong = problem(protocol, product) if protocol is not None else None
        if wrong:
            raise self.error(f"returned a {type(product).__name__} that {wrong}")

    def error(self, text: str) -> PluginError:
        """One line: ``--flag path: text``."""
        return PluginError(f"--{self.flag} {self.path}: {text}")

def load(flag: str, path: str) -> Plugin:
    """Import the ``--flag`` plug-in at ``path`` and check its factory's signature."""
    if flag not in PORTS:
        raise PluginError(f"--{flag}: not a plug-in port (ports: {', '.join(PORTS)})")
    try:
        factory = import_target(path)
    except PluginError as exc:
        raise PluginError(f"--{flag} {exc}") from None
    return of(flag, factory, path)


def of(flag: str, factory: Any, label: str | None = None) -> Plugin:
    """Wrap a component factory (loaded or given in a test) and check it can be called as the port calls it."""
    if label is None:
        module = userfiles.display(getattr(factory, "__module__", None) or "?")
        label = f"{module}:{getattr(factory, '__qualname__', repr(factory))}"
    plugin = Plugin(flag, label, factory)
    if not callable(factory):
        raise plugin.error(f"is a {type(factory).__name__}, not a factory (a callable)")
    port = PORTS[flag]
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return plugin
    mismatch = bind_mismatch(sig, list(port.factory_args), list(port.factory_kwargs))
    if mismatch:
        raise plugin.error(f"factory {mismatch}")
    return plugin


class Plugins:
    """User components replacing the reference ones, by port name (``harness.system.ports.PORTS``).

    ``plugins.locks`` is the locks plug-in or None; any name that is not a port is an error.
    Immutable: ``replaced`` gives a changed copy.
    """

    __slots__ = ("_by_port",)
    _by_port: dict[str, Plugin]

    def __init__(self, **by_port: Any) -> None:
        unknown = sorted(set(by_port) - set(PORTS))
        if unknown:
            raise PluginError(f"{unknown[0]}: not a plug-in port (ports: {', '.join(PORTS)})")
        object.__setattr__(self, "_by_port", {k: v for k, v in by_port.items() if v is not None})

    @classmethod
    def of(cls, **components: Any) -> Plugins:
        """From factories (a ``module:factory`` path, a callable or a Plugin) keyed by port."""
        cls(**components)  # unknown ports are refused before anything is imported
        return cls(**{name: _plugin(name, value) for name, value in components.items() if value is not None})

    def __getattr__(self, port: str) -> Plugin | None:
        if port in PORTS:
            return self._by_port.get(port)
        raise AttributeError(f"{port}: not a plug-in port (ports: {', '.join(PORTS)})")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Plugins is immutable: use replaced()")

    def given(self) -> dict[str, Plugin]:
        """The plug-ins set, by port."""
        return dict(self._by_port)

    def named(self) -> dict[str, str]:
        """Each plug-in by port, as the user gave it (a path, or a callable's ``module:qualname``)."""
        return {name: plugin.path for name, plugin in self._by_port.items()}

    def replaced(self, **changes: Any) -> Plugins:
        """A copy with the given ports set (None: back to the reference component)."""
        return Plugins(**{**self._by_port, **changes})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plugins) and self._by_port == other._by_port

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._by_port)))

    def __repr__(self) -> str:
        return f"Plugins({', '.join(f'{k}={v!r}' for k, v in self._by_port.items())})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._by_port,))


NO_PLUGINS = Plugins()  # the reference components everywhere


def _rebuild(by_port: dict[str, Any]) -> Plugins:
    return Plugins(**by_port)


def _plugin(flag: str, value: Any) -> Plugin:
    if isinstance(value, Plugin):
        return value
    return load(flag, value) if isinstance(value, str) else of(flag, value)
