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
from harness.faults.broker_restart import RestartableBroker
from harness.history.log import Event
from harness.judge.checks.faults import check_lock_faults, gate_lock_faults
from harness.judge.checks.locks import check_locks
from harness.judge.gates import gate_locks
from harness.judge.thresholds import Thresholds
from harness.run.scenario import Verdict
from harness.system.locks.server import LockBroker

ROUNDS = 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the reference run writes its reports."""
    return Path(tmp_path_factory.mktemp("lock_faults"))


@pytest.fixture(scope="module")
def reference(run_dir: Path) -> Verdict:
    """One lock_faults run: three symbols, two pauses past a 1 s lease."""
    from harness.report import write_reports
    from harness.run.scenario import execute, load

    scenario = load("lock_faults")
    config = scenario.configure(hb.small_config(seed=3), {"nemesis": {"rounds": ROUNDS}})
    verdict = execute(scenario, config, run_dir)
    write_reports(verdict, run_dir)
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


def test_verify_log_lists_each_fault_window(reference: Verdict, run_dir: Path) -> None:
    """VERIFY_LOG.txt has a [PHYSICAL_EVIDENCE] Faults section naming each pause, its target and effect."""
    text = (run_dir / "VERIFY_LOG.txt").read_text(encoding="utf-8")
    section = text.split("[PHYSICAL_EVIDENCE] Faults", 1)[1]
    assert "pause: declared 2x, injected 2x, healed 2x" in section
    assert "pause-1: pause of " in section and "stale write(s) rejected, 0 accepted" in section


def test_a_pause_that_never_bit_fails(reference: Verdict) -> None:
    """A pause of a worker holding no lock (no lease ran out, no lock went on) proved nothing: FAIL."""
    inject = hb.first(reference.events, "fault.inject")
    events = hb.alter(list(reference.events), inject, target="idle#0")
    assert any("pause of idle#0" in line and "the fault never bit" in line for line in _faults(events))


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


def test_process_mode_stops_worker_processes_and_passes(tmp_path: Path) -> None:
    """Process mode: the paused worker is a SIGSTOPped process; every pause bites and every gate passes."""
    from harness.run.scenario import execute, load

    scenario = load("lock_faults")
    config = scenario.configure(hb.small_config(seed=3, mode="process"), {"nemesis": {"rounds": ROUNDS}})
    verdict = execute(scenario, config, tmp_path / "run")
    assert verdict.passed, [(g.area, hb.failing(g)) for g in verdict.gates if not g.passed]
    windows = check_lock_faults(verdict.events, ("pause",), ROUNDS).figures.windows
    assert len(windows) == ROUNDS and all(w.bit and w.rejected >= 1 for w in windows)


class _ForgetfulBroker(RestartableBroker):
    """Restarts without its state file: the new broker reissues tokens below the old one's (the defect)."""

    def restart(self) -> None:
        self._broker.stop()
        self._broker = LockBroker(self.endpoint, history=self._history).start()


def _restart_run(tmp_path: Path, seed: int) -> Verdict:
    from harness.run.scenario import execute, load

    scenario = load("lock_faults")
    config = scenario.configure(hb.small_config(seed=seed), {"nemesis": {"faults": "broker-restart", "rounds": 1}})
    return execute(scenario, config, tmp_path / f"restart-{seed}")


def test_a_broker_restart_keeps_tokens_increasing_and_passes(tmp_path: Path) -> None:
    """The broker is stopped under a holder and started from its state file: tokens of a new epoch, PASS."""
    verdict = _restart_run(tmp_path, 4)
    assert verdict.passed, [(g.area, hb.failing(g)) for g in verdict.gates if not g.passed]
    stop = hb.first(verdict.events, "broker.stop")
    later = [t for e in hb.where(verdict.events, "broker.grant") if e.seq > stop.seq
             for t in e.payload["tokens"].values()]
    assert later and min(later) >> 32 == stop.payload["epoch"] + 1  # the next epoch's tokens, above all before
    (window,) = check_lock_faults(verdict.events, ("broker-restart",), 1).figures.windows
    assert window.bit and window.rejected >= 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_broker_reissuing_lower_tokens_after_restart_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             seed: int) -> None:
    """A restart that forgets the state file gives tokens below earlier ones: Lock Atomicity FAILs."""
    monkeypatch.setattr("harness.scenarios.lock_faults.RestartableBroker", _ForgetfulBroker)
    verdict = _restart_run(tmp_path, seed)
    gate = next(g for g in verdict.gates if g.area == "Lock Atomicity")
    assert any("token order errors" in line for line in hb.failing(gate)), hb.failing(gate)
    assert gate.counterexamples["token_order_errors"]
