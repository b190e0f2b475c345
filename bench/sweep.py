"""``python -m bench.sweep``: the false-alarm sweep -- clean runs that must all PASS.

Every run here is of the reference system with nothing broken, so every FAIL is a false
alarm of a checker or a gate (or a control that did not land). The default sweep is the one
issue #10 asks for: 50 seeds of multi_symbol_stress (even seeds in thread mode, odd seeds
in process mode) and 10 seeds each of race_detection, pnl_consistency and symbol_isolation.
``--trades`` shrinks every run (the figure reported must say so). Writes a JSON summary and
exits 1 when any run failed, with the command that reproduces it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.judge.checks.risk import AREA as RISK_AREA
from harness.judge.checks.risk import RiskFigures
from harness.judge.evidence import figures_of
from harness.run.config import load_config
from harness.run.scenario import execute, load

OUT = Path("reports/sweep/sweep.json")


@dataclass(frozen=True)
class Case:
    """One clean run: scenario, seed, concurrency mode."""

    scenario: str
    seed: int
    mode: str | None


def cases(stress: int, others: int) -> Iterator[Case]:
    """The sweep's runs, in order."""
    for seed in range(stress):
        yield Case("multi_symbol_stress", seed, "thread" if seed % 2 == 0 else "process")
    for name in ("race_detection", "pnl_consistency", "symbol_isolation"):
        for seed in range(others):
            yield Case(name, seed, None)


def run_case(case: Case, trades: int | None, out: Path) -> dict[str, Any]:
    """Run one case; its status and, when it failed, the failing lines and the reproduce command."""
    scenario = load(case.scenario)
    explicit: dict[str, object] = {"seed": case.seed}
    if case.mode is not None:
        explicit["mode"] = case.mode
    if trades is not None:
        explicit["trades"] = trades
    config = scenario.configure(load_config(None), {"run": explicit})
    started = time.perf_counter()
    verdict = execute(scenario, config, out / f"{case.scenario}-{case.seed}-{case.mode or 'default'}")
    failing = [f"{g.area}: {line.text}" for g in verdict.gates for line in g.lines if not line.ok]
    # Justified breaker trips are where the old checker raised its false alarms: count them.
    risk = figures_of(verdict.evidence, RISK_AREA, RiskFigures)
    trips = 0 if risk is None else risk.breaker_trips
    return {"scenario": case.scenario, "seed": case.seed, "mode": config.run.mode.value, "status": verdict.status,
            "seconds": round(time.perf_counter() - started, 2), "breaker_trips": trips, "failing": failing,
            "reproduce": verdict.command}


def main(argv: list[str] | None = None) -> int:
    """Run the sweep, print one line per run and the false-alarm count."""
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--stress", type=int, default=50, help="multi_symbol_stress seeds (default 50)")
    parser.add_argument("--others", type=int, default=10, help="seeds of each other scenario (default 10)")
    parser.add_argument("--trades", type=int, default=None, help="trades per symbol (default: each scenario's)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:
        for case in cases(args.stress, args.others):
            row = run_case(case, args.trades, Path(tmp))
            results.append(row)
            print(f"{row['status']} {case.scenario} seed {case.seed} {row['mode']} ({row['seconds']} s)"
                  + "".join(f"\n    {line}" for line in row["failing"]), flush=True)
    alarms = [r for r in results if r["status"] != "PASS"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": len(results), "false_alarms": len(alarms), "trades": args.trades,
                                    "results": results}, indent=2) + "\n", encoding="utf-8")
    tripped = sum(1 for r in results if r["breaker_trips"])
    print(f"false alarms: {len(alarms)} in {len(results)} clean runs (trades {args.trades or 'scenario default'}); "
          f"{tripped} runs had justified breaker trips")
    for row in alarms:
        print(f"  reproduce: {row['reproduce']}")
    return 1 if alarms else 0


if __name__ == "__main__":
    sys.exit(main())
