"""PnL consistency: REPLACE and INCREMENTAL aggregation side by side, through a bad channel.

Every delta a worker publishes reaches an INCREMENTAL aggregator, and its cumulative
snapshot a REPLACE aggregator, through a channel that duplicates, delays and reorders
them. Both aggregators must equal the fills replayed through fresh ledgers exactly, and
the channel must really have misbehaved (a consistency test with no disorder proves
nothing).
"""


from harness.faults.disorder import DisorderlyChannel
from harness.history.events import f
from harness.history.log import History
from harness.judge.checks.pnl import reconcile, states_over_time
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line, gate_aggregator
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.system.aggregator import MetricsAggregator

REPLACE_AREA = "MetricsAggregator Accuracy (REPLACE mode)"
DISORDER_AREA = "Delivery Disorder Injected"


@evidence_record
class DisorderHandling:
    """How the reference aggregators handled the disorder."""

    duplicates_ignored: int = f("duplicate deltas the INCREMENTAL aggregator ignored", "count")
    held_for_gaps: int = f("early deltas it held until the gap before them closed", "count")
    open_gaps: int = f("sequence gaps still open at the end", "count")
    stale_snapshots_ignored: int = f("stale or repeated snapshots the REPLACE aggregator ignored", "count")


@evidence_record
class DisorderFigures:
    """What the channel did to the deltas, and (reference aggregators) how they coped."""

    published: int = f("deltas the workers published", "count")
    duplicated: int = f("deltas the channel sent twice", "count")
    delayed: int = f("deltas it delayed behind later ones", "count")
    delivered: int = f("deliveries in all", "count")
    handled: DisorderHandling | None = f("null for a plug-in aggregator: the accuracy gates judge its state")


def run(ctx: ScenarioContext) -> Trial:
    """One run feeding both aggregators (the reference's, or two built by --aggregator) through the channel.

    The REPLACE aggregator records into its own history, so each aggregator's states are
    judged over time against the same fills.
    """
    history = History(ctx.run_id)
    replace_history = History(f"{ctx.run_id}-replace")
    make = ctx.plugins.aggregator or MetricsAggregator
    incremental, replacing = make(history), make(replace_history)
    channel = DisorderlyChannel(incremental, replacing, ctx.config.run.seed)
    result = ctx.run_engine(history, aggregator=channel)
    events = result.events()
    stats = channel.statistics()
    handled = None
    if ctx.plugins.aggregator is None:  # the reference aggregator reports how it handled the disorder
        counts = incremental.statistics()
        handled = DisorderHandling(counts.duplicates, counts.held, counts.open_gaps,
                                   replacing.statistics().stale_snapshots)
    figures = DisorderFigures(stats.published, stats.duplicated, stats.delayed, stats.delivered, handled)
    replace_state = replacing.symbols()
    # The REPLACE side's states interleaved with the run's fills by their (shared) monotonic clock.
    merged = sorted([e for e in events if not e.kind.startswith("agg.")] + replace_history.events(),
                    key=lambda e: e.mono_ns)
    replaced = reconcile(merged, replace_state, REPLACE_AREA, states_over_time(merged))
    return Trial(events, (replaced, Evidence(DISORDER_AREA, figures)))


def gate_disorder(ev: Evidence[DisorderFigures], thresholds) -> GateResult:
    """Disorder was really injected, and handled: every duplicate ignored, no gap left open."""
    fig, handled = ev.figures, ev.figures.handled
    injected = Line(fig.duplicated > 0 and fig.delayed > 0,
                    f"Injected: {fig.duplicated} duplicates, {fig.delayed} delayed/reordered of "
                    f"{fig.published} deltas ({fig.delivered} deliveries)")
    if handled is None:  # a plug-in aggregator: the accuracy gates judge its state
        return GateResult("disorder", ev.area, (injected,))
    return GateResult("disorder", ev.area, (
        injected,
        Line(handled.duplicates_ignored > 0 and handled.held_for_gaps > 0,
             f"INCREMENTAL: {handled.duplicates_ignored} duplicates ignored, {handled.held_for_gaps} early deltas held"),
        Line(handled.open_gaps == 0, f"INCREMENTAL: {handled.open_gaps} sequence gaps left open"),
        Line(handled.stale_snapshots_ignored > 0,
             f"REPLACE: {handled.stale_snapshots_ignored} stale or repeated snapshots ignored"),
    ))


SCENARIO = Scenario(
    name="pnl_consistency",
    title="PnL Consistency: REPLACE vs INCREMENTAL under duplicated, delayed and reordered deltas",
    description=__doc__.splitlines()[0],
    run=run,
    settings={"run": {"trades": 60, "aggregation": "incremental", "mode": "thread"}},
    extra_gates={REPLACE_AREA: gate_aggregator, DISORDER_AREA: gate_disorder},
)


def test_pnl_consistency(harness_scenario) -> None:
    """Both aggregation modes equal the ledger exactly despite the disorder."""
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
