"""Symbol isolation: one symbol's worker fails mid-run; the others must not notice.

In thread mode the failing symbol's feed raises (a feed error); in process mode its worker
process dies at once (``os._exit``, a hard crash). The other symbols must finish their
trades with exact PnL and clean locks, and the failure must be reported -- a system that
swallows a crashed worker fails this scenario as surely as one that lets it spread.
"""

from typing import Any

import pytest

from harness.history.events import WORKER_DONE, WORKER_ERROR, f
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.system.feed import FaultyFeed
from harness.system.ports import ENGINE_PARTS
from harness.system.settings import ConcurrencyMode

AREA = "Failure Injection"
FAILING_AFTER_TICKS = 40


@evidence_record
class FailureFigures:
    """The injected failure, whether it was reported, and what became of the other symbols."""

    victim: str = f("the symbol whose worker was made to fail")
    failure: str = f("raise (a feed error, thread mode) or crash (os._exit, process mode)")
    failure_reported: bool = f("the history holds the victim's worker.error")
    failed_symbols: tuple[str, ...] = f("every symbol with a worker.error")
    others_completed: int = f("other symbols that finished their trades", "count")
    others: int = f("other symbols", "count")


def run(ctx: ScenarioContext) -> Trial:
    """Run with the last symbol's feed failing; report what happened to it and to the rest."""
    run_config = ctx.config.run
    victim = run_config.symbol_names[-1]
    how = "crash" if run_config.mode is ConcurrencyMode.PROCESS else "raise"
    result = ctx.run_engine(feed=FaultyFeed(victim, FAILING_AFTER_TICKS, how))
    events = result.events()
    failed = {str(e.symbol) for e in events if e.kind == WORKER_ERROR}
    done: dict[str | None, Any] = {e.symbol: e.payload.get("trades") for e in events if e.kind == WORKER_DONE}
    others = [s for s in run_config.symbol_names if s != victim]
    return Trial(events, (Evidence(AREA, FailureFigures(
        victim=victim,
        failure=how,
        failure_reported=victim in failed,
        failed_symbols=tuple(sorted(failed)),
        others_completed=sum(1 for s in others if done.get(s, 0) >= (run_config.trades or 1)),
        others=len(others),
    )),))


def gate_failure(ev: Evidence[FailureFigures], thresholds) -> GateResult:
    """The injected failure was reported, hit only its symbol, and every other symbol finished."""
    fig = ev.figures
    return GateResult("failure", ev.area, (
        Line(fig.failure_reported, f"Injected {fig.failure} in {fig.victim}: "
                                   f"{'reported' if fig.failure_reported else 'NOT reported'}"),
        Line(fig.failed_symbols == (fig.victim,), f"Failed symbols: {', '.join(fig.failed_symbols) or 'none'}"),
        Line(fig.others_completed == fig.others,
             f"Other symbols completed their trades: {fig.others_completed}/{fig.others}"),
    ))


SCENARIO = Scenario(
    name="symbol_isolation",
    title="Per-Symbol Isolation under an injected worker failure",
    description=__doc__.splitlines()[0],
    run=run,
    settings={"gates": {"max_failed_symbols": 1, "max_errors": 1, "max_criticals": 1, "max_tracebacks": 1}},
    extra_gates={AREA: gate_failure},
    accepts=ENGINE_PARTS - {"feed"},  # the failure is injected through its own feed
)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_symbol_isolation(harness_scenario, mode: str) -> None:
    """A feed error (thread) or a hard crash (process) stays inside its symbol."""
    verdict = harness_scenario(SCENARIO, mode=mode)
    assert verdict.passed, verdict.command
