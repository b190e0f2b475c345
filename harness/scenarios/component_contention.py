"""Component contention: N threads call a plugged-in guardian and aggregator directly.

Each thread owns one symbol and, ``trades`` times, asks the guardian to admit a one-lot buy
at a common price, settles it when admitted, and applies a delta for its symbol to the
shared aggregator. The correct end state is known whatever the interleaving: the guardian
admits exactly min(capacity, attempts) orders (capacity from the gross and per-symbol
limits, every order being the same notional) and never holds more than its limits; the
aggregator holds, per symbol, exactly the sum of that symbol's deltas. Run plainly it is
one contended run; with ``--schedules N`` it runs under the controlled scheduler.
"""

import dataclasses
from decimal import Decimal
from functools import partial
from typing import Any

from harness import schedule
from harness.explore.control import controlled_factory
from harness.explore.exploration import Outcome, Runner, Workload, plain_threads
from harness.history.events import f
from harness.history.log import History, LocalSequence
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line
from harness.run.config import HarnessConfig
from harness.run.plugins import Plugins
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.run.workloads import with_workers
from harness.system.aggregator import MetricsAggregator, SymbolMetrics
from harness.system.guardian.risk import Guardian, Refusal
from harness.system.locks.protocol import symbol_lock
from harness.system.model import Fill, Order, Side, SymbolSpec

AREA = "Component Contention"
PRICE = Decimal(100)


@evidence_record
class ComponentFigures:
    """The components' end state against the one every interleaving must reach."""

    admitted: int = f("one-lot orders the guardian's positions add up to", "count")
    expected_admitted: int = f("orders a correct guardian admits: what the limits hold", "count")
    gross_exposure: Decimal = f("the guardian's gross exposure at the end", "quote currency")
    limit: Decimal = f("max gross exposure x equity", "quote currency")
    lost_updates: int = f("aggregator symbols whose trades or PnL differ from the deltas applied", "count")


@dataclasses.dataclass(frozen=True)
class Parts:
    """The components under test and the history they record into."""

    history: History
    guardian: Any
    aggregator: Any
    specs: tuple[SymbolSpec, ...]


def build(config: HarnessConfig, plugins: Plugins, run_id: str) -> Parts:
    """Fresh components (the plug-ins', or the reference ones) for one execution."""
    run = config.run
    history = History(run_id, LocalSequence())
    # A plug-in's own locks, conditions and attribute reads and writes become scheduling points.
    make_guardian = controlled_factory(plugins.guardian, "guardian") if plugins.guardian else Guardian
    make_aggregator = controlled_factory(plugins.aggregator, "aggregator") if plugins.aggregator else MetricsAggregator
    guardian = make_guardian(run.symbols, run.limits, history=history, discipline=run.discipline)
    return Parts(history, guardian, make_aggregator(history), tuple(run.symbols))


def _delta(n: int, rank: int) -> SymbolMetrics:
    pnl = Decimal(n * (rank + 1))
    return SymbolMetrics(n, 1, 1, 0, 0, pnl, pnl, Decimal(0))


def worker(parts: Parts, rank: int, trades: int) -> None:
    """One symbol's thread: admit, settle and aggregate ``trades`` one-lot buys."""
    spec = parts.specs[rank]
    name = f"{spec.name}#0"
    for n in range(1, trades + 1):
        order = Order(f"{spec.name}-{n}", spec.name, Side.BUY, spec.lot, PRICE)
        schedule.point("guardian.reserve")
        res = parts.guardian.reserve(order, PRICE, name)
        if not isinstance(res, Refusal):
            fill = Fill(f"{order.order_id}-f", order.order_id, spec.name, Side.BUY, spec.lot, PRICE, Decimal(0))
            schedule.point("guardian.settle")
            parts.guardian.settle(res, fill, (), name, None)
        schedule.point("aggregator.apply")
        parts.aggregator.apply(spec.name, _delta(n, rank), worker=name, fence_token=(symbol_lock(spec.name), n))


def expected_admitted(config: HarnessConfig, trades: int) -> int:
    """How many one-lot orders a correct guardian admits, in any interleaving."""
    limits, specs = config.run.limits, config.run.symbols
    unit = PRICE * specs[0].lot  # every order is one lot at PRICE: the same notional (lots are equal)
    per_symbol = int(limits.max_symbol_exposure * limits.equity / unit)
    return min(int(limits.max_gross_exposure * limits.equity / unit), len(specs) * min(trades, per_symbol))


