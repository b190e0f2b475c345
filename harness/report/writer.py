"""Writes a judged run's report directory.

Order matters for "no artefact lost": the history goes first (events.jsonl, then the human
log), so whatever fails later, the raw evidence of the run is already on disk.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import __version__
from harness.history.log import normalise, write_jsonl
from harness.history.stresslog import write_log
from harness.judge.areas import NOT_APPLICABLE
from harness.report.html import from_verdict, write_html
from harness.report.settings import run_settings
from harness.report.verify_log import physical_evidence, verify_log
from harness.run.scenario import Verdict, make_dir

SCHEMA = "harness.evidence/1"
# A history or log larger than this is gzipped (~10x smaller); `harness check`/`report` read either.
COMPRESS_ABOVE_BYTES = 8 * 2**20
ARTEFACTS = ("events.jsonl", "STRESS_TEST.log", "evidence.json", "PHYSICAL_EVIDENCE.md", "VERIFY_LOG.txt",
             "report.html")


def evidence_document(verdict: Verdict) -> dict[str, Any]:
    """The evidence.json document: every figure and verdict, schema-versioned."""
    by_area = {ev.area: ev for ev in verdict.evidence if NOT_APPLICABLE not in ev.figures}
    perf = by_area.get("Performance Metrics")
    pnl = by_area.get("MetricsAggregator Accuracy")
    metrics: dict[str, Any] = {}
    if perf is not None:
        metrics["throughput_trades_per_s"] = perf.figures["throughput_trades_per_s"]
        metrics["per_symbol"] = {
            name: {"trades": s["trades"], "pnl": s["pnl"], "win_rate": s["win_rate"],
                   "profit_factor": s["profit_factor"], "max_drawdown": s["max_drawdown"]}
            for name, s in perf.figures["per_symbol"].items()
        }
        metrics["order_latency"] = perf.figures["order_latency"]
        metrics["lock_latency"] = perf.figures["lock_latency"]
    if pnl is not None:
        metrics["pnl_difference"] = pnl.figures["pnl_difference"]
    return {
        "schema": SCHEMA,
        "harness_version": __version__,
        "scenario": verdict.scenario.name,
        "run_id": verdict.run_id,
        "seed": verdict.config.run.seed,
        "mode": verdict.config.run.mode.value,
        "symbols": list(verdict.config.run.symbol_names),
        "started": verdict.started,
        "status": verdict.status,
        "reproduce": verdict.command,
        "areas": list(verdict.scenario.areas),  # what `harness check` re-judges, without loading the scenario
        "config": run_settings(verdict.config),
        "gates": [
            {"name": g.name, "area": g.area, "status": g.status,
             "facts": [{"ok": line.ok, "text": line.text} for line in g.lines]}
            for g in verdict.gates
        ],
        "metrics": metrics,
        "evidence": {ev.area: {"figures": ev.figures, "violations": ev.violations} for ev in verdict.evidence},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return normalise(value) if not isinstance(value, (int, float, str, bool, type(None))) else value


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


def write_reports(verdict: Verdict, out_dir: Path) -> list[Path]:
    """Write every artefact of a judged run into ``out_dir``; return their paths."""
    make_dir(out_dir)
    paths = [out_dir / name for name in ARTEFACTS]
    write_jsonl(verdict.events, paths[0])
    paths[0] = compress_if_large(paths[0])
    write_log(verdict.events, paths[1])
    if not verdict.passed:
        with open(paths[1], "a", encoding="utf-8") as log:
            log.write(f"# FAIL -- reproduce: {verdict.command}\n")
    paths[1] = compress_if_large(paths[1])
    paths[2].write_text(json.dumps(_jsonable(evidence_document(verdict)), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    paths[3].write_text(physical_evidence(verdict), encoding="utf-8")
    paths[4].write_text(verify_log(verdict, [p.name for p in paths]), encoding="utf-8")
    write_html(from_verdict(verdict), paths[5])  # last: the plots are the one slow, optional view
    return paths
