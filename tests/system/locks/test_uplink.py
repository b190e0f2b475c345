"""The process-mode uplink batches events and updates, in order, without holding them back long."""

from __future__ import annotations

import pickle

from harness.clock import NS_PER_S, FakeClock
from harness.history.log import History
from harness.system.engine import UPLINK_BATCH, UPLINK_FLUSH_NS, _Uplink


class Channel:
    """Collects what the uplink sends, one list per message."""

    def __init__(self) -> None:
        self.messages: list[list[tuple]] = []

    def send_bytes(self, data: bytes) -> None:
        self.messages.append(pickle.loads(data))



def _setup() -> tuple[Channel, FakeClock, _Uplink, History]:
    channel, clock = Channel(), FakeClock(0)
    uplink = _Uplink(channel, clock)
    return channel, clock, uplink, History("up", sink=uplink.event)


def test_lock_completion_sends_the_batch_in_order():
    channel, _, uplink, history = _setup()
    history.append("order.submit", worker="w")
    uplink.apply("BTC", {"n": 1}, worker="w", fence_token=None)
    history.append("lock.invoke", worker="w")
    assert channel.messages == []
    history.append("lock.ok", worker="w")
    [batch] = channel.messages
    assert [item[0] for item in batch] == ["event", "apply", "event", "event"]
    assert [item[1].kind for item in batch if item[0] == "event"] == ["order.submit", "lock.invoke", "lock.ok"]


def test_old_or_full_batches_and_the_end_flush():
    channel, clock, uplink, history = _setup()
    history.append("a", worker="w")
    clock.advance(UPLINK_FLUSH_NS / NS_PER_S)
    history.append("b", worker="w")
    assert [len(m) for m in channel.messages] == [2]
    for _ in range(UPLINK_BATCH):
        history.append("c", worker="w")
    assert [len(m) for m in channel.messages] == [2, UPLINK_BATCH]
    history.append("d", worker="w")
    uplink.flush()
    assert [len(m) for m in channel.messages] == [2, UPLINK_BATCH, 1]
    seqs = [item[1].seq for m in channel.messages for item in m]
    assert seqs == sorted(seqs) and len(seqs) == len(history)
