"""The pause nemesis leaves nothing stopped: not when a run is interrupted mid-pause, not when it ends."""

from __future__ import annotations

import threading

import pytest

from harness.faults.pause import PauseNemesis
from harness.history.events import FAULT_HEAL, FAULT_INJECT
from harness.history.log import Event, History, LocalSequence


def _nemesis(lease_ms: int = 600_000) -> tuple[PauseNemesis, History, threading.Event]:
    nemesis = PauseNemesis(["A"], rounds=1, seed=0, lease_ms=lease_ms)
    injected = threading.Event()

    def sink(event: Event) -> None:
        nemesis.observe(event)
        if event.kind == FAULT_INJECT:
            injected.set()

    return nemesis, History("t", LocalSequence(), sink=sink), injected


def test_an_interrupt_mid_pause_releases_the_stopped_worker() -> None:
    """KeyboardInterrupt while a holder is stopped (nothing will ever heal it): it runs again, the nemesis ends."""
    nemesis, history, injected = _nemesis()
    worker = threading.Thread(target=nemesis.stall, args=("A#0", "A"))
    with pytest.raises(KeyboardInterrupt), nemesis.running(history):
        worker.start()
        assert injected.wait(10)
        raise KeyboardInterrupt
    worker.join(10)
    assert not worker.is_alive() and nemesis.done.is_set()
    assert [e.kind for e in history.events()] == [FAULT_INJECT, FAULT_HEAL]  # the release is a heal, recorded


def test_a_pause_heals_once_another_worker_writes_under_the_global_lock() -> None:
    """The heal waits for the bite -- another worker's write under the lock the stopped one holds -- not a timer."""
    nemesis, history, injected = _nemesis()
    worker = threading.Thread(target=nemesis.stall, args=("A#0", "A"))
    with nemesis.running(history):
        worker.start()
        assert injected.wait(10)
        history.append("fence.accept", worker="A#0", resource="exposure", lock="global:exposure", token=1)
        assert worker.is_alive()  # its own write is no bite
        history.append("fence.accept", worker="B#0", resource="exposure", lock="global:exposure", token=2)
        worker.join(10)
        assert nemesis.done.wait(10)
    assert [e.kind for e in history.events()][-1] == FAULT_HEAL
    assert not worker.is_alive()
