"""``python -m bench [--quick] [--only NAME ...]``: run every benchmark, write bench.json, print a table."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.runner import Row, deadline_note

# Order matters: cheap raw baselines first, the long scaling sweep last.
MODULES = ("locks", "e2e", "persistence", "decode", "checkers", "linearizability", "schedule", "races", "sweep",
           "scaling")
OUT = Path("reports/bench/bench.json")


def run_module(name: str, quick: bool) -> list[Row]:
    """Run one bench module; bench_locks rows get their group added (its contract has none)."""
    module = importlib.import_module(f"bench.bench_{name}")
    rows: list[Row] = module.run(quick)
    for entry in rows:
        entry.setdefault("group", name)
        if not entry.get("group"):
            entry["group"] = name
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


COLUMNS = ("group", "measure", "value", "unit", "min", "max", "runs", "baseline", "base value", "ratio", "target",
           "met", "growth")


def cells(r: Row, met: dict[bool | None, str]) -> list[str]:
    """One row's table cells; ``met`` spells the verdict (rich markup or Markdown)."""
    grow = "" if "exponent" not in r else (f"{r['exponent']:.2f} ({r['growth']}); "
                                           f"line {_fmt(r.get('fixed'))} + {_fmt(r.get('per_unit'))}/unit")
    return [r["group"], r["name"], _fmt(r["value"]), r["unit"], _fmt(r["min"]), _fmt(r["max"]), str(r["runs"]),
            r.get("baseline") or "", _fmt(r.get("baseline_value")), _fmt(r.get("ratio")), r.get("target", ""),
            met[r.get("met")], grow]


def table(rows: list[Row], title: str) -> Table:
    """The rows as a rich table."""
    out = Table(title=title, show_lines=False)
    for column in COLUMNS:
        numeric = column in {"value", "min", "max", "runs", "base value", "ratio"}
        out.add_column(column, justify="right" if numeric else "left")
    for r in rows:
        out.add_row(*cells(r, {True: "[green]yes[/]", False: "[red]NO[/]", None: ""}))
    return out


def markdown(report: dict[str, Any]) -> str:
    """A saved report as a Markdown table (for BENCHMARKS.md), figures exactly as in the JSON."""
    lines = [f"Run {report['date_utc']} on {report.get('cpus')} CPUs, {report['elapsed_s']} s, load average "
             f"before/after {report.get('loadavg_before')} / {report.get('loadavg_after')}"
             f"{' (quick)' if report['quick'] else ''}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in report["measures"]:
        row_cells = cells(r, {True: "yes", False: "**NO**", None: ""})
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row_cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, write the JSON report, print the table; exit 1 if one crashed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run only these benchmark modules")
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON report path (default {OUT})")
    parser.add_argument("--markdown", type=Path, metavar="JSON", help="print a saved report as Markdown; run nothing")
    args = parser.parse_args(argv)
    if args.markdown is not None:
        print(markdown(json.loads(args.markdown.read_text(encoding="utf-8"))))
        return 0
    console = Console(stderr=True)
    # The machine may be shared: the load average says how much the figures can be trusted.
    load_before = os.getloadavg()
    started, rows, failures = time.perf_counter(), [], []
    for name in args.only or MODULES:
        with deadline_note(name, console.log):
            try:
                rows += run_module(name, args.quick)
            except Exception as exc:  # noqa: BLE001 -- one broken benchmark must not lose the others
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
                console.log(f"[red]bench {name} failed: {exc}")
    report = {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "python": platform.python_version(), "machine": platform.machine(),
        "quick": args.quick, "elapsed_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "failures": failures, "measures": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    load = "/".join(f"{x:.1f}" for x in report["loadavg_after"])
    Console(width=220).print(table(rows, f"bench {report['date_utc']} ({report['elapsed_s']}s"
                                         f"{', quick' if args.quick else ''}, {report['cpus']} CPUs, "
                                         f"load {load}) -> {args.out}"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
