"""Writes a judged run's report directory.

Order matters for "no artefact lost": the history goes first (events.jsonl, then the human
log), so whatever fails later, the raw evidence of the run is already on disk.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from harness._version import __version__
from harness.history.events import f
from harness.history.log import write_jsonl
from harness.history.stresslog import write_log
from harness.judge.checks.delivery import Delivery, check_delivery
from harness.judge.checks.perf import AREA as PERF_AREA
from harness.judge.checks.perf import LatencySummary, PerfFigures, SymbolPerformance
from harness.judge.checks.pnl import AREA as PNL_AREA
from harness.judge.checks.pnl import AggregatorFigures
from harness.judge.evidence import evidence_record, figures_of
from harness.judge.gates import GateResult, Line
from harness.report.html import from_verdict, write_html
from harness.report.records import to_json
from harness.report.settings import run_settings
from harness.report.verify_log import physical_evidence, verify_log
from harness.run.scenario import Verdict, make_dir

SCHEMA = "harness.evidence/1"
# A history or log larger than this is gzipped (~10x smaller); `harness check`/`report` read either.
COMPRESS_ABOVE_BYTES = 8 * 2**20
ARTEFACTS = ("events.jsonl", "STRESS_TEST.log", "evidence.json", "PHYSICAL_EVIDENCE.md", "VERIFY_LOG.txt",
             "report.html")


@evidence_record
class Metrics:
    """The run's headline figures, from its performance and aggregator areas (null where not judged)."""

    throughput_trades_per_s: float | None = f("closed trades per second", "trades/s")
    per_symbol: Mapping[str, SymbolPerformance] | None = f("each symbol's trades, by name")
    order_latency: LatencySummary | None = f("order.submit to risk.settle")
    lock_latency: LatencySummary | None = f("lock.invoke to lock.ok of acquires")
    pnl_difference: Decimal | None = f("aggregator - replayed total PnL (exactly 0 when right)", "quote currency")


@evidence_record
class GateRecord:
    """One gate's verdict and the facts it judged, as VERIFY_LOG.txt shows them."""

    name: str = f("the gate")
    area: str = f("the evidence area it judged")
    status: Literal["PASS", "FAIL", "N/A"] = f("its verdict (N/A: the history holds none of the area's inputs)")
    facts: tuple[Line, ...] = f("one line per judged fact")


@evidence_record
class AreaRecord:
    """What a checker found in one area."""

    figures: Any = f("the area's figures record (docs/evidence.schema.json names it per area)")
    violations: Mapping[str, tuple[Mapping[str, Any], ...]] = f("the first offending items of each check that "
                                                                 "found any, by check")


@evidence_record
class EvidenceDocument:
    """evidence.json: every figure and verdict of one run."""

    schema: str = f(f"the document's format, {SCHEMA}")
    harness_version: str = f("the harness that wrote it")
    scenario: str = f("the scenario run")
    run_id: str = f("the run, also its report directory's name")
    seed: int = f("seed of feeds and strategy")
    mode: str = f("thread, process or single")
    symbols: tuple[str, ...] = f("symbols traded")
    started: str = f("UTC start time")
    status: Literal["PASS", "FAIL", "NOTHING JUDGED"] = f("the UnifiedGate; NOTHING JUDGED when no gate judged anything")
    interrupted: str | None = f("the signal that stopped the run early (SIGINT, SIGTERM, SIGHUP); "
                                "null when it ran to its end")
    reproduce: str = f("the command that reruns the run")
    areas: tuple[str, ...] = f("the registry areas judged; what `harness check` re-judges without the scenario")
    config: Mapping[str, Any] = f("every run setting and gate threshold, and each plug-in as given (plugins.PORT), dotted keys")
    gates: tuple[GateRecord, ...] = f("each gate's verdict, in report order")
    metrics: Metrics = f("the headline figures")
    evidence: Mapping[str, AreaRecord] = f("each area's figures and counterexamples, by area name")
    delivery: Delivery | None = f("what was asked and not delivered, and whether the seed reproduces the run "
                                  "(null for a history without run.start)", default=None)


