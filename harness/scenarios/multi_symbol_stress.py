"""Multi-symbol concurrency stress test: the seed's Task #127 as a reproducible gate.

Every symbol trades in its own worker (thread or process) through the ZeroMQ lock broker,
the shared guardian and the shared aggregator; the run is judged on lock atomicity, races,
performance, exact PnL reconciliation and risk limits at every fill.
"""

import pytest

from harness.run.scenario import Scenario, ScenarioContext, Trial


def run(ctx: ScenarioContext) -> Trial:
    """Run the engine once with the configured symbols, size and mode."""
    return Trial(ctx.run_engine().events())


SCENARIO = Scenario(
    name="multi_symbol_stress",
    title="Multi-Symbol Concurrency Stress Test",
    description=__doc__.splitlines()[0],
    run=run,
    # Queues happen here too, but by timing (a short process-mode run may have none): lock_rules forces them.
    covers=frozenset({"lock.grant", "order.fill"}),
)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_multi_symbol_stress(harness_scenario, mode: str) -> None:
    """The default stress run passes every gate: workers as threads, and as processes."""
    verdict = harness_scenario(SCENARIO, mode=mode)
    assert verdict.passed, verdict.command
