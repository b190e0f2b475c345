"""Race detection: heavy contention, and a control run with synchronisation deliberately broken.

Twelve symbols trade at once under a tight global exposure limit, so every order contends
for the global lock, the guardian's book and the aggregator. The real run must pass every
gate. Two controls run the same workload with synchronisation deliberately broken, workers
forced to meet inside the race: one with no mutual exclusion (a lock service that grants
everything), one with a check-then-act guardian reserve. The lock gate must FAIL on the
first and the risk gate on the second -- a race detector that never fires on a known race
is broken.
"""

from dataclasses import replace

from harness.faults.controls import FirstRound, Rendezvous, UnlockedProvider, check_then_act_guardian
from harness.history.log import write_jsonl
from harness.judge.checks.locks import check_locks
from harness.judge.checks.risk import check_risk
from harness.judge.evidence import Evidence
from harness.judge.gates import GateResult, Line, gate_locks, gate_risk
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.system.engine import run as run_engine
from harness.system.locks.local import LockTable
from harness.system.settings import ConcurrencyMode

CONTROL_AREA = "Race Detector Control"


def run(ctx: ScenarioContext) -> Trial:
    """The real run, then the two broken controls; their verdicts become evidence."""
    real = ctx.run_engine()
    thread = replace(ctx.config.run, mode=ConcurrencyMode.THREAD)
    no_lock = run_engine(thread, UnlockedProvider(Rendezvous()), run_id=f"{ctx.run_id}-control-no-lock")
    first_round = FirstRound(len(thread.symbols))
    check_then_act = run_engine(thread, LockTable(), run_id=f"{ctx.run_id}-control-check-then-act",
                                guardian_factory=check_then_act_guardian(first_round))
    for name, result in (("control-no-lock", no_lock), ("control-check-then-act", check_then_act)):
        (ctx.out_dir / name).mkdir(parents=True, exist_ok=True)
        write_jsonl(result.events(), ctx.out_dir / name / "events.jsonl")
    evidence = control_evidence(no_lock.events(), check_then_act.events(), ctx.config.gates, first_round.met)
    return Trial(real.events(), (evidence,))


def control_evidence(no_lock, check_then_act, thresholds, forced: bool = True) -> Evidence:
    """What the lock gate said of the no-lock control and the risk gate of the check-then-act one."""
    locks, risk = check_locks(no_lock), check_risk(check_then_act)
    return Evidence(CONTROL_AREA, {
        "interleaving_forced": forced,
        "locks_gate": gate_locks(locks, thresholds).status,
        "risk_gate": gate_risk(risk, thresholds).status,
        "overlaps": locks.figures["overlaps"],
        "stale_rejected": locks.figures["fence_rejects"],
        "limit_breaches": risk.figures["limit_breaches"],
        "max_exposure_ratio": risk.figures["max_exposure_ratio"],
        "limit": risk.figures["max_gross_exposure_limit"],
    })


def gate_control(ev: Evidence, thresholds) -> GateResult:
    """Passes only when the gates failed on the known-broken control run."""
    f = ev.figures
    return GateResult("control", ev.area, (
        Line(f["locks_gate"] == "FAIL",
             f"No-lock control: lock gate {f['locks_gate']} ({f['overlaps']} overlapping holds, "
             f"{f['stale_rejected']} stale tokens rejected) -- must FAIL"),
        Line(f["risk_gate"] == "FAIL" and f["limit_breaches"] > 0,
             f"Check-then-act control: risk gate {f['risk_gate']} ({f['limit_breaches']} limit breaches, "
             f"max exposure {float(f['max_exposure_ratio']) * 100:.2f}% vs limit "
             f"{float(f['limit']) * 100:.2f}%; every worker checked before any acted: "
             f"{'yes' if f['interleaving_forced'] else 'NO'}) -- must FAIL"),
    ))


SYMBOLS = [f"R{n:02d}.s" for n in range(1, 13)]
SETTINGS = {
    "symbols": SYMBOLS,
    "trades": 15,
    "limits": {"equity": "200000", "max_gross_exposure": "0.05", "max_symbol_exposure": "0.03",
               "symbol_breaker": {"max_consecutive_losses": None, "max_drawdown": None},
               "global_breaker": {"max_drawdown": None}},
}

SCENARIO = Scenario(
    name="race_detection",
    title="Race Condition Detection under Contention (with broken-synchronisation control)",
    description=__doc__.splitlines()[0],
    run=run,
    settings={"run": SETTINGS},
    extra_gates={CONTROL_AREA: gate_control},
)


def test_race_detection(harness_scenario) -> None:
    """The real run passes every gate and the broken control is caught."""
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
