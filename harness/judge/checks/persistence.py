"""Guardian persistence check: every produced event persisted exactly once in every layer.

A pure function of the run's events and of the seqs *read back* from each layer (the database
table, the checkpoint's snapshot plus log) -- never of the writer's own counters, which
could count a write that did not land. The writer's statistics, alerts and health changes,
recorded in the history as events, are reported as figures alongside.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from harness.history.events import PERSISTENCE_STATS, PERSISTENCE_UNREACHABLE
from harness.history.log import Event
from harness.judge.evidence import Evidence

AREA = "Guardian Persistence"
SHOWN = 10


def check_persistence(events: Sequence[Event], persisted: Mapping[str, Sequence[int]]) -> Evidence:
    """Lost and doubled seqs per layer, plus the writer's figures from the history."""
    produced = {e.seq for e in events}
    figures: dict[str, object] = {"produced": len(produced)}
    violations: dict[str, tuple[Mapping[str, object], ...]] = {}
    for layer, seqs in sorted(persisted.items()):
        counts = Counter(seqs)
        lost = sorted(produced - counts.keys())
        doubled = sorted(seq for seq, n in counts.items() if n > 1)
        figures[f"persisted_{layer}"] = len(counts)
        figures[f"lost_{layer}"] = len(lost)
        figures[f"duplicated_{layer}"] = len(doubled)
        if lost:
            violations[f"lost_{layer}"] = tuple({"seq": s} for s in lost[:SHOWN])
        if doubled:
            violations[f"duplicated_{layer}"] = tuple({"seq": s, "copies": counts[s]} for s in doubled[:SHOWN])
    for e in events:
        if e.kind == PERSISTENCE_UNREACHABLE:  # a layer that could not be read back: its outage is the evidence
            p = e.payload
            figures[f"unreachable_{p.get('layer')}"] = (f"{p.get('reason')}; {p.get('kept')} events kept in {p.get('spill')}; "
                                               f"drain them later with: {p.get('drain')}")
            violations[f"unreachable_{p.get('layer')}"] = ({k: p.get(k) for k in ("reason", "kept", "spill", "drain")},)
    figures.update(_writer_figures(events))
    return Evidence(AREA, figures, violations)


def _writer_figures(events: Sequence[Event]) -> dict[str, object]:
    stats = next((e.payload for e in reversed(events) if e.kind == PERSISTENCE_STATS), {})
    alerts = Counter(str(e.payload.get("level")) for e in events if e.kind == "alert")
    figures: dict[str, object] = {
        "queue_high_water": stats.get("queue_high_water", 0),
        "spilled": stats.get("spilled", 0),
        "drained": stats.get("drained", 0),
        "retries": stats.get("retries", 0),
        "dropped": stats.get("dropped", 0),
        "alerts_P0": alerts["P0"],
        "alerts_P1": alerts["P1"],
        "health_transitions": sum(e.kind == "health" for e in events),
    }
    for layer, row in sorted(stats.get("layers", {}).items()):
        figures[f"write_p50_ms_{layer}"] = row.get("write_p50_ms", 0.0)
        figures[f"write_p99_ms_{layer}"] = row.get("write_p99_ms", 0.0)
    return figures
