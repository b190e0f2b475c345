"""The pause nemesis on the reference system, and the Faults/Lock gates on histories with planted defects.

One short ``lock_faults`` run (two pauses) is recorded once; each defect is then planted in a
copy of its history, so every gate is shown to fail on what it exists to catch while the
recorded reference passes beside it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import harness.testing as hb
from harness.history.log import Event
from harness.judge.checks.faults import check_lock_faults, gate_lock_faults
from harness.judge.checks.locks import check_locks
from harness.judge.gates import gate_locks
from harness.judge.thresholds import Thresholds
from harness.run.scenario import Verdict

ROUNDS = 2


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    """One lock_faults run: three symbols, two pauses past a 1 s lease."""
    from harness.report import write_reports
    from harness.run.scenario import execute, load

    scenario = load("lock_faults")
    config = scenario.configure(hb.small_config(seed=3), {"nemesis": {"rounds": ROUNDS}})
    out = Path(tmp_path_factory.mktemp("lock_faults"))
    verdict = execute(scenario, config, out)
    write_reports(verdict, out)
    return verdict


def _faults(events: list[Event]) -> list[str]:
    return hb.failing(gate_lock_faults(check_lock_faults(events, ("pause",), ROUNDS)))


def test_reference_passes_and_each_pause_bites(reference: Verdict) -> None:
    """Every gate passes; each pause expired a lease under its holder and had a stale write rejected."""
    assert reference.passed, [(g.area, hb.failing(g)) for g in reference.gates if not g.passed]
    figures = check_lock_faults(reference.events, ("pause",), ROUNDS).figures
    assert len(figures.windows) == ROUNDS
    assert all(w.bit and w.rejected >= 1 and w.accepted_stale == 0 and w.healed_seq for w in figures.windows)
    locks = check_locks(reference.events).figures
    assert locks.fence_rejects >= ROUNDS and locks.stale_accepted == 0
    assert locks.pairs_faulted >= ROUNDS and locks.pairs_total == locks.pairs_balanced + locks.pairs_faulted


def test_verify_log_lists_each_fault_window(reference: Verdict, tmp_path: Path) -> None:
    """VERIFY_LOG.txt has a [PHYSICAL_EVIDENCE] Faults section naming each pause, its target and effect."""
    from harness.report import write_reports

    write_reports(reference, tmp_path)
    text = (tmp_path / "VERIFY_LOG.txt").read_text(encoding="utf-8")
    section = text.split("[PHYSICAL_EVIDENCE] Faults", 1)[1]
    assert "pause: declared 2x, injected 2x, healed 2x" in section
    assert "pause-1: pause of " in section and "stale write(s) rejected, 0 accepted" in section


def test_a_pause_that_never_bit_fails(reference: Verdict) -> None:
    """Without a lease expiring under the paused holder, the fault proved nothing: FAIL."""
    events = [e for e in reference.events if e.kind != "broker.expire"]
    assert any("the fault never bit" in line for line in _faults(events))


def test_fewer_injections_than_declared_fail(reference: Verdict) -> None:
    """A declared round that never happened is a failed fact."""
    last = hb.last(reference.events, "fault.inject")
    events = [e for e in reference.events if e.payload.get("row") != last.payload["row"]]
    assert _faults(events)[0] == f"pause: declared {ROUNDS}x, injected {ROUNDS - 1}x, healed {ROUNDS - 1}x"


def test_a_fault_never_healed_fails(reference: Verdict) -> None:
    """A stopped worker the nemesis never let go is a failed fact (and a leak)."""
    events = [e for e in reference.events if e.kind != "fault.heal"]
    assert any("NEVER healed" in line for line in _faults(events))


def _accept_stale(events: list[Event]) -> list[Event]:
    """The resource lets the woken holder's stale write through (it ignores tokens)."""
    reject = hb.first(events, "fence.reject")
    accept = dataclasses.replace(reject, kind="fence.accept",
                                 payload={k: v for k, v in reject.payload.items() if k != "newest"})
    return hb.replace(events, reject, accept)


def test_a_stale_write_accepted_fails_faults_and_lock_atomicity(reference: Verdict) -> None:
    """A holder writing on after its lease ended, let through: both gates FAIL with the write as counterexample."""
    events = _accept_stale(list(reference.events))
    faults = gate_lock_faults(check_lock_faults(events, ("pause",), ROUNDS))
    assert "Stale writes accepted: 1" in hb.failing(faults)
    assert faults.counterexamples["accepted_stale"][0]["kind"] == "fence.accept"
    lock_gate = gate_locks(check_locks(events), Thresholds())
    assert any("stale writes accepted" in line for line in hb.failing(lock_gate))


def test_lapsed_holds_are_excused_only_inside_a_fault(reference: Verdict) -> None:
    """Without the fault events, the holds that ran out under the pauses are unbalanced pairs: FAIL."""
    events = [e for e in reference.events if e.kind != "fault.inject"]
    figures = check_locks(events).figures
    assert figures.pairs_faulted == 0
    assert any("unbalanced" in line for line in hb.failing(gate_locks(check_locks(events), Thresholds())))
