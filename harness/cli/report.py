"""``harness report PATH``: (re)build report.html from a saved run directory or events.jsonl."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import EXIT_PASS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``harness report``."""
    p.add_argument("path", type=Path)
    p.add_argument("--out", type=Path, help="file to write (default: report.html in the run directory; NAME.report.html beside another history)")


def execute(args: argparse.Namespace) -> int:
    """Build the report; a history from elsewhere gets the panels it has data for."""
    from harness.report.html import rebuild

    print(f"report: {rebuild(args.path, args.out)}")
    return EXIT_PASS
