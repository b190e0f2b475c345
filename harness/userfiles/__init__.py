"""A user's plug-in file (``path/to/locks.py:factory``) as a module any process can import by name.

The module's name encodes the file's absolute path (``harness.userfiles.f_<hex of the
path>``), and importing this package installs the finder that decodes it. So a class or
function defined in the file pickles by reference like any other, and a spawned worker that
unpickles it imports the same file -- no registry to hand over, nothing to set up in the child.
Reports name such an object by the file the user wrote (``display``), never by the encoded name.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PREFIX = f"{__name__}.f_"


def module_name(path: Path) -> str:
    """The importable name of the module at ``path``."""
    return PREFIX + str(path.resolve()).encode("utf-8").hex()


def file_of(name: str) -> Path | None:
    """The file a module name encodes (None: not a user file's module)."""
    if not name.startswith(PREFIX):
        return None
    try:
        return Path(bytes.fromhex(name[len(PREFIX):]).decode("utf-8"))
    except ValueError:
        return None


def display(module: str) -> str:
    """How a report names a module: the user's file (relative to the working directory when inside it), else as is."""
    path = file_of(module)
    return module if path is None else shown(path)


def shown(path: Path) -> str:
    """A file as a person names it: relative to the working directory when inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def qualified(kind: type) -> str:
    """``module.Class``, or ``path/to/file.py:Class`` for a class a user's plug-in file defines."""
    shown = display(kind.__module__)
    return f"{shown}:{kind.__qualname__}" if shown != kind.__module__ else f"{shown}.{kind.__qualname__}"


def load(path: Path) -> ModuleType:
    """Import the user's file at ``path`` (once per process)."""
    return importlib.import_module(module_name(path))


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``harness.userfiles.f_<hex>`` at the file the name encodes."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        """The spec of a user file's module (None for every other name, or a file that is gone)."""
        file = file_of(fullname)
        if file is None or not os.path.isfile(file):
            return None
        return importlib.util.spec_from_file_location(fullname, file)


if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
    sys.meta_path.append(_Finder())
