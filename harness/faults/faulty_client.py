"""A faulty lock client: sends what a buggy client sends, so the broker's rules are exercised.

Each probe is announced by a ``nemesis.lock_rule`` event (rule, client, names) just before
the operation the rule forbids; the client records the operation itself (invoke and its
completion) and the broker its answer, so ``harness.judge.checks.lock_rules`` can tell, from the
history alone, whether each forbidden operation was refused.

Rules probed (``RULES``):

    release_by_non_owner   b releases a grant a holds
    double_release         a releases the same grant twice
    renew_after_expiry     a renews a grant whose lease the broker expired
    release_after_expiry   a releases that expired grant

The owner also renews its grant once while it holds it, and releases it while another client
waits queued for it, which the service must honour (the renew) and hand on FIFO (the lock).
Only the public client API is used (``LockClient`` acquire/release/renew, plus a
``status`` call where the client has one to wait for the expiry -- a wait on the broker's
state, never a sleep standing in for it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.history.events import NEMESIS_LOCK_RULE
from harness.history.log import History
from harness.system.locks.protocol import Grant, LockClient, LockError

PROBE = NEMESIS_LOCK_RULE
PROBE_LOCK = "probe:rules"


@dataclass(frozen=True)
class Probes:
    """Two clients of the service under test; ``short`` holds leases that run out quickly."""

    owner: LockClient
    other: LockClient
    short: LockClient
    expired: Callable[[Grant], bool]
    queued: Callable[[str, str], bool]  # (lock, client): the client's request waits in the lock's queue


def send_faulty_operations(probes: Probes, history: History, timeout: float = 5.0) -> None:
    """Send each forbidden operation once; the broker must refuse every one."""
    grant = probes.owner.acquire([PROBE_LOCK], timeout)
    _probe(history, "release_by_non_owner", probes.other, lambda: probes.other.release(grant))
    grant = probes.owner.renew(grant)  # the allowed renew beside the forbidden ones: the service must honour it
    _hand_on(probes, grant, timeout)
    _probe(history, "double_release", probes.owner, lambda: probes.owner.release(grant))
    leased = probes.short.acquire([PROBE_LOCK], timeout)
    deadline = time.monotonic() + timeout
    while not probes.expired(leased):
        if time.monotonic() > deadline:
            raise LockError(f"{PROBE_LOCK}: lease of {leased.lease_ms} ms did not expire in {timeout}s")
    _probe(history, "renew_after_expiry", probes.short, lambda: probes.short.renew(leased))
    _probe(history, "release_after_expiry", probes.short, lambda: probes.short.release(leased))


def _hand_on(probes: Probes, grant: Grant, timeout: float) -> None:
    """The owner releases while ``other`` waits queued: the lock must be handed on to the waiter (FIFO)."""
    handed: list[Grant] = []
    waiter = threading.Thread(target=lambda: handed.append(probes.other.acquire([PROBE_LOCK], timeout)))
    waiter.start()
    deadline = time.monotonic() + timeout
    while not probes.queued(PROBE_LOCK, probes.other.client_id):  # the broker's state, not a sleep
        if time.monotonic() > deadline or not waiter.is_alive():
            break
    probes.owner.release(grant)
    waiter.join(timeout)
    if not handed:
        raise LockError(f"{PROBE_LOCK}: the queued request was not handed the lock in {timeout}s")
    probes.other.release(handed[0])


def _probe(history: History, rule: str, client: LockClient, operation: Callable[[], object]) -> None:
    """Announce and send one forbidden operation; a refusal is the expected answer."""
    history.append(PROBE, worker=client.client_id, rule=rule, client=client.client_id, names=[PROBE_LOCK])
    try:
        operation()
    except LockError:
        pass  # refused, as it must be; the history holds the answer for the checker
