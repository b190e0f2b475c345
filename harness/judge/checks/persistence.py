"""Guardian persistence check: every produced event persisted exactly once in every layer, as it was.

A pure function of the run's events and of what is *read back* from each layer (the database
table, the checkpoint's snapshot plus log) -- never of the writer's own counters, which
could count a write that did not land. Presence is judged on seqs; content on the events
read back: each must say what the history's event of the same seq says (a stable digest of
its kind, worker, symbol and payload), so a right seq filed with another event's content,
or a changed value, fails naming the seq and the layer. The writer's statistics, alerts and
health changes, recorded in the history as events, are reported as figures alongside.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from harness.history.events import ORDER_FILL, PERSISTENCE_STATS, PERSISTENCE_UNREACHABLE, RUN_END, f
from harness.history.log import Event
from harness.judge.checks.replay import fills as fills_of
from harness.judge.checks.replay import initial_positions
from harness.judge.evidence import Evidence, evidence_record

AREA = "Guardian Persistence"
ZERO = Decimal(0)
SHOWN = 10


@evidence_record
class LayerFigures:
    """What one layer holds when read back, against the events produced."""

    persisted: int = f("distinct seqs the layer holds", "count")
    lost: int = f("produced seqs the layer does not hold", "count")
    duplicated: int = f("seqs the layer holds more than once", "count")
    wrong_content: int | None = f("events read back whose content differs from the history's event of that seq "
                                  "(null: the layer's content was not read back)", "count", default=None)


@evidence_record
class WriteLatency:
    """The writer's write latency to one layer."""

    p50_ms: float = f("median write", "ms")
    p99_ms: float = f("99th percentile write", "ms")


@evidence_record
class PersistenceFigures:
    """Every layer read back, the writer's statistics, alerts and health changes."""

    produced: int = f("distinct seqs of the run's history", "count")
    layers: Mapping[str, LayerFigures] = f("each layer read back, by name")
    unreachable: Mapping[str, str] = f("each layer that could not be read back: why, where its events wait, and "
                                       "how to drain them")
    queue_high_water: int = f("deepest writer queue", "events")
    spilled: int = f("events spilled while a layer was down", "count")
    drained: int = f("spilled events written later", "count")
    retries: int = f("failed write attempts", "count")
    dropped: int = f("events the writer lost (must be 0)", "count")
    alerts_P0: int = f("P0 alerts raised", "count")
    alerts_P1: int = f("P1 alerts raised", "count")
    health_transitions: int = f("health events", "count")
    write_latency: Mapping[str, WriteLatency] = f("the writer's latency per layer, by name")
    cache_seq: int | None = f("the seq the cache's final state covers (null: its state was not read back)", "seq",
                              default=None)
    cache_differences: int = f("figures of the cache's final state (position, mark, pending per symbol; the seq "
                               "it covers) that differ from the history replayed to that seq", "count", default=0)


