"""``harness sweep SPEC...``: a sweep for people who do not write tests -- pytest-xdist underneath.

The same items as ``pytest --harness-sweep`` (``harness.pytest.sweep``), run by ``pytest.main``
in an empty directory with no configuration of the caller's project, so ``-n`` and ``--tx``
spread it exactly as they spread a test suite. Exit 0 when every case PASSed, 1 when one did not.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

import pytest

from harness.errors import EXIT_BAD_INPUT, ConfigError, UsageError
from harness.run.sweep import parse_spec


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``harness sweep``."""
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="'SCENARIO[,..] seeds=0-9 modes=thread,process schedules=N chunk=K -- RUN FLAGS'")
    p.add_argument("-n", "--workers", default=None, metavar="N",
                   help="xdist workers on this machine (a number or auto; default: none, run in order)")
    p.add_argument("--tx", action="append", default=[], metavar="XSPEC",
                   help="an execnet gateway per worker, e.g. socket=10.0.0.2:8888 (repeatable; see pytest-xdist)")
    p.add_argument("--out", type=Path, default=None, help="sweep directory (default reports/sweep-<UTC>)")


def pytest_args(args: argparse.Namespace, out: Path) -> list[str]:
    """The pytest command line of this sweep (isolated from any project configuration)."""
    words = ["-q", "-p", "no:cacheprovider", "-c", str(out / "pytest.ini"), "--rootdir", str(out),
             "--harness-sweep-dir", str(out), "--junitxml", str(out / "junit.xml")]
    for spec in args.specs:
        words += ["--harness-sweep", spec]
    if args.workers is not None:
        words += ["-n", str(args.workers)]
    for tx in args.tx:
        words += ["--tx", tx]
    if args.tx:
        # A gateway that is not a local process gets its paths relative to an rsync root, and
        # the (tiny) sweep directory copied to it: only pytest.ini, the runs write where the
        # controller's sweep directory is on that host.
        # xdist deprecates rsync for 4.0; until a release replaces it, it is what remote gateways use.
        words += ["--rsyncdir", str(out), "-W", "ignore:The --rsyncdir:DeprecationWarning"]
        words += ["--dist", "load"] if args.workers is None else []
    return [*words, str(out)]


def execute(args: argparse.Namespace) -> int:
    """Run the sweep; exit 0 when every case PASSed, 1 otherwise, 2 on a bad spec."""
    for spec in args.specs:
        try:
            parse_spec(spec)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    out = (args.out or Path("reports") / f"sweep-{stamp}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    code = int(pytest.main(pytest_args(args, out)))
    if code in (0, 1):
        return code
    return EXIT_BAD_INPUT if code in (3, 4) else 1
