"""Fuzz the broker's wire format from hostile clients while a well-behaved client works.

The broker runs as its own process (``harness broker``) so its memory can be read. The
default profile is quick; ``HARNESS_FUZZ=deep`` (``make fuzz``) runs many more examples and
the full 512k distinct names of the issue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.history.log import Event, History
from harness.judge.checks.locks import check_locks
from harness.system.locks.client import ZmqLockClient
from harness.system.locks.wire import MAX_NAMES
from tests.system.locks import RawClient

pytestmark = pytest.mark.fuzz
DEEP = os.environ.get("HARNESS_FUZZ") == "deep"
EXAMPLES = 2_000 if DEEP else 60
DISTINCT_NAMES = 512 * 1024 if DEEP else 20_000
MAX_BYTES = 64 * 1024
RSS_BOUND_MB = 64  # measured 29.3 MB after 2,000 examples and 512k names: see BENCHMARKS.md

_SCRIPT = (
    "import argparse, sys\n"
    "from harness.system.locks.server import add_broker_arguments, run_broker\n"
    "parser = argparse.ArgumentParser(); add_broker_arguments(parser)\n"
    "sys.exit(run_broker(parser.parse_args(sys.argv[1:])))\n"
)

hostile_text = (
    st.text(max_size=6)
    | st.sampled_from(["\ud800", "a\udfff", "\x00", "x" * 300, "good"])
)
hostile_value = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | hostile_text | st.floats(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=10,
)
hostile_request = st.fixed_dictionaries(
    {"op": st.sampled_from(["acquire", "release", "renew", "status", "", "ACQUIRE"])},
    optional={
        "req": hostile_value, "client": hostile_value, "ts": hostile_value, "lease_ms": hostile_value,
        "wait_ms": hostile_value, "tokens": hostile_value,
        "names": hostile_value | st.lists(hostile_text, max_size=4)
        | st.just([f"n{i}" for i in range(MAX_NAMES + 1)]),
    },
).map(lambda d: json.dumps(d).encode())
hostile_frame = (
    st.binary(max_size=64) | hostile_request
    | st.sampled_from([b"", b"[" * 40_000, b"{" * 40_000, b'"\\ud800"', b"1e999999", b"9" * 5_000])
)
hostile_message = st.lists(hostile_frame, min_size=1, max_size=3)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def broker_process(tmp_path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """A ``harness broker`` process on loopback; yields it, its endpoint and its events file."""
    events = tmp_path / "broker.jsonl"
    argv = ["--endpoint", "tcp://127.0.0.1:0", "--state-file", str(tmp_path / "s.json"), "--new-state",
            "--events", str(events), "--max-bytes", str(MAX_BYTES)]
    process = subprocess.Popen([sys.executable, "-c", _SCRIPT, *argv], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("broker listening on "), line
        yield process, line.split()[-1], events
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()


@pytest.mark.timeout(1_800 if DEEP else 300)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_hostile_frames_never_hurt_the_broker_or_a_good_client(broker_process):
    process, endpoint, events_file = broker_process
    good_history = History("good")
    good = ZmqLockClient(endpoint, "good-client", good_history, request_timeout=5.0, lease_ms=5_000)
    hostiles = [RawClient(endpoint, f"hostile{i}") for i in range(4)]
    errors: list[str] = []
    counter = iter(range(10**9))

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not DEEP)
    @given(st.lists(st.tuples(st.integers(0, 3), hostile_message), min_size=1, max_size=6))
    def fuzz(messages: list[tuple[int, list[bytes]]]) -> None:
        for which, parts in messages:
            hostiles[which].socket.send_multipart(parts)
        names = [f"good:{next(counter) % 7}", "good:shared"]
        try:
            good.release(good.acquire(names, timeout=5.0))
        except Exception as exc:  # noqa: BLE001 -- any failure of the good client is the finding
            errors.append(f"{type(exc).__name__}: {exc}")
        assert process.poll() is None, "broker died"

    fuzz()
    for raw in hostiles:
        raw.close()
    after_fuzz = _rss_mb(process.pid)
    _churn_distinct_names(endpoint, DISTINCT_NAMES)
    good.release(good.acquire(["good:last"], timeout=5.0))
    after_names = _rss_mb(process.pid)
    good.close()
    assert process.poll() is None and errors == []
    print(f"broker RSS: {after_fuzz:.1f} MB after {EXAMPLES} fuzz examples, "
          f"{after_names:.1f} MB after {DISTINCT_NAMES} distinct names")
    assert after_names < RSS_BOUND_MB, f"broker RSS {after_names:.1f} MB"
    process.terminate()
    process.wait(timeout=30)
    evidence = check_locks([*good_history.events()], lin_budget=None)
    assert not any(evidence.violations.values()), evidence.violations
    with events_file.open(encoding="utf-8") as lines:  # the deep profile writes ~1.5M events
        refused = next(Event.from_json(line) for line in lines if '"broker.error"' in line)
    assert refused.payload["reason"]


def _churn_distinct_names(endpoint: str, count: int, window: int = 2_000) -> None:
    """Acquire ``count`` never-repeated names with 1 ms leases, pipelined ``window`` at a time."""
    raw = RawClient(endpoint, "churn")
    for start in range(0, count, window):
        for i in range(start, min(count, start + window)):
            raw.send("acquire", names=[f"churn:{i}"], ts=1, lease_ms=1, wait_ms=0)
        for _ in range(start, min(count, start + window)):
            assert raw.reply()["ok"]
    raw.close()
