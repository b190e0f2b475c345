"""The pause nemesis leaves nothing stopped: not when a run is interrupted mid-pause, not when it ends."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest

from harness.faults.pause import PauseNemesis, ProcessStop, ThreadStop
from harness.history.events import FAULT_HEAL, FAULT_INJECT
from harness.history.log import Event, History, LocalSequence


def _nemesis(lease_ms: int = 600_000) -> tuple[PauseNemesis, History, threading.Event]:
    nemesis = PauseNemesis(["A"], ThreadStop(lease_ms), rounds=1, seed=0, lease_ms=lease_ms)
    injected = threading.Event()

    def sink(event: Event) -> None:
        nemesis.observe(event)
        if event.kind == FAULT_INJECT:
            injected.set()

    history = History("t", LocalSequence(), sink=sink)
    return nemesis, history, injected


def _worker(nemesis: PauseNemesis, history: History) -> threading.Thread:
    """A worker thread reaching the stall point of symbol A."""
    def record(kind: str, worker: str, symbol: str, **payload: object) -> None:
        history.append(kind, worker=worker, symbol=symbol, **payload)

    return threading.Thread(target=nemesis.stop.stall, args=("A#0", "A", record))


def test_an_interrupt_mid_pause_releases_the_stopped_worker() -> None:
    """KeyboardInterrupt while a holder is stopped (nothing will ever heal it): it runs again, the nemesis ends."""
    nemesis, history, injected = _nemesis()
    worker = _worker(nemesis, history)
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
    worker = _worker(nemesis, history)
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


def _stall_child(stop: ProcessStop, announced: Any) -> None:
    """A worker process reaching the stall point of symbol A; it stops itself there (SIGSTOP)."""
    stop.stall("A#0", "A", lambda *args, **payload: announced.set())


def test_an_interrupt_mid_pause_leaves_no_process_stopped() -> None:
    """Process mode: KeyboardInterrupt while the worker process is SIGSTOPped -- it is continued and exits."""
    spawn = multiprocessing.get_context("spawn")
    stop = ProcessStop(spawn, ["A"], lease_ms=600_000)
    nemesis = PauseNemesis(["A"], stop, rounds=1, seed=0, lease_ms=600_000)
    announced = spawn.Event()
    child = spawn.Process(target=_stall_child, args=(stop, announced), daemon=True)
    history = History("t", LocalSequence(), sink=nemesis.observe)
    with pytest.raises(KeyboardInterrupt), nemesis.running(history):
        child.start()
        assert announced.wait(30)
        raise KeyboardInterrupt
    child.join(30)
    assert child.exitcode == 0
    assert [e.kind for e in history.events()] == [FAULT_HEAL]  # its fault.inject went to its own history