def gate_record(gate: GateResult) -> GateRecord:
    """A gate as evidence.json records it."""
    return GateRecord(gate.name, gate.area, gate.status, gate.lines)


def metrics(verdict: Verdict) -> Metrics:
    """The headline figures of a judged run (null where its area was not judged)."""
    perf = figures_of(verdict.evidence, PERF_AREA, PerfFigures)
    pnl = figures_of(verdict.evidence, PNL_AREA, AggregatorFigures)
    difference = None if pnl is None else pnl.pnl_difference
    if perf is None:
        return Metrics(None, None, None, None, difference)
    return Metrics(perf.throughput_trades_per_s, perf.per_symbol, perf.order_latency, perf.lock_latency, difference)


def evidence_document(verdict: Verdict) -> EvidenceDocument:
    """The evidence.json document: every figure and verdict, schema-versioned."""
    return EvidenceDocument(
        schema=SCHEMA,
        harness_version=__version__,
        scenario=verdict.scenario.name,
        run_id=verdict.run_id,
        seed=verdict.config.run.seed,
        mode=verdict.config.run.mode.value,
        symbols=tuple(verdict.config.run.symbol_names),
        started=verdict.started,
        status=verdict.status,
        interrupted=verdict.interrupted,
        reproduce=verdict.command,
        areas=tuple(verdict.scenario.areas),  # what `harness check` re-judges, without loading the scenario
        config=run_settings(verdict.config, verdict.plugins),
        gates=tuple(gate_record(g) for g in verdict.gates),
        metrics=metrics(verdict),
        evidence={ev.area: AreaRecord(ev.figures, ev.violations) for ev in verdict.evidence},
        delivery=check_delivery(verdict.events),
    )


def compress_if_large(path: Path, limit: int | None = None) -> Path:
    """Gzip ``path`` to ``path.gz`` when larger than ``limit``; the original goes only once the copy is whole."""
    if path.stat().st_size <= (COMPRESS_ABOVE_BYTES if limit is None else limit):
        return path
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as source, gzip.open(target, "wb", compresslevel=6) as sink:
        shutil.copyfileobj(source, sink, 2**20)
    path.unlink()
    return target


def sizes_line(paths: list[Path]) -> str:
    """``artefacts: NAME SIZE, ... (total)``, the sizes measured on disk."""
    sizes = [(p.name, p.stat().st_size) for p in paths if p.exists()]
    listed = ", ".join(f"{name} {_mb(size)}" for name, size in sizes)
    return f"artefacts: {listed} (total {_mb(sum(size for _, size in sizes))})"


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"


def _replace_history(verdict: Verdict, path: Path) -> None:
    """Write the judged events over the history streamed during the run, which stays until the copy is whole."""
    partial = path.with_name(path.name + ".partial")
    write_jsonl(verdict.events, partial)
    os.replace(partial, path)


def write_reports(verdict: Verdict, out_dir: Path) -> list[Path]:
    """Write every artefact of a judged run into ``out_dir``; return their paths."""
    make_dir(out_dir)
    paths = [out_dir / name for name in ARTEFACTS]
    # A run that raised judges no events: the history streamed up to the error is kept instead.
    # Reports written elsewhere than the run's directory get the judged events written there.
    if not paths[0].exists() or (not verdict.history_written and verdict.events):
        _replace_history(verdict, paths[0])
    paths[0] = compress_if_large(paths[0])
    write_log(verdict.events, paths[1])
    if not verdict.passed:
        with open(paths[1], "a", encoding="utf-8") as log:
            log.write(f"# FAIL -- reproduce: {verdict.command}\n")
    paths[1] = compress_if_large(paths[1])
    paths[2].write_text(json.dumps(to_json(evidence_document(verdict)), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    paths[3].write_text(physical_evidence(verdict), encoding="utf-8")
    paths[4].write_text(verify_log(verdict, [p.name for p in paths]), encoding="utf-8")
    write_html(from_verdict(verdict), paths[5])  # last: the plots are the one slow, optional view
    return paths
