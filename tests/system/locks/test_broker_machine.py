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

from harness.history.log import History
from harness.system.locks.client import ZmqLockClient
from harness.system.locks.protocol import Grant, LockError, LockTimeout
from harness.system.locks.server import LockBroker
from tests.system.locks import FakeClock, RawClient, assert_lock_history_clean

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
            clock=self.clock, context=self.context, max_lease_ms=10**9,
        ).start()
        self.incarnations = [0] * CLIENTS
        self.clients = [self._new_client(i) for i in range(CLIENTS)]
        self.observer = self._client("observer")
        self.grants: list[list[Grant]] = [[] for _ in range(CLIENTS)]
        self.model: dict[str, Held] = {}
        self.tokens: dict[str, list[int]] = {name: [] for name in NAMES}
        # Queued waiters (raw connections that hold nothing), in FIFO order, and their grants.
        self.waiters: list[tuple[RawClient, int, tuple[str, ...]]] = []
        self.raws: list[RawClient] = []

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
        self._pump()
        holding = any(h.client == self.clients[index].client_id for n in NAMES if (h := self._holder(n)))
        queued = {n for _, _, wanted in self.waiters for n in wanted}
        # Holding nothing, a request must not overtake a queued waiter (FIFO).
        free = all(self._holder(n) is None and (holding or n not in queued) for n in names)
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

    @rule(names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    def enqueue(self, names: list[str]) -> None:
        """A new connection that holds nothing asks and is ready to wait: queued FIFO."""
        self._pump()
        raw = RawClient("inproc://broker-machine", f"w{len(self.raws)}", self.context)
        self.raws.append(raw)
        req = raw.send("acquire", names=names, ts=0, lease_ms=LEASE_MS, wait_ms=10**8)
        # A raw connection records its own client events, as a ZmqLockClient would.
        self.history.append("lock.invoke", worker=raw.client, op="acquire", names=names, req=req, ts=0, attempt=1)
        self.waiters.append((raw, req, tuple(names)))
        self._await_outcome(raw.client, req)
        self._pump()

    def _await_outcome(self, client: str, req: int) -> None:
        """Wait (by event, not time) until the broker queued or granted a request."""
        done = {"broker.queue", "broker.grant"}
        while not any(e.kind in done and e.payload.get("req") == req and e.payload.get("client") == client
                      for e in self.history.events()):
            self.observer.status()

    def _pump(self) -> None:
        """The model's FIFO: grant, atomically, each waiter first in line on all its free names."""
        progress = True
        while progress:
            progress = False
            for index, (raw, req, names) in enumerate(self.waiters):
                ahead = {n for _, _, wanted in self.waiters[:index] for n in wanted}
                if any(self._holder(n) is not None or n in ahead for n in names):
                    continue
                reply = raw.reply(req)
                assert reply["ok"] and set(reply["tokens"]) == set(names), f"waiter {names}: {reply}"
                self.history.append("lock.ok", worker=raw.client, op="acquire", names=list(names), req=req,
                                    tokens=reply["tokens"], lease_ms=reply["lease_ms"])
                expires = self.clock() + LEASE_MS * 1_000_000
                for name in names:
                    assert not self.tokens[name] or reply["tokens"][name] > self.tokens[name][-1]
                    self.tokens[name].append(reply["tokens"][name])
                    self.model[name] = Held(raw.client, reply["tokens"][name], expires)
                del self.waiters[index]
                progress = True
                break

    @precondition(lambda self: any(self.grants))
    @rule(index=st.integers(0, CLIENTS - 1), pick=st.integers(0, 10))
    def forged_release(self, index: int, pick: int) -> None:
        """Another connection claiming the holder's id and token is refused."""
        if not self.grants[index]:
            return
        grant = self.grants[index][pick % len(self.grants[index])]
        forger = RawClient("inproc://broker-machine", grant.client, self.context)
        self.raws.append(forger)
        reply = forger.call("release", names=list(grant.names), tokens=dict(grant.tokens))
        assert reply["ok"] is False, "a release from another connection was honoured"

    @rule(ms=st.sampled_from([1, LEASE_MS // 2, LEASE_MS - 1, LEASE_MS, 3 * LEASE_MS]))
    def advance_clock(self, ms: int) -> None:
        self.clock.advance_ms(ms)

    @rule()
    def restart_broker(self) -> None:
        self.broker.stop()
        self.broker.start()
        self.model.clear()
        self.waiters.clear()  # queued requests die with the broker
        # inproc peers do not reconnect to a new binding; same ids, fresh sockets, old grants.
        for client in (*self.clients, self.observer):
            client.close()
        self.clients = [self._client(c.client_id) for c in self.clients]
        self.observer = self._client("observer")

    @invariant()
    def status_matches_model(self) -> None:
        status = self.observer.status()
        self._pump()  # the status request made the broker notice expiries and serve waiters
        holders = {n: h["client"] for n, h in status["holders"].items()}
        assert holders == {n: h.client for n in NAMES if (h := self._holder(n)) is not None}
        # Tokens are shown to their holder's connection only.
        assert status["tokens"] == {} and all("token" not in h for h in status["holders"].values())
        for client in self.clients:
            own = client.status()["tokens"]
            assert own == {n: h.token for n in NAMES if (h := self._holder(n)) and h.client == client.client_id}

    @invariant()
    def tokens_strictly_increase(self) -> None:
        for seen in self.tokens.values():
            assert all(a < b for a, b in zip(seen, seen[1:], strict=False))

    def teardown(self) -> None:
        for client in (*self.clients, self.observer, *self.raws):
            client.close()
        self.broker.stop()
        self.context.term()
        shutil.rmtree(self.directory, ignore_errors=True)
        assert_lock_history_clean(self.history)



BrokerMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=30, deadline=None)
TestBrokerMachine = BrokerMachine.TestCase