def digest(event: Event) -> str:
    """A stable digest of what an event says: seq, kind, worker, symbol and payload (key order aside)."""
    body = json.dumps([event.seq, event.kind, event.worker, event.symbol, event.payload], sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def wrong_content(events: Sequence[Event], read_back: Sequence[Event]) -> list[dict[str, Any]]:
    """The events read back that differ from the history's event of the same seq (or have none)."""
    expected = {e.seq: digest(e) for e in events}
    return [{"seq": e.seq, "kind": e.kind, "why": "content differs from the history's event of that seq"
             if e.seq in expected else "no such event in the history"}
            for e in read_back if expected.get(e.seq) != digest(e)]


def check_persistence(events: Sequence[Event], persisted: Mapping[str, Sequence[int]],
                      contents: Mapping[str, Sequence[Event]] | None = None,
                      cache: Mapping[str, Any] | None = None) -> Evidence[PersistenceFigures]:
    """Lost, doubled and altered events per layer (where ``contents`` reads one back), the cache's final state
    against the replay (when ``cache`` reads it back), and the writer's figures."""
    produced = {e.seq for e in events}
    contents = contents or {}
    layers: dict[str, LayerFigures] = {}
    unreachable: dict[str, str] = {}
    violations: dict[str, tuple[Mapping[str, object], ...]] = {}
    for layer, seqs in sorted(persisted.items()):
        counts = Counter(seqs)
        lost = sorted(produced - counts.keys())
        doubled = sorted(seq for seq, n in counts.items() if n > 1)
        altered = wrong_content(events, contents[layer]) if layer in contents else None
        layers[layer] = LayerFigures(len(counts), len(lost), len(doubled), None if altered is None else len(altered))
        if altered:
            violations[f"wrong_content_{layer}"] = tuple({**a, "layer": layer} for a in altered[:SHOWN])
        if lost:
            violations[f"lost_{layer}"] = tuple({"seq": s} for s in lost[:SHOWN])
        if doubled:
            violations[f"duplicated_{layer}"] = tuple({"seq": s, "copies": counts[s]} for s in doubled[:SHOWN])
    for e in events:
        if e.kind == PERSISTENCE_UNREACHABLE:  # a layer that could not be read back: its outage is the evidence
            p = e.payload
            unreachable[str(p.get("layer"))] = (f"{p.get('reason')}; {p.get('kept')} events kept in {p.get('spill')}; "
                                                f"drain them later with: {p.get('drain')}")
            violations[f"unreachable_{p.get('layer')}"] = ({k: p.get(k) for k in ("reason", "kept", "spill", "drain")},)
    figures = _writer_figures(events, len(produced), layers, unreachable)
    if cache is not None:
        stale = cache_differences(events, cache)
        figures = dataclasses.replace(figures, cache_seq=int(cache["last_seq"]), cache_differences=len(stale))
        if stale:
            violations["cache_state"] = tuple(stale[:SHOWN])
    return Evidence(AREA, figures, violations)


def cache_differences(events: Sequence[Event], cache: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the cache's final state says that the history, replayed to the seq it covers, does not.

    Position = the signed fill quantities (from a resumed run's positions), mark = the last fill
    price, pending = nothing once the run has ended: the figures a guardian's book holds that the
    fills alone determine. The cache must cover every fill of the history.
    """
    last_seq = int(cache["last_seq"])
    replayed = _book_at(events, last_seq)
    fills = [e.seq for e in events if e.kind == ORDER_FILL]
    ended = any(e.kind == RUN_END and e.seq <= last_seq for e in events)
    out = [{"figure": "last_seq", "cached": last_seq, "replayed": f">= {fills[-1]} (the last fill)"}] \
        if fills and last_seq < fills[-1] else []
    for symbol, shown in sorted(cache["symbols"].items()):
        expected = {**replayed.get(symbol, {}), **({"pending_buy": ZERO, "pending_sell": ZERO} if ended else {})}
        out += [{"symbol": symbol, "figure": name, "cached": str(shown[name]), "replayed": str(value)}
                for name, value in expected.items() if Decimal(str(shown[name])) != value]
    return out


def _book_at(events: Sequence[Event], last_seq: int) -> dict[str, dict[str, Decimal]]:
    """Position and mark per symbol after the fills up to ``last_seq`` (a resumed run starts from its positions)."""
    book = {name: {"position": qty, "mark": mark} for name, (qty, mark) in initial_positions(events).items()}
    for event, fill in fills_of(events):
        if event.seq <= last_seq:
            row = book.setdefault(fill.symbol, {"position": ZERO, "mark": ZERO})
            row["position"] += fill.signed_qty
            row["mark"] = fill.price
    return book


def _writer_figures(events: Sequence[Event], produced: int, layers: Mapping[str, LayerFigures],
                    unreachable: Mapping[str, str]) -> PersistenceFigures:
    stats: Mapping[str, Any] = next((e.payload for e in reversed(events) if e.kind == PERSISTENCE_STATS), {})
    alerts = Counter(str(e.payload.get("level")) for e in events if e.kind == "alert")
    return PersistenceFigures(
        produced=produced,
        layers=layers,
        unreachable=unreachable,
        queue_high_water=stats.get("queue_high_water", 0),
        spilled=stats.get("spilled", 0),
        drained=stats.get("drained", 0),
        retries=stats.get("retries", 0),
        dropped=stats.get("dropped", 0),
        alerts_P0=alerts["P0"],
        alerts_P1=alerts["P1"],
        health_transitions=sum(e.kind == "health" for e in events),
        write_latency={layer: WriteLatency(row.get("write_p50_ms", 0.0), row.get("write_p99_ms", 0.0))
                       for layer, row in sorted(stats.get("layers", {}).items())},
    )
