"""One error base: every exception the harness defines is a HarnessError with an exit code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import harness
from harness.errors import EXIT_BAD_INPUT, EXIT_FAIL, ConfigError, Finding, HarnessError, exit_code, one_line
from harness.explore.scheduler import ScheduleAborted
from harness.run.interrupt import Interrupted

CONTROL_FLOW = {ScheduleAborted, Interrupted}  # unwind a worker thread / a run on a second signal


def _defined_exceptions() -> set[type[BaseException]]:
    found = set()
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        if info.name == "harness.__main__" or info.name.startswith(("harness.scenarios.", "harness.serve")):
            continue  # scenario modules are loaded by name; the API needs an optional extra
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def test_every_harness_exception_derives_from_the_one_base():
    defined = _defined_exceptions()
    names = {e.__name__ for e in defined}
    assert {"HistoryError", "LockError", "PluginError", "CheckpointError", "WireError"} <= names  # the walk sees them
    strays = {f"{e.__module__}.{e.__qualname__}" for e in defined - CONTROL_FLOW if not issubclass(e, HarnessError)}
    assert strays == set()


def test_exit_codes_come_from_the_error():
    assert exit_code(ConfigError("x")) == EXIT_BAD_INPUT
    assert exit_code(Finding("a race")) == EXIT_FAIL
    assert exit_code(KeyError("not ours")) == EXIT_BAD_INPUT
    assert isinstance(ConfigError("x"), ValueError)  # callers catching the standard base still do


def test_one_line_folds_and_escapes():
    assert one_line("a\n  b\tc \udc80") == "a b c \\udc80"
    assert one_line("nul\x00 esc\x1b[31m") == "nul\\x00 esc\\x1b[31m"  # no raw control byte reaches a log
