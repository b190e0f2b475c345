"""The harness command: run scenarios as CI gate jobs, re-judge saved histories.

Exit codes: 0 PASS, 1 a gate failed, 2 the run could not be made (bad input, missing
service) -- always with one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.boundary import check_endpoint, check_new_run_dir, check_port, check_utf8, one_line
from harness.config import ConfigError, RunError, load_config
from harness.history import HistoryError

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """A command line that cannot be run."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _port(text: str) -> int:
    port = _positive_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 0-65535, got {text!r}")
    return port


def _add_run(sub: Any) -> None:
    from harness.controlled_cli import add_schedule_arguments

    p = sub.add_parser("run", help="run a scenario and write its report directory")
    p.add_argument("name", help="scenario name (see `harness list`) or a scenario file path/to/file.py")
    p.add_argument("--seed", type=_positive_int)
    p.add_argument("--symbols", help="comma-separated symbol names")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--trades", type=_positive_int, help="closed trades per symbol")
    size.add_argument("--duration", type=_positive_float, help="seconds of trading per symbol")
    p.add_argument("--mode", choices=["thread", "process", "single"])
    p.add_argument("--out", type=Path, help="report directory (default reports/<scenario>-<UTC>-<seed>)")
    p.add_argument("--config", type=Path, help="TOML file with [run] and [gates] tables")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override one run setting, dotted for nested tables (limits.max_gross_exposure=0.5)")
    p.add_argument("--gate", action="append", default=[], metavar="KEY=VALUE", dest="gates",
                   help="override one gate threshold (max_overlaps=0)")
    for plugin in PLUGINS:
        p.add_argument(f"--{plugin}", metavar="MODULE:FACTORY",
                       help="price files: csv:PATH or SYMBOL=FILE,... -- or your own feed factory" if plugin == "feed"
                       else f"use your own {plugin} (see docs/PLUGINS.md)")
    p.add_argument("--until-feed-ends", action="store_true", default=None,
                   help="--trades is an upper bound: a price file that ends first is not a failure")
    p.add_argument("--serve", nargs="?", const=8787, type=_port, metavar="PORT",
                   help="watch the run live: the Guardian API on 127.0.0.1:PORT (default 8787; 0 = any free port)")
    p.add_argument("--token", help="bearer token of the live API (default: $HARNESS_API_TOKEN)")
    add_schedule_arguments(p, _positive_int)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from harness.drain import add_drain_arguments
    from harness.guardian.api import add_serve_arguments
    from harness.linearizability.cli import add_check_history_arguments
    from harness.locks.server import add_broker_arguments

    parser = _Parser(prog="harness", description=(__doc__ or "harness").splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the harness version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_run(sub)
    sub.add_parser("list", help="list the scenarios")
    check = sub.add_parser("check", aliases=["verify-log"],
                           help="re-judge a saved events.jsonl, STRESS_TEST.log or run directory")
    check.add_argument("path", type=Path)
    check.add_argument("--scenario", help="judge with this scenario's areas and thresholds")
    check.add_argument("--areas", help="judge exactly these areas (comma-separated keys), each required to apply")
    check.add_argument("--config", type=Path)
    check.add_argument("--lenient", action="store_true",
                       help="judge the lines that meet the history contract; report the others as a failed gate")
    report = sub.add_parser("report", help="(re)build report.html from a saved run directory or events.jsonl")
    report.add_argument("path", type=Path)
    report.add_argument("--out", type=Path, help="file to write (default: report.html in the run directory)")
    add_check_history_arguments(sub.add_parser("check-history", help="linearizability of a recorded history"))
    add_broker_arguments(sub.add_parser("broker", help="serve the ZeroMQ lock broker in this process"))
    add_serve_arguments(sub.add_parser("serve", help="serve the Guardian API over a saved run"))
    add_drain_arguments(sub.add_parser("drain", help="write the spill a run kept because a service was down"))
    return parser


def _explicit(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` and ``--gate`` assignments as a ``{"run": ..., "gates": ...}`` mapping."""
    from harness.config import assignments
    from harness.overrides import nest

    explicit: dict[str, Any] = {}
    if args.settings:
        explicit["run"] = nest(assignments(args.settings))
    if args.gates:
        explicit["gates"] = assignments(args.gates)
    return explicit


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    explicit = _explicit(args)
    run: dict[str, Any] = explicit.get("run", {})
    for key in ("seed", "symbols", "trades", "duration", "mode", "until_feed_ends"):
        value = getattr(args, key, None)
        if value is not None:
            run[key] = value
    if _data_feed(args):
        run["feed"] = args.feed
    return {**explicit, "run": run} if run else explicit


PLUGINS = ("engine", "locks", "aggregator", "guardian", "ledger", "feed", "store", "cache")


def _plugins(args: argparse.Namespace):
    from harness.scenario import Plugins

    given = {name: getattr(args, name) for name in PLUGINS if getattr(args, name, None)}
    if _data_feed(args):
        del given["feed"]  # price files are run settings, not a plug-in
    return Plugins.of(**given)


def _data_feed(args: argparse.Namespace) -> bool:
    from harness.feed import is_data_feed

    return bool(getattr(args, "feed", None)) and is_data_feed(args.feed)


def _repeated_flags(args: argparse.Namespace) -> list[str]:
    """Flags the reproduce command must carry beyond the run settings."""
    from harness.overrides import override_flags

    flags = ["--config", str(args.config)] if args.config else []
    flags += ["--until-feed-ends"] if getattr(args, "until_feed_ends", None) else []
    flags += override_flags(_explicit(args))
    for name in PLUGINS:
        if getattr(args, name, None):
            flags += [f"--{name}", getattr(args, name)]
    return flags


def cmd_run(args: argparse.Namespace) -> int:
    """harness run NAME: execute, write reports, print the verdict."""
    from harness import controlled_cli
    from harness.progress import print_verdict, symbol_progress
    from harness.report import write_reports
    from harness.report.writer import sizes_line
    from harness.scenario import execute, load, run_dir_name

    scenario = load(args.name)
    config = scenario.configure(load_config(args.config), _overrides(args))
    plugins = _plugins(args)
    out = args.out or Path("reports") / run_dir_name(scenario.name, config.run.seed)
    check_new_run_dir(out)
    if controlled_cli.wanted(args):
        return controlled_cli.run_controlled(args, scenario, config, plugins, out, _repeated_flags(args))
    with _live(args) as on_history, symbol_progress(config.run) as progress:
        verdict = execute(scenario, config, out, plugins=plugins, progress=progress,
                          command_flags=_repeated_flags(args), on_history=on_history)
    paths = write_reports(verdict, out)
    print_verdict(verdict, out)
    print(sizes_line(paths))
    return verdict.exit_code


@contextlib.contextmanager
def _live(args: argparse.Namespace) -> Iterator[Callable[[Any], None] | None]:
    """With ``--serve``: the live Guardian API for the run's duration; yields its history hook."""
    if args.serve is None:
        yield None
        return
    import os

    from harness.guardian.api import TOKEN_ENV

    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError(f"--serve: give --token or set {TOKEN_ENV} (the live API needs a bearer token)")
    try:
        from harness.live import LiveSource, start

        source = LiveSource()
        server = start(source, token, port=args.serve)
    except ImportError as exc:
        raise UsageError(f"--serve: the API needs fastapi and uvicorn (pip install 'harness[api]'): {exc}") from None
    except (OSError, OverflowError) as exc:
        raise UsageError(f"--serve: cannot listen on 127.0.0.1:{args.serve}: {exc}") from None
    print(f"live: {server.url} (Guardian API: /health /guardian /metrics /alerts /audit /docs)", flush=True)
    try:
        yield source.attach
    finally:
        server.stop()


def cmd_list(args: argparse.Namespace) -> int:
    """harness list: scenario names and titles."""
    from harness.scenario import available, load

    for name in available():
        scenario = load(name)
        print(f"{name:24} {scenario.title}")
    return EXIT_PASS


def cmd_check(args: argparse.Namespace) -> int:
    """harness check PATH: re-judge a saved history with the same gates."""
    from harness.rejudge import rejudge

    return rejudge(args.path, args.scenario, args.config, args.areas, args.lenient)


def cmd_report(args: argparse.Namespace) -> int:
    """harness report PATH: (re)build report.html; a history from elsewhere gets the panels it has data for."""
    from harness.report.html import rebuild

    print(f"report: {rebuild(args.path, args.out)}")
    return EXIT_PASS


def cmd_drain(args: argparse.Namespace) -> int:
    """harness drain DIR: write a run's kept spill once its services are back."""
    from harness.drain import run_drain

    return run_drain(args)


COMMANDS = {"drain": cmd_drain, "run": cmd_run, "list": cmd_list, "check": cmd_check, "verify-log": cmd_check,
            "report": cmd_report}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        check_utf8(argv)
        args = build_parser().parse_args(argv)
        if args.version:
            from harness import __version__

            print(f"harness {__version__}")
            return EXIT_PASS
        if args.command is None:
            raise UsageError("a command is required (see harness --help)")
        check_arguments(args)
        if args.command == "check-history":
            from harness.linearizability.cli import run_check_history

            return run_check_history(args)
        if args.command == "broker":
            from harness.locks.server import run_broker

            return run_broker(args)
        if args.command == "serve":
            from harness.guardian.api import run_serve

            return run_serve(args)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, HistoryError, RunError) as exc:
        return _refuse(f"harness: error: {exc}")
    except KeyboardInterrupt:
        return _refuse("harness: interrupted")
    except BrokenPipeError:
        # The reader of our output went away (`harness check ... | head`): no service is missing.
        # Point stdout at /dev/null so the interpreter's exit flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _refuse("harness: error: output closed before the verdict was written (broken pipe)")
    except _service_errors() as exc:
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


def _refuse(line: str) -> int:
    print(one_line(line), file=sys.stderr)
    return EXIT_BAD_INPUT


def _save_traceback() -> str:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="harness-traceback-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
        out.write(traceback.format_exc())
    return path


def _service_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a service the run needs is missing."""
    errors: list[type[BaseException]] = [ConnectionError]
    try:
        from harness.services import ServiceUnavailable

        errors.append(ServiceUnavailable)
    except ImportError:
        pass
    return tuple(errors)


if __name__ == "__main__":
    sys.exit(main())
