"""Lock state-machine rules: a faulty client sends every operation the broker must refuse.

Before the symbols trade through the lock service, a faulty client (``harness.faults.faulty_client``)
releases a lock it does not hold, releases a grant twice, renews and releases a grant whose
lease ran out. The broker must refuse each; the run is judged on lock atomicity (which also
flags a broker that honours any of them from its own events) and on the rules gate, which
fails when a rule was honoured -- or was never exercised at all.
"""

from harness.errors import ConfigError
from harness.faults.faulty_client import Probes, send_faulty_operations
from harness.history.events import LOCK_RULES as RULES
from harness.history.log import History, new_sequence
from harness.judge.checks.lock_rules import AREA, LockRulesFigures, check_lock_rules
from harness.judge.evidence import Evidence
from harness.judge.gates import GateResult, Line
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.system.locks.client import ZmqLockClient, ZmqLockProvider
from harness.system.locks.protocol import Grant
from harness.system.settings import ConcurrencyMode

SHORT_LEASE_MS = 20


def run(ctx: ScenarioContext) -> Trial:
    """Let the faulty client probe the lock service, then trade through it; one history for both."""
    history = History(ctx.run_id, new_sequence(ctx.config.run.mode is ConcurrencyMode.PROCESS))
    with ctx.lock_service(history) as locks:
        if not isinstance(locks, ZmqLockProvider):
            raise ConfigError("lock_rules probes a ZeroMQ lock broker; --locks must give a ZmqLockProvider")
        send_faulty_operations(_probes(locks, history), history)
    events = ctx.run_engine(history=history).events()
    return Trial(events, (check_lock_rules(events),))


def _probes(locks: ZmqLockProvider, history: History) -> Probes:
    owner = locks.client("faulty-a", history)
    short = ZmqLockClient(locks.endpoint, "faulty-lease", history, lease_ms=SHORT_LEASE_MS)

    def expired(grant: Grant) -> bool:
        holders = short.status(grant.names)["holders"]
        return all(holders.get(name, {}).get("token") != grant.token(name) for name in grant.names)

    def queued(name: str, client: str) -> bool:
        return client in short.status([name])["queues"].get(name, [])

    return Probes(owner, locks.client("faulty-b", history), short, expired, queued)


def gate_rules(ev: Evidence[LockRulesFigures], thresholds) -> GateResult:
    """Every rule exercised at least once, and never honoured."""
    fig = ev.figures
    lines = [Line(fig.probes_total > 0, f"Forbidden operations sent: {fig.probes_total}")]
    for rule in RULES:
        row = fig.rules[rule]
        lines.append(Line(row.sent > 0 and row.honoured == 0,
                          f"{rule.replace('_', ' ')}: {row.sent} sent, {row.refused} refused, {row.honoured} honoured"
                          + ("" if row.sent else " -- rule never exercised")))
    return GateResult("lock_rules", ev.area, tuple(lines), {k: v for k, v in ev.violations.items() if v})


SCENARIO = Scenario(
    name="lock_rules",
    title="Lock State-Machine Rules under a Faulty Client",
    description=__doc__.splitlines()[0],
    run=run,
    # The probe grant left to expire is the one hold no release ends.
    settings={"run": {"trades": 5}, "gates": {"max_unbalanced_pairs": 1}},
    extra_gates={AREA: gate_rules},
    covers=frozenset({"lock.grant", "lock.queue", "lock.fifo_handoff", "lock.renew", "lock.expiry", "lock.refusal",
                      "lock.non_owner_release"}),
)


def test_lock_rules(harness_scenario) -> None:
    """The reference broker refuses every forbidden operation; the run passes."""
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
