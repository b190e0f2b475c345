"""Every error the harness raises on purpose, and the exit code each one means -- in one place.

``HarnessError`` is the common base: the command line catches it once and exits with its
``exit_code`` after one line on stderr (``one_line``), never a traceback. The specific errors
stay beside the code that raises them (``HistoryError`` in the history, ``LockError`` in the
lock services, ...) and derive from one of the families here, keeping the standard base a
caller may already catch (``ValueError`` for bad input, ``RuntimeError`` for a run that
could not be made).

This module imports nothing of the harness: every layer may raise these.
"""

from __future__ import annotations

EXIT_PASS = 0  # every gate passed
EXIT_FAIL = 1  # a gate failed: the verdict is the finding
EXIT_BAD_INPUT = 2  # the run or check could not be made: bad input, a missing service


class HarnessError(Exception):
    """Base of the harness's own errors; ``exit_code`` is what the command returns for it."""

    exit_code: int = EXIT_BAD_INPUT


class InputError(HarnessError, ValueError):
    """Bad input: a flag, a setting, a file, a plug-in path -- the message names which."""


class ConfigError(InputError):
    """A configuration value is missing, of the wrong type or out of range."""


class UsageError(InputError):
    """A command line that cannot be run."""


class RunError(HarnessError, RuntimeError):
    """The run could not be made (a child that would not start, a service that went away)."""


class ServiceUnavailable(RunError):
    """A service the run needs (Redis, PostgreSQL) cannot be reached."""


class Finding(HarnessError, AssertionError):
    """A check failed where the caller wanted an exception (a schedule that found a race)."""

    exit_code = EXIT_FAIL


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc``: its own for a HarnessError, 2 (could not be made) otherwise."""
    return exc.exit_code if isinstance(exc, HarnessError) else EXIT_BAD_INPUT


def worst(codes: list[int]) -> int:
    """The exit code of several verdicts in one call: a failure first, then bad input, then any
    other (check-history's unknown), then pass -- so a finding in one file is never hidden."""
    order = [EXIT_FAIL, EXIT_BAD_INPUT]
    return min(codes, key=lambda c: order.index(c) if c in order else len(order) + (c == EXIT_PASS), default=EXIT_PASS)


_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


def one_line(message: object) -> str:
    """``message`` on one printable line: newlines folded; control bytes (NUL, ESC) and text that cannot be
    encoded escaped."""
    text = " ".join(str(message).split()).translate(_CONTROL)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
