"""Time as a parameter: the one clock type every timed component takes, and a fake for tests.

A ``Clock`` is a callable returning integer nanoseconds. Components that measure or wait
(the history's stamps, the broker's leases, the lock client's wait-or-die timestamps, the
persistence writer's backoff, the progress bars) take one as ``clock=`` and default to the
real one, so a test drives time by hand with ``FakeClock`` and synchronises on events,
never on sleeps (as trio's ``MockClock`` does). Monotonic time orders events within a host;
wall time (``wall_ns``) is for what must compare across processes and hosts.

This module imports nothing of the harness.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

Clock = Callable[[], int]  # nanoseconds

NS_PER_S = 1_000_000_000

monotonic_ns: Clock = time.monotonic_ns
wall_ns: Clock = time.time_ns


def backoff_delay(attempt: int, initial_s: float, factor: float, cap_s: float) -> float:
    """``initial_s * factor ** (attempt - 1)`` capped at ``cap_s``: the delay is capped, never the attempts.

    Exact for any attempt number: past the cap the power is never computed, so a retry loop
    that runs for hours cannot overflow (``2.0 ** 1025`` raises OverflowError).
    """
    exponent = max(0, attempt - 1)
    if initial_s <= 0 or cap_s <= initial_s:
        return max(0.0, min(initial_s, cap_s))
    if factor > 1 and exponent >= math.log(cap_s / initial_s, factor):
        return cap_s
    return min(cap_s, initial_s * factor ** exponent)


def seconds(clock: Clock) -> float:
    """The clock's current reading in seconds."""
    return clock() / NS_PER_S


class FakeClock:
    """A monotonic nanosecond clock that moves only when told; safe to read from many threads."""

    def __init__(self, start_ns: int = 10**12) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def __call__(self) -> int:
        """The current time in nanoseconds."""
        return self._now

    def seconds(self) -> float:
        """The current time in seconds."""
        return self._now / NS_PER_S

    def advance(self, seconds: float) -> int:
        """Move time forward (never back) by ``seconds``; return the new time in nanoseconds."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back ({seconds} s)")
        with self._lock:
            self._now += round(seconds * NS_PER_S)
            return self._now

    def advance_ms(self, ms: float) -> int:
        """Move time forward by ``ms`` milliseconds; return the new time in nanoseconds."""
        return self.advance(ms / 1000)

    sleep = advance  # code that sleeps on this clock returns at once, time having passed
