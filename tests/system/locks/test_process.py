"""The broker in its own process: same service, its events merged into the run's history in order."""

from __future__ import annotations

import multiprocessing

import pytest

from harness.history.log import History, SharedSequence
from harness.system.locks.client import ZmqLockProvider
from harness.system.locks.process import BATCH, broker_process
from harness.system.locks.server import BrokerStateError
from tests.system.locks import assert_lock_history_clean


def _history() -> History:
    return History("proc", SharedSequence.create(multiprocessing.get_context("spawn")))


def test_events_come_back_complete_and_in_order(tmp_path):
    history = _history()
    pairs = 2 * BATCH  # more events than one batch holds
    with broker_process(history, tmp_path / "state.json") as endpoint:
        client = ZmqLockProvider(endpoint).client("c", history)
        for _ in range(pairs):
            client.release(client.acquire(["A"], timeout=5.0))
        client.close()
    events = history.events()
    kinds = [e.kind for e in events if e.worker == "broker"]
    assert kinds.count("broker.grant") == pairs and kinds.count("broker.release") == pairs
    assert kinds[-1] == "broker.stop"
    # Each broker.grant sorts between the client's lock.invoke and its lock.ok.
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    order = [e.kind for e in events if e.kind in ("lock.invoke", "broker.request", "broker.grant", "lock.ok")][:4]
    assert order == ["lock.invoke", "broker.request", "broker.grant", "lock.ok"]
    assert_lock_history_clean(history)


def test_needs_a_shared_sequence():
    with pytest.raises(BrokerStateError, match="SharedSequence"), broker_process(History("local")):
        pass


def test_start_failure_is_one_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("not json")
    with pytest.raises(BrokerStateError, match="not a broker state file"), broker_process(_history(), state):
        pass
