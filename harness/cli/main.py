"""The harness command: run scenarios as CI gate jobs, re-judge saved histories.

Exit codes: 0 PASS, 1 a gate failed, 2 the run could not be made (bad input, missing
service) -- always with one clear line on stderr, never a traceback (``harness.errors``).

Each subcommand lives in its own module, imported only when it is the one asked for: the
parser knows every subcommand's name and help, and the arguments of the one being run, so
``harness check`` never loads the system under test and ``harness --version`` loads nothing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.cli.boundary import check_endpoint, check_port, check_utf8
from harness.errors import EXIT_BAD_INPUT, EXIT_PASS, HarnessError, ServiceUnavailable, UsageError, one_line


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


@dataclass(frozen=True)
class Command:
    """A subcommand: its help, and the module whose functions add its arguments and run it."""

    help: str
    module: str
    arguments: str
    runner: str
    aliases: tuple[str, ...] = ()

    def function(self, name: str) -> Callable[..., int]:
        """The named function of the command's module (imported now)."""
        return getattr(importlib.import_module(self.module), name)


COMMANDS: dict[str, Command] = {
    "run": Command("run a scenario and write its report directory", "harness.cli.run", "add_arguments", "execute"),
    "list": Command("list the scenarios", "harness.cli.run", "", "list_scenarios"),
    "check": Command("re-judge a saved events.jsonl, STRESS_TEST.log or run directory", "harness.cli.check",
                     "add_arguments", "execute", ("verify-log",)),
    "report": Command("(re)build report.html from a saved run directory or events.jsonl", "harness.cli.report",
                      "add_arguments", "execute"),
    "check-history": Command("linearizability of a recorded history", "harness.cli.check_history",
                             "add_check_history_arguments", "run_check_history"),
    "broker": Command("serve the ZeroMQ lock broker in this process", "harness.system.locks.server",
                      "add_broker_arguments", "run_broker"),
    "serve": Command("serve the Guardian API over a saved run", "harness.serve.app", "add_serve_arguments", "run_serve"),
    "sweep": Command("run many scenarios x seeds x modes x schedule chunks, spread by pytest-xdist",
                     "harness.cli.sweep", "add_arguments", "execute"),
    "drain": Command("write the spill a run kept because a service was down", "harness.run.drain",
                     "add_drain_arguments", "run_drain"),
}
ALIASES = {alias: name for name, command in COMMANDS.items() for alias in command.aliases}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; only ``command``'s arguments are added (None: every one's)."""
    parser = _Parser(prog="harness", description=(__doc__ or "harness").splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the harness version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, spec in COMMANDS.items():
        p = sub.add_parser(name, help=spec.help, aliases=list(spec.aliases))
        if spec.arguments and command in (None, name):
            spec.function(spec.arguments)(p)
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (its first word that is not an option)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return ALIASES.get(word or "", word)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        check_utf8(argv)
        args = build_parser(_command_word(argv) or "").parse_args(argv)  # no command: no subcommand imported
        if args.version:
            from harness._version import __version__

            print(f"harness {__version__}")
            return EXIT_PASS
        if args.command is None:
            raise UsageError("a command is required (see harness --help)")
        check_arguments(args)
        spec = COMMANDS[ALIASES.get(args.command, args.command)]
        return spec.function(spec.runner)(args)
    except ServiceUnavailable as exc:
        return _refuse(f"harness: error: service unavailable: {exc}", exc.exit_code)
    except HarnessError as exc:
        return _refuse(f"harness: error: {exc}", exc.exit_code)
    except KeyboardInterrupt:
        return _refuse("harness: interrupted")
    except BrokenPipeError:
        # The reader of our output went away (`harness check ... | head`): no service is missing.
        # Point stdout at /dev/null so the interpreter's exit flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _refuse("harness: error: output closed before the verdict was written (broken pipe)")
    except ConnectionError as exc:
        return _refuse(f"harness: error: service unavailable: {exc}")
    except OSError as exc:  # the OS refused a path the user gave (too long, not a directory, no permission)
        where = f"{exc.filename}: " if exc.filename else ""
        return _refuse(f"harness: error: {where}{exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 -- the last line of defence: one line, the traceback kept in a file
        return _refuse(f"harness: internal error: {type(exc).__name__}: {exc} (traceback in {_save_traceback()}; "
                       f"please report it)")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse flag values the commands would only trip over later (or silently replace)."""
    if args.command == "broker":
        check_endpoint("--endpoint", args.endpoint)
    if args.command == "serve":
        check_port("--port", args.port)


def _refuse(line: str, code: int = EXIT_BAD_INPUT) -> int:
    print(one_line(line), file=sys.stderr)
    return code


def _save_traceback() -> str:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="harness-traceback-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
        out.write(traceback.format_exc())
    return path


if __name__ == "__main__":
    sys.exit(main())
