"""A stateful model test of the real broker: clients, crashes, clock advances, restarts."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import zmq
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.history import History
from harness.locks.client import ZmqLockClient
from harness.locks.protocol import Grant, LockError, LockTimeout
from harness.locks.server import LockBroker

from . import FakeClock, assert_lock_history_clean

NAMES = ("A", "B", "C")
CLIENTS = 3
LEASE_MS = 1_000


@dataclass(frozen=True)
class Held:
    """What the model believes one lock's holder is."""

    client: str
    token: int
    expires_ns: int


class BrokerMachine(RuleBasedStateMachine):
    """Drives a real broker over inproc and compares it with a model of held leases."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="broker-machine-"))
        self.context = zmq.Context()
        self.clock = FakeClock()
        self.history = History("machine")
        self.broker = LockBroker(
            "inproc://broker-machine", self.directory / "state.json", self.history,
            clock=self.clock, context=self.context,
        ).start()
        self.incarnations = [0] * CLIENTS
        self.clients = [self._new_client(i) for i in range(CLIENTS)]
        self.observer = self._client("observer")
        self.grants: list[list[Grant]] = [[] for _ in range(CLIENTS)]
        self.model: dict[str, Held] = {}
        self.tokens: dict[str, list[int]] = {name: [] for name in NAMES}

    def _client(self, client_id: str) -> ZmqLockClient:
        # Never wait at the broker and never back off: every step completes at once.
        return ZmqLockClient(
            "inproc://broker-machine", client_id, self.history, request_timeout=5.0, max_retries=0,
            context=self.context, lease_ms=LEASE_MS, clock=self.clock, sleep=lambda _: None,
        )

    def _new_client(self, index: int) -> ZmqLockClient:
        self.incarnations[index] += 1
        return self._client(f"c{index}.{self.incarnations[index]}")

    def _holder(self, name: str) -> Held | None:
        held = self.model.get(name)
        return held if held is not None and held.expires_ns > self.clock() else None

    def _still_held(self, grant: Grant) -> bool:
        return all(
            (h := self._holder(n)) is not None and (h.client, h.token) == (grant.client, grant.tokens[n])
            for n in grant.names
        )

    @initialize()
    def nothing_held(self) -> None:
        assert self.observer.status()["holders"] == {}

    @rule(index=st.integers(0, CLIENTS - 1), names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    def acquire(self, index: int, names: list[str]) -> None:
        free = all(self._holder(n) is None for n in names)
        try:
            grant = self.clients[index].acquire(names, timeout=0.0)
        except LockTimeout:
            assert not free, f"{names} were free but refused"
            return
        assert free, f"{names} granted while held: {self.model}"
        expires = self.clock() + LEASE_MS * 1_000_000
        for name in names:
            assert not self.tokens[name] or grant.tokens[name] > self.tokens[name][-1]
            self.tokens[name].append(grant.tokens[name])
            self.model[name] = Held(grant.client, grant.tokens[name], expires)
        self.grants[index].append(grant)

    def _held_op(self, index: int, pick: int, op: str) -> None:
        grant = self.grants[index].pop(pick % len(self.grants[index]))
        held = self._still_held(grant)
        try:
            result = getattr(self.clients[index], op)(grant)
        except LockError:
            assert not held, f"{op} of a held grant refused"
            return
        assert held, f"{op} of a lost grant accepted"
        if op == "renew":
            expires = self.clock() + LEASE_MS * 1_000_000
            for name in grant.names:
                self.model[name] = Held(grant.client, grant.tokens[name], expires)
            self.grants[index].append(result)
        else:
            for name in grant.names:
                del self.model[name]

    @precondition(lambda self: any(self.grants))
    @rule(index=st.integers(0, CLIENTS - 1), pick=st.integers(0, 10))
    def release(self, index: int, pick: int) -> None:
        if self.grants[index]:
            self._held_op(index, pick, "release")

    @precondition(lambda self: any(self.grants))
    @rule(index=st.integers(0, CLIENTS - 1), pick=st.integers(0, 10))
    def renew(self, index: int, pick: int) -> None:
        if self.grants[index]:
            self._held_op(index, pick, "renew")

    @rule(index=st.integers(0, CLIENTS - 1))
    def crash(self, index: int) -> None:
        self.clients[index].close()
        self.clients[index] = self._new_client(index)
        self.grants[index] = []

    @rule(ms=st.sampled_from([1, LEASE_MS // 2, LEASE_MS - 1, LEASE_MS, 3 * LEASE_MS]))
    def advance_clock(self, ms: int) -> None:
        self.clock.advance_ms(ms)

    @rule()
    def restart_broker(self) -> None:
        self.broker.stop()
        self.broker.start()
        self.model.clear()
        # inproc peers do not reconnect to a new binding; same ids, fresh sockets, old grants.
        for client in (*self.clients, self.observer):
            client.close()
        self.clients = [self._client(c.client_id) for c in self.clients]
        self.observer = self._client("observer")

    @invariant()
    def status_matches_model(self) -> None:
        status = self.observer.status()
        holders = {n: (h["client"], h["token"]) for n, h in status["holders"].items()}
        expected = {n: (h.client, h.token) for n in NAMES if (h := self._holder(n)) is not None}
        assert holders == expected

    @invariant()
    def tokens_strictly_increase(self) -> None:
        for seen in self.tokens.values():
            assert all(a < b for a, b in zip(seen, seen[1:]))

    def teardown(self) -> None:
        for client in (*self.clients, self.observer):
            client.close()
        self.broker.stop()
        self.context.term()
        shutil.rmtree(self.directory, ignore_errors=True)
        assert_lock_history_clean(self.history)



BrokerMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=30, deadline=None)
TestBrokerMachine = BrokerMachine.TestCase
