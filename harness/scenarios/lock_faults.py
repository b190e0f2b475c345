"""Faults on the lock path: holders paused past short leases, and proof that fencing holds.

Every symbol trades through the ZeroMQ broker (or ``--locks``) with short leases while a
nemesis stops one lock holder at a time (seeded) mid-write: ``pause`` past its lease (a
stalled thread, or in process mode a ``SIGSTOP``ped worker process), ``broker-restart`` while
the broker is stopped and started again from its state file -- until the lock went on and
another worker wrote; then the holder wakes and goes on writing with its old token. The guarded
resources must reject those stale writes (> 0: proof each fault reached a writer) and accept
none, no fill may be lost or doubled, and every declared fault must be injected, bite and
heal -- a fault that never bit fails the run instead of passing it.
"""

import contextlib
import functools
import multiprocessing

from harness.errors import ConfigError
from harness.faults.broker_restart import RestartableBroker
from harness.faults.pause import PausableGuardian, PauseNemesis, ProcessStop, ThreadStop
from harness.history.log import History, LocalSequence, SharedSequence
from harness.judge.checks.faults import AREA, check_lock_faults, gate_lock_faults
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.system.locks.client import ZmqLockProvider
from harness.system.settings import ConcurrencyMode


def run(ctx: ScenarioContext) -> Trial:
    """One run under the nemesis; it ends when the nemesis has done every round."""
    config, declared = ctx.config.run, ctx.config.nemesis
    _refuse_unsupported(ctx)
    process = config.mode is ConcurrencyMode.PROCESS
    spawn = multiprocessing.get_context("spawn")
    stop = ProcessStop(spawn, config.symbol_names, config.lock_lease_ms) if process else ThreadStop(config.lock_lease_ms)
    broker: RestartableBroker | None = None

    def restart() -> None:
        if broker is not None:
            broker.restart()

    # The workers end when the nemesis is done: an Event every worker process can read.
    nemesis = PauseNemesis(config.symbol_names, stop, rounds=declared.rounds,
                           seed=config.seed if declared.seed is None else declared.seed,
                           lease_ms=config.lock_lease_ms, interval=declared.interval,
                           done=spawn.Event() if process else None, faults=declared.faults,
                           actions={"broker-restart": restart})
    history = History(ctx.run_id, SharedSequence.create(spawn) if process else LocalSequence(), sink=nemesis.observe)
    with contextlib.ExitStack() as stack:
        locks = None
        if "broker-restart" in declared.faults:
            broker = stack.enter_context(RestartableBroker(history, ctx.out_dir / "broker.state"))
            locks = ZmqLockProvider(broker.endpoint, seed=config.seed, lease_ms=config.lock_lease_ms)
        stack.enter_context(nemesis.running(history))
        result = ctx.run_engine(history, locks=locks, stop=nemesis.done,
                                guardian_factory=functools.partial(PausableGuardian, stop=stop))
    events = result.events()
    return Trial(events, (check_lock_faults(events, declared.faults, declared.rounds),))


def _refuse_unsupported(ctx: ScenarioContext) -> None:
    """What this scenario cannot do is refused with one line, never run half-way."""
    if ctx.config.run.mode is ConcurrencyMode.SINGLE:
        raise ConfigError("lock_faults: --mode single has no second worker to take a paused holder's lock "
                          "(use thread or process)")
    if "broker-restart" not in ctx.config.nemesis.faults:
        return
    if ctx.config.run.mode is ConcurrencyMode.PROCESS:
        raise ConfigError("lock_faults: broker-restart runs in thread mode only (the broker of process mode is a "
                          "process of its own)")
    if ctx.plugins.locks is not None:
        raise ConfigError("lock_faults: broker-restart restarts the harness's broker; it cannot restart --locks")


SCENARIO = Scenario(
    name="lock_faults",
    title="Faults on the lock path: paused holders, short leases, fencing",
    description=__doc__.splitlines()[0],
    run=run,
    # The run ends when the nemesis is done (trades is only a ceiling); a pause must outlive the lease.
    # A waiter whose request died with a restarted broker hears so after lock_timeout + 5 s.
    settings={"run": {"trades": 1_000_000, "mode": "thread", "lock_lease_ms": 1000, "lock_timeout": 3.0},
              "nemesis": {"faults": ["pause"]}},
    extra_gates={AREA: gate_lock_faults},
    accepts=frozenset({"aggregator", "ledger", "feed", "locks"}),
    faults=frozenset({"pause", "broker-restart"}),
)


def test_lock_faults(harness_scenario) -> None:
    """Each pause bites (a lease expires under the holder), its stale write is rejected, and every gate passes."""
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
