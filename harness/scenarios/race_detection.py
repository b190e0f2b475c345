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
from decimal import Decimal

from harness.faults.controls import FirstRound, Rendezvous, UnlockedProvider, check_then_act_guardian
from harness.history.events import f
from harness.history.log import write_jsonl
from harness.judge.checks.locks import check_locks
from harness.judge.checks.risk import check_risk
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line, gate_locks, gate_risk
from harness.run.scenario import Scenario, ScenarioContext, Trial
from harness.system.engine import run as run_engine
from harness.system.locks.local import LockTable
from harness.system.settings import ConcurrencyMode

CONTROL_AREA = "Race Detector Control"


@evidence_record
class ControlFigures:
    """What the gates said of the two runs with synchronisation broken on purpose."""

    interleaving_forced: bool = f("every check-then-act worker checked before any acted")
    locks_gate: str = f("the lock gate's status on the no-lock control (must be FAIL)")
    risk_gate: str = f("the risk gate's status on the check-then-act control (must be FAIL)")
    overlaps: int = f("overlapping holds in the no-lock control", "count")
    stale_rejected: int = f("stale fencing tokens rejected in the no-lock control", "count")
    limit_breaches: int = f("exposure limit breaches in the check-then-act control", "count")
    max_exposure_ratio: Decimal | None = f("its highest gross exposure", "ratio of equity")
    limit: Decimal | None = f("its gross exposure limit", "ratio of equity")


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


def control_evidence(no_lock, check_then_act, thresholds, forced: bool = True) -> Evidence[ControlFigures]:
    """What the lock gate said of the no-lock control and the risk gate of the check-then-act one."""
    locks, risk = check_locks(no_lock), check_risk(check_then_act)
    return Evidence(CONTROL_AREA, ControlFigures(
        interleaving_forced=forced,
        locks_gate=gate_locks(locks, thresholds).status,
        risk_gate=gate_risk(risk, thresholds).status,
        overlaps=locks.figures.overlaps,
        stale_rejected=locks.figures.fence_rejects,
        limit_breaches=risk.figures.limit_breaches,
        max_exposure_ratio=risk.figures.max_exposure_ratio,
        limit=risk.figures.max_gross_exposure_limit,
    ))


def gate_control(ev: Evidence[ControlFigures], thresholds) -> GateResult:
    """Passes only when the gates failed on the known-broken control run."""
    fig = ev.figures
    return GateResult("control", ev.area, (
        Line(fig.locks_gate == "FAIL",
             f"No-lock control: lock gate {fig.locks_gate} ({fig.overlaps} overlapping holds, "
             f"{fig.stale_rejected} stale tokens rejected) -- must FAIL"),
        Line(fig.risk_gate == "FAIL" and fig.limit_breaches > 0,
             f"Check-then-act control: risk gate {fig.risk_gate} ({fig.limit_breaches} limit breaches, "
             f"max exposure {_percent(fig.max_exposure_ratio)} vs limit {_percent(fig.limit)}; "
             f"every worker checked before any acted: {'yes' if fig.interleaving_forced else 'NO'}) -- must FAIL"),
    ))


def _percent(ratio: Decimal | None) -> str:
    """A ratio as a percentage with two decimals, through float as this line always showed it."""
    return "n/a" if ratio is None else f"{float(ratio) * 100:.2f}%"


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