def end_state(parts: Parts, config: HarnessConfig, trades: int) -> Evidence[ComponentFigures]:
    """The components' end state against the one a correct implementation must reach."""
    snap = parts.guardian.snapshot()
    admitted = sum(int(risk.position / spec.lot) for spec, risk in zip(parts.specs, snap.symbols.values(), strict=True))
    limit = config.run.limits.max_gross_exposure * config.run.limits.equity
    held = parts.aggregator.symbols()
    lost = {}
    for rank, spec in enumerate(parts.specs):
        want = SymbolMetrics()
        for n in range(1, trades + 1):
            want = want.plus(_delta(n, rank))
        got = held.get(spec.name, SymbolMetrics())
        if (got.trades, got.pnl) != (want.trades, want.pnl):
            lost[spec.name] = {"expected_trades": want.trades, "trades": got.trades,
                               "expected_pnl": str(want.pnl), "pnl": str(got.pnl)}
    figures = ComponentFigures(admitted, expected_admitted(config, trades), snap.gross_exposure, limit, len(lost))
    return Evidence(AREA, figures, {"lost_updates": tuple({"symbol": k, **v} for k, v in lost.items())})


def gate_component(ev: Evidence[ComponentFigures], thresholds: Any) -> GateResult:
    """Guardian admitted exactly what fits and stayed within its limit; aggregator lost nothing."""
    fig = ev.figures
    return GateResult("component", AREA, (
        Line(fig.admitted == fig.expected_admitted,
             f"Guardian admitted {fig.admitted} orders (a correct one admits {fig.expected_admitted})"),
        Line(fig.gross_exposure <= fig.limit, f"Gross exposure {fig.gross_exposure} (limit {fig.limit})"),
        Line(fig.lost_updates == 0, f"Aggregator symbols with lost updates: {fig.lost_updates}"),
    ), {k: v for k, v in ev.violations.items() if v})


def execute_once(config: HarnessConfig, plugins: Plugins, runner: Runner, trades: int,
                 run_id: str) -> tuple[Evidence[ComponentFigures], History]:
    """Build the components, run one thread per symbol through ``runner``, judge the end state."""
    parts = build(config, plugins, run_id)
    runner([partial(worker, parts, rank, trades) for rank in range(len(parts.specs))])
    return end_state(parts, config, trades), parts.history


def workload(config: HarnessConfig, plugins: Plugins) -> Workload:
    """This scenario as a controlled ``Workload``."""
    def run(runner: Runner, trades: int) -> Outcome:
        evidence, history = execute_once(config, plugins, runner, trades, "component-controlled")
        fig = evidence.figures
        broken = [name for name, bad in (
            ("guardian", fig.admitted != fig.expected_admitted or fig.gross_exposure > fig.limit),
            ("aggregator", fig.lost_updates > 0)) if bad]
        failing = tuple(line.text for line in gate_component(evidence, None).lines if not line.ok)
        return Outcome(", ".join(broken), failing, history.events())

    names = tuple(f"{spec.name}#0" for spec in config.run.symbols)
    return Workload(SCENARIO.name, run, config.run.trades or 3, names,
                    narrow=lambda kept: workload(with_workers(config, kept), plugins))


def run(ctx: ScenarioContext) -> Trial:
    """One uncontrolled contended run of the plugged-in components."""
    evidence, history = execute_once(ctx.config, ctx.plugins, plain_threads, ctx.config.run.trades or 3, ctx.run_id)
    return Trial(history.events(), (evidence,))


SCENARIO = Scenario(
    name="component_contention",
    title="Guardian and Aggregator under Direct Contention",
    description=__doc__.splitlines()[0],
    run=run,
    areas=(),
    settings={"run": {"symbols": ["C1", "C2", "C3"], "trades": 3,
                      "limits": {"equity": "10000", "max_gross_exposure": "0.05", "max_symbol_exposure": "0.05"}}},
    extra_gates={AREA: gate_component},
    workload=workload,
    accepts=frozenset({"guardian", "aggregator"}),  # it drives those two directly; other flags are refused
)


def test_component_contention(harness_scenario) -> None:
    """The reference guardian and aggregator reach the known end state under contention."""
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
