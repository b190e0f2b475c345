"""Faults on the lock path: holders paused past short leases, and proof that fencing holds.

Every symbol trades through the ZeroMQ broker with short leases while a nemesis pauses one
lock holder at a time (seeded) past its lease, until the broker expires it and another
worker writes; then the holder wakes and goes on writing with its old token. The guarded
resources must reject those stale writes (> 0: proof each fault reached a writer) and accept
none, no fill may be lost or doubled, and every declared fault must be injected, bite and
heal -- a fault that never bit fails the run instead of passing it.
"""

import functools

from harness.errors import ConfigError
from harness.faults.pause import PausableGuardian, PauseNemesis
from harness.history.log import History, LocalSequence
from harness.judge.checks.faults import AREA, check_lock_faults, gate_lock_faults
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.system.settings import ConcurrencyMode


def run(ctx: ScenarioContext) -> Trial:
    """One run under the nemesis; it ends when the nemesis has done every round."""
    config, nemesis_config = ctx.config.run, ctx.config.nemesis
    if config.mode is not ConcurrencyMode.THREAD:
        raise ConfigError(f"lock_faults: --mode {config.mode.value} is not supported yet (pause stalls a worker "
                          f"thread; use --mode thread)")
    nemesis = PauseNemesis(config.symbol_names, rounds=nemesis_config.rounds,
                           seed=config.seed if nemesis_config.seed is None else nemesis_config.seed,
                           lease_ms=config.lock_lease_ms, interval=nemesis_config.interval)
    history = History(ctx.run_id, LocalSequence(), sink=nemesis.observe)
    with nemesis.running(history):
        result = ctx.run_engine(history, stop=nemesis.done,
                                guardian_factory=functools.partial(PausableGuardian, nemesis=nemesis))
    events = result.events()
    return Trial(events, (check_lock_faults(events, nemesis_config.faults, nemesis_config.rounds),))


SCENARIO = Scenario(
    name="lock_faults",
    title="Faults on the lock path: paused holders, short leases, fencing",
    description=__doc__.splitlines()[0],
    run=run,
    # The run ends when the nemesis is done (trades is only a ceiling); a pause must outlive the lease.
    settings={"run": {"trades": 1_000_000, "mode": "thread", "lock_lease_ms": 1000},
              "nemesis": {"faults": ["pause"]}},
    extra_gates={AREA: gate_lock_faults},
    accepts=frozenset({"aggregator", "ledger", "feed"}),
    faults=frozenset({"pause"}),
)


def test_lock_faults(harness_scenario) -> None:
    """Each pause bites (a lease expires under the holder), its stale write is rejected, and every gate passes."""
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
