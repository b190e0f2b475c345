"""``harness run NAME`` and ``harness list``: execute a scenario, write its reports, print the verdict."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.cli.arguments import port, positive_float, positive_int
from harness.cli.boundary import check_new_run_dir
from harness.errors import EXIT_PASS, RunError, UsageError
from harness.system.ports import PORTS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``harness run``."""
    from harness.cli.schedules import add_schedule_arguments

    p.add_argument("name", help="scenario name (see `harness list`) or a scenario file path/to/file.py")
    p.add_argument("--seed", type=positive_int)
    p.add_argument("--symbols", help="comma-separated symbol names")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--trades", type=positive_int, help="closed trades per symbol")
    size.add_argument("--duration", type=positive_float, help="seconds of trading per symbol")
    p.add_argument("--mode", choices=["thread", "process", "single"])
    p.add_argument("--out", type=Path, help="report directory (default reports/<scenario>-<UTC>-<seed>)")
    p.add_argument("--config", type=Path, help="TOML file with [run] and [gates] tables")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override one run setting, dotted for nested tables (limits.max_gross_exposure=0.5)")
    p.add_argument("--gate", action="append", default=[], metavar="KEY=VALUE", dest="gates",
                   help="override one gate threshold (max_overlaps=0)")
    for plugin in PORTS:
        p.add_argument(f"--{plugin}", metavar="MODULE:FACTORY",
                       help="price files: csv:PATH or SYMBOL=FILE,... -- or your own feed factory" if plugin == "feed"
                       else f"use your own {plugin} (see docs/PLUGINS.md)")
    p.add_argument("--nemesis", metavar="FAULTS",
                   help="inject lock-path faults: pause,partition,delay,broker-restart,clock-jump (see lock_faults)")
    p.add_argument("--nemesis-seed", type=positive_int, help="seed of the nemesis's targets (default: --seed)")
    p.add_argument("--nemesis-interval", type=positive_float, help="seconds between two injected faults")
    p.add_argument("--nemesis-rounds", type=positive_int, help="injections of each fault (default 3)")
    p.add_argument("--until-feed-ends", action="store_true", default=None,
                   help="--trades is an upper bound: a price file that ends first is not a failure")
    p.add_argument("--serve", nargs="?", const=8787, type=port, metavar="PORT",
                   help="watch the run live: the Guardian API on 127.0.0.1:PORT (default 8787; 0 = any free port)")
    p.add_argument("--token", help="bearer token of the live API (default: $HARNESS_API_TOKEN)")
    add_schedule_arguments(p, positive_int)


def _explicit(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` and ``--gate`` assignments as a ``{"run": ..., "gates": ...}`` mapping."""
    from harness.run.overrides import nest
    from harness.settings import assignments

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
    nemesis = {key: value for key in ("faults", "seed", "interval", "rounds")
               if (value := getattr(args, "nemesis" if key == "faults" else f"nemesis_{key}", None)) is not None}
    if nemesis:
        explicit["nemesis"] = nemesis
    return {**explicit, "run": run} if run else explicit


def _plugins(args: argparse.Namespace):
    from harness.run.plugins import Plugins

    given = {name: getattr(args, name) for name in PORTS if getattr(args, name, None)}
    if _data_feed(args):
        del given["feed"]  # price files are run settings, not a plug-in
    return Plugins.of(**given)


def _data_feed(args: argparse.Namespace) -> bool:
    from harness.system.feed import is_data_feed

    return bool(getattr(args, "feed", None)) and is_data_feed(args.feed)


def _repeated_flags(args: argparse.Namespace) -> list[str]:
    """Flags the reproduce command must carry beyond the run settings."""
    from harness.run.overrides import override_flags

    flags = ["--config", str(args.config)] if args.config else []
    flags += ["--until-feed-ends"] if getattr(args, "until_feed_ends", None) else []
    flags += override_flags(_explicit(args))
    for name in PORTS:
        if getattr(args, name, None):
            flags += [f"--{name}", getattr(args, name)]
    return flags


def execute(args: argparse.Namespace) -> int:
    """harness run NAME: execute, write reports, print the verdict."""
    from harness.cli import schedules
    from harness.cli.progress import print_verdict, symbol_progress
    from harness.report import write_reports
    from harness.report.writer import sizes_line
    from harness.run.config import load_config
    from harness.run.interrupt import Interrupted, StopRequest, on_signals
    from harness.run.scenario import execute, load, run_dir_name

    scenario = load(args.name)
    config = scenario.configure(load_config(args.config), _overrides(args))
    plugins = _plugins(args)
    out = args.out or Path("reports") / run_dir_name(scenario.name, config.run.seed)
    check_new_run_dir(out)
    if schedules.wanted(args):
        return schedules.run_controlled(args, scenario, config, plugins, out, _repeated_flags(args))
    try:
        with on_signals(StopRequest()) as stop:
            with _live(args, out), symbol_progress(config.run) as progress:
                verdict = execute(scenario, config, out, plugins=plugins, progress=progress,
                                  command_flags=_repeated_flags(args), stop=stop)
            paths = write_reports(verdict, out)
    except Interrupted as exc:
        raise RunInterrupted(f"{exc}: the run was abandoned before its report; the history recorded so far is in "
                             f"{out}/events.jsonl (judge it with: harness check {out})", exc.exit_code) from None
    print_verdict(verdict, out)
    print(sizes_line(paths))
    return verdict.exit_code


@contextlib.contextmanager
def _live(args: argparse.Namespace, out: Path) -> Iterator[None]:
    """With ``--serve``: the live Guardian API, in a process of its own, for the run's duration."""
    if args.serve is None:
        yield
        return
    import os

    from harness.serve.app import TOKEN_ENV

    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError(f"--serve: give --token or set {TOKEN_ENV} (the live API needs a bearer token)")
    try:
        import fastapi  # noqa: F401 -- the child needs them: said here, in one line, before the run
        import uvicorn  # noqa: F401

        from harness.run.scenario import HISTORY_FILE
        from harness.serve.live import start

        server = start(out / HISTORY_FILE, token, port=args.serve)
    except ImportError as exc:
        raise UsageError(f"--serve: the API needs fastapi and uvicorn (pip install 'harness[api]'): {exc}") from None
    except (OSError, OverflowError) as exc:
        raise UsageError(f"--serve: cannot listen on 127.0.0.1:{args.serve}: {exc}") from None
    except RuntimeError as exc:
        raise UsageError(f"--serve: {exc}") from None
    print(f"live: {server.url} (Guardian API: /health /guardian /metrics /alerts /audit /docs)", flush=True)
    try:
        yield
    finally:
        server.stop()


class RunInterrupted(RunError):
    """A run abandoned on a second signal; its exit code is the signal's (128 + its number)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


def list_scenarios(args: argparse.Namespace) -> int:
    """harness list: scenario names and titles."""
    from harness.run.catalog import available, literal_title

    for name, target in available().items():
        title = literal_title(target)
        if title is None:  # a title computed at import: only the module itself can say it
            from harness.run.scenario import load

            title = load(name).title
        print(f"{name:24} {title}")
    return EXIT_PASS
