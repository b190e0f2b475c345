"""Gates: evidence judged against thresholds, one PASS/FAIL with its lines per area.

A gate never computes a fact; it reads figures from an ``Evidence`` and compares them with
``Thresholds`` from config, writing one line per fact as it will appear in VERIFY_LOG.txt.
``unified`` passes only if every gate does. Exit codes follow from the verdict: 0 PASS,
1 FAIL (2 is for a run that could not be made at all, decided before any gate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from harness.history.events import f
from harness.judge.checks.locks import LockFigures
from harness.judge.checks.perf import PerfFigures
from harness.judge.checks.persistence import PersistenceFigures
from harness.judge.checks.pnl import AggregatorFigures
from harness.judge.checks.races import RaceFigures
from harness.judge.checks.reservations import FACTS as RESERVATION_FACTS
from harness.judge.checks.risk import RiskFigures
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.thresholds import Thresholds


@evidence_record
class Line:
    """One judged fact: ✅ or ❌ and its text."""

    ok: bool = f("the fact holds")
    text: str = f("the fact, as VERIFY_LOG.txt shows it")


@dataclass(frozen=True)
class GateResult:
    """The verdict of one evidence area."""

    name: str
    area: str
    lines: tuple[Line, ...]
    counterexamples: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    applicable: bool = True  # False: the history holds none of the area's inputs (neither pass nor fail)
    # True: applicable, but the history held nothing the area judges (its lines hold trivially),
    # so it does not count as having judged the run.
    vacuous: bool = False

    @property
    def judged(self) -> bool:
        """True when the gate judged something the history holds (neither n/a nor vacuous)."""
        return self.applicable and not self.vacuous

    @property
    def passed(self) -> bool:
        """True when every line holds (a not-applicable area holds nothing against the run)."""
        return all(line.ok for line in self.lines)

    @property
    def status(self) -> Literal["PASS", "FAIL", "N/A"]:
        """"PASS", "FAIL" or "N/A"."""
        if not self.applicable:
            return "N/A"
        return "PASS" if self.passed else "FAIL"


def money(value: Any) -> str:
    """$1,234.56 style, from an exact Decimal (sign before the dollar)."""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"


def percent(value: Any) -> str:
    """A ratio as a percentage with two decimals."""
    return f"{Decimal(str(value)) * 100:.2f}%"


def _failing(evidence: Evidence[object], names: Sequence[str]) -> dict[str, tuple[Mapping[str, Any], ...]]:
    return {n: evidence.counterexample(n) for n in names if evidence.counterexample(n)}


def gate_locks(ev: Evidence[LockFigures], t: Thresholds) -> GateResult:
    """ZMQ lock atomicity: balance, orphans, state machine, exclusion, fencing, wait-or-die, linearizability."""
    f = ev.figures
    unbalanced = f.pairs_total - f.pairs_balanced - f.pairs_faulted
    faulted = f", {f.pairs_faulted} ended under an injected fault (lease expiry, broker stop)" if f.pairs_faulted else ""
    lin = f.linearizable
    service = f.lock_service
    lines = (
        *((Line(True, f"Lock service: {service}"),) if service else ()),
        Line(f.wellformed_errors == 0, f"Well-formed history: {f.wellformed_errors} malformed operations"),
        Line(f.acquires > 0, f"Total Lock Events: {f.acquires + f.releases} "
                             f"({f.acquires} ACQUIRE + {f.releases} RELEASE), {f.events_total} recorded"),
        Line(unbalanced <= t.max_unbalanced_pairs,
             f"All lock pairs balanced: {f.pairs_balanced}/{f.pairs_total} match{faulted}"
             if unbalanced == 0 else f"Lock pairs balanced: {f.pairs_balanced}/{f.pairs_total} "
                                    f"({unbalanced} unbalanced, allowed {t.max_unbalanced_pairs}{faulted})"),
        Line(f.orphaned_locks <= t.max_orphaned_locks, f"Orphaned locks: {f.orphaned_locks}"),
        Line(f.state_errors == 0, f"EFSM state errors: {f.state_errors}"),
        Line(f.overlaps <= t.max_overlaps,
             f"Mutual exclusion: {f.overlaps} overlapping holds (client {f.overlaps_client}, "
             f"broker {f.overlaps_broker}, resource {f.overlaps_resource})"),
        Line(f.refused_held == 0, f"Refused acquires treated as held: {f.refused_held}"),
        Line(f.token_order_errors == 0 and f.stale_accepted == 0,
             f"Fencing: {f.token_order_errors} token order errors, {f.stale_accepted} stale writes accepted, "
             f"{f.fence_rejects} rejected" if f.fencing == "provided" else
             f"Fencing: not provided ({f.token_order_errors} token errors)"),
        Line(f.wait_die_violations == 0, f"Wait-or-die discipline: {f.wait_die_violations} violations"),
        Line(f.fifo_overtakes + f.partial_grants == 0, "FIFO queue and atomic grants: "
             f"{f.fifo_overtakes} overtakes, {f.partial_grants} partial grants"),
        Line(lin == "true" or not t.require_linearizable,
             f"Linearizable (owner-aware mutex): {lin}" + ("" if lin == "true" else f" -- {f.linearizable_detail}")),
    )
    return GateResult("locks", ev.area, lines, _failing(ev, list(ev.violations)))


def gate_races(ev: Evidence[RaceFigures], t: Thresholds) -> GateResult:
    """Race detection: log-level counts and invariant violations."""
    f = ev.figures
    lines = (
        Line(f.errors <= t.max_errors, f"ERROR count: {f.errors}"),
        Line(f.criticals <= t.max_criticals, f"CRITICAL count: {f.criticals}"),
        Line(f.race_conditions <= t.max_race_conditions,
             f"RACE_CONDITION count: {f.race_conditions} (lost updates {f.lost_updates}, "
             f"duplicate fills {f.duplicate_fills}, sequence gaps {f.sequence_gaps})"),
        Line(f.tracebacks <= t.max_tracebacks, f"Traceback count: {f.tracebacks}"),
    )
    return GateResult("races", ev.area, lines, _failing(ev, ["lost_updates", "duplicate_fills", "sequence_gaps"]))


def gate_performance(ev: Evidence[PerfFigures], t: Thresholds) -> GateResult:
    """Performance: per-symbol figures, throughput and latency limits."""
    f = ev.figures
    lines = []
    for name, s in f.per_symbol.items():
        pf = "inf" if s.profit_factor is None else f"{s.profit_factor:.2f}"
        lines.append(Line(True, f"{name}: {s.trades} trades, {money(s.pnl)} PnL, {percent(s.win_rate)} "
                                f"win rate, profit factor {pf}, max drawdown {money(s.max_drawdown)}"))
    tput = f.throughput_trades_per_s
    lines.append(Line(f.total_trades > 0 and tput >= t.min_throughput_trades_per_s,
                      f"Total Throughput: {f.total_trades} trades in {f.elapsed_s:.2f} seconds = "
                      f"{tput:.1f} trades/sec" + (f" (limit >= {t.min_throughput_trades_per_s:g})"
                                                  if t.min_throughput_trades_per_s else "")))
    for label, lat, limit in (("Order", f.order_latency, t.max_order_p99_ms),
                              ("Lock acquire", f.lock_latency, t.max_lock_p99_ms)):
        lines.append(Line(limit is None or lat.p99_ms <= limit,
                          f"{label} latency: p50 {lat.p50_ms:.3f} ms, p99 {lat.p99_ms:.3f} ms, "
                          f"p99.9 {lat.p99_9_ms:.3f} ms over {lat.count} samples"
                          + ("" if limit is None else f" (limit p99 <= {limit:g} ms)")))
    return GateResult("performance", ev.area, tuple(lines))


def gate_aggregator(ev: Evidence[AggregatorFigures], t: Thresholds) -> GateResult:
    """Aggregator accuracy: exact equality with the recomputation."""
    f = ev.figures
    diff = f.pnl_difference
    exact = diff == 0
    lines: tuple[Line, ...] = (
        Line(f.aggregator_state_recorded, f"Simulated Total PnL: {money(f.simulated_total_pnl)}"),
        Line(f.aggregator_state_recorded, f"Aggregator Total PnL: {money(f.aggregator_total_pnl)}"),
        Line(abs(diff) <= t.max_pnl_difference,
             f"Difference: {diff.normalize():f} (exact, limit {t.max_pnl_difference})" + (" PERFECT MATCH" if exact else "")),
        Line(f.mismatched_symbols == 0,
             f"Per-symbol trades/wins/PnL match: {f.mismatched_symbols} symbols differ "
             f"({f.aggregator_trades} aggregated vs {f.simulated_trades} recomputed trades)"),
    )
    if f.states_judged is not None:
        lines += (Line(f.bad_states == 0, f"Aggregator states over time: {f.states_judged} judged against the "
                                          f"replay, {f.bad_states} stale or wrong"),
                  Line(True, "Published figures not judged (the model cannot recompute them): "
                             + (", ".join(f.not_judged) or "none")))
    return GateResult("aggregator", ev.area, lines, _failing(ev, ["mismatches", "bad_states"]))


def gate_risk(ev: Evidence[RiskFigures], t: Thresholds) -> GateResult:
    """Risk: exposure at every fill within limit, isolation, breakers recomputed, guardian status."""
    f = ev.figures
    lines = (
        _exposure_line(f, t),
        _isolation_line(f, t),
        Line(not (t.fail_on_breaker_trip and f.breaker_trips),
             "Circuit breaker: Not triggered" if not f.breaker_trips
             else f"Circuit breaker: {f.breaker_trips} trips ({', '.join(f.breaker_trip_reasons)})"
             + (" -- failing on any trip (fail_on_breaker_trip)" if t.fail_on_breaker_trip else "")),
        _breaker_replay_line(f),
        _reservations_line(f),
        Line(f.guardian_status in t.allowed_health or _justified_halt(f, t),
             f"Guardian status: {f.guardian_status}"
             + (" (a justified global breaker trip)" if _justified_halt(f, t) else "")),
    )
    return GateResult("risk", ev.area, lines, _failing(ev, ["limit_breaches", "isolation_violations", "missing_trips",
                                                             "unjustified_trips", "halted_orders_accepted",
                                                             *RESERVATION_FACTS]))


def _reservations_line(f: RiskFigures) -> Line:
    """Fills covered by their reservations, each released once after its fill; n/a without reservations."""
    if f.reservations is None:
        return Line(True, "Reservations: n/a (no risk.reserve events)")
    bad = f.uncovered_fills + f.released_twice + f.released_before_fill + f.never_released
    return Line(bad == 0, f"Reservations: {f.reservations} booked; {f.uncovered_fills} fills beyond their "
                          f"reservation (side, quantity, worst price), {f.released_twice} released twice, "
                          f"{f.released_before_fill} released before their fill, {f.never_released} never released")


def _exposure_line(f: RiskFigures, t: Thresholds) -> Line:
    """Exposure at every fill vs the limit; "n/a" when the history declares no equity."""
    if f.max_exposure_ratio is None:
        return Line(True, "Global exposure: n/a (no equity declared in run.start)")
    limit = t.max_exposure_ratio if t.max_exposure_ratio is not None else f.max_gross_exposure_limit
    peak = f.max_exposure_ratio
    within = f.limit_breaches == 0 and (limit is None or peak <= Decimal(str(limit)))
    return Line(within, f"Global exposure: max {percent(peak)} at any fill, final {percent(f.final_exposure_ratio)} "
                        f"(limit {percent(limit) if limit is not None else 'n/a'}, {f.limit_breaches} breaches, "
                        f"{f.refusals} orders refused)")


def _breaker_replay_line(f: RiskFigures) -> Line:
    """Trips the limits require vs those the guardian recorded, and orders let through while halted."""
    if f.breaker_replay != "judged":
        return Line(True, f"Circuit breaker replay: n/a ({f.breaker_replay})")
    bad = f.missing_trips + f.unjustified_trips + f.halted_orders_accepted
    return Line(bad == 0, f"Circuit breaker replay: {f.required_trips} symbol trips required by the limits, "
                          f"{f.missing_trips} missing, {f.unjustified_trips} without cause, "
                          f"{f.halted_orders_accepted} non-reducing orders accepted while halted")


def _justified_halt(f: RiskFigures, t: Thresholds) -> bool:
    """HALTED by a global trip the replay justified is the guardian working, unless trips are to fail."""
    return (f.guardian_status == "HALTED" and not t.fail_on_breaker_trip and f.breaker_replay == "judged"
            and f.unjustified_trips == 0)


def gate_persistence(ev: Evidence[PersistenceFigures], t: Thresholds) -> GateResult:
    """Persistence: every event exactly once in every layer (read back), writer drained, alerts."""
    f = ev.figures
    layers = sorted(f.layers.items())
    lines = [Line(bool(layers), f"Events produced: {f.produced}; layers read back: "
                                f"{', '.join(name for name, _ in layers) or 'none'}")]
    for name, layer in layers:
        content = "content not read back" if layer.wrong_content is None else f"wrong content = {layer.wrong_content}"
        lines.append(Line(layer.lost <= t.max_lost_events and layer.duplicated <= t.max_duplicated_events
                          and not layer.wrong_content,
                          f"{name}: {layer.persisted} persisted, lost = {layer.lost}, duplicated = {layer.duplicated}, "
                          f"{content}"))
    lines += [Line(False, f"{name}: not readable at the end of the run: {why}")
              for name, why in sorted(f.unreachable.items())]
    lines.append(Line(True, "cache: final state not read back") if f.cache_seq is None else
                 Line(f.cache_differences == 0, f"cache: final state (seq {f.cache_seq}) against the history replayed "
                                                f"to it: {f.cache_differences} figures differ"))
    lines.append(Line(f.dropped == 0 and f.drained == f.spilled,
                      f"Writer: queue high-water {f.queue_high_water}, spilled {f.spilled}, drained "
                      f"{f.drained}, retries {f.retries}, dropped {f.dropped}"))
    writes = sorted(f.write_latency.items())
    latency = ", ".join(f"{name} p50 {w.p50_ms:.2f} / p99 {w.p99_ms:.2f} ms" for name, w in writes)
    lines.append(Line(t.max_write_p99_ms is None or all(w.p99_ms <= t.max_write_p99_ms for _, w in writes),
                      f"Write latency: {latency or 'no writes measured'}"))
    lines.append(Line(f.alerts_P0 <= t.max_alerts_p0 and f.alerts_P1 <= t.max_alerts_p1,
                      f"Alerts: P0 {f.alerts_P0}, P1 {f.alerts_P1} (allowed {t.max_alerts_p0}/"
                      f"{t.max_alerts_p1}); health transitions {f.health_transitions}"))
    counterexamples = {k: v for k, v in ev.violations.items() if v}
    return GateResult("persistence", ev.area, tuple(lines), counterexamples)


def _isolation_line(f: RiskFigures, t: Thresholds) -> Line:
    if f.isolation_violations:
        return Line(False, f"Per-symbol isolation: {f.isolation_violations} symbols neither finished nor failed")
    ok = len(f.failed_symbols) <= t.max_failed_symbols
    text = "Per-symbol isolation: " + ("Verified" if ok else "NOT verified, more symbols failed than allowed")
    notes = []
    if f.halted_symbols:
        notes.append("halted: " + ", ".join(f"{s} by {why}" for s, why in f.halted_symbols.items()))
    if f.failed_symbols:
        reasons = f.failure_reasons
        failed = ", ".join(f"{s} ({reasons[s]})" if reasons.get(s) else s for s in f.failed_symbols)
        notes.append(f"failed: {failed} (allowed {t.max_failed_symbols}); others completed")
    if f.stalled_symbols:
        notes.append(f"stopped after repeated refusals: {', '.join(f.stalled_symbols)}")
    return Line(ok, text + (f" ({'; '.join(notes)})" if notes else ""))


Outcome = Literal["PASS", "FAIL", "NOTHING JUDGED"]
NOTHING_JUDGED: Outcome = "NOTHING JUDGED"


def outcome(results: Sequence[GateResult]) -> Outcome:
    """FAIL when a gate failed; NOTHING JUDGED when no gate judged anything; else PASS."""
    if not all(r.passed for r in results):
        return "FAIL"
    return "PASS" if any(r.judged for r in results) else NOTHING_JUDGED


def unified(results: Sequence[GateResult]) -> bool:
    """UnifiedGate: True only if at least one gate judged something and every gate passed (n/a is neither)."""
    return outcome(results) == "PASS"


CONTRACT_AREA = "History Contract"
KEEP_PROBLEMS = 20  # problem lines shown; the count says how many there were


def contract_gate(problems: Sequence[str], judged: int) -> GateResult | None:
    """A failed gate listing the lines a lenient read set aside; None when every line met the contract."""
    if not problems:
        return None
    lines = [Line(False, f"{len(problems)} line(s) break the history contract (docs/HISTORY.md), "
                         f"{judged} events judged")]
    lines += [Line(False, problem) for problem in problems[:KEEP_PROBLEMS]]
    examples = tuple({"problem": p} for p in problems[:KEEP_PROBLEMS])
    return GateResult("contract", CONTRACT_AREA, tuple(lines), {"contract_violations": examples})
