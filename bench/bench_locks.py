"""Lock broker benchmark: the real broker against raw pyzmq baselines, in one run.

Measured with 1 and with 4 contending client processes, each server in its own process:

    (a) raw ROUTER/DEALER echo: round trips/s and round-trip p50/p99;
    (b) a bare FIFO lock on pyzmq (acquire + release, no leases, tokens or events);
    (c) the real ``LockBroker`` with ``ZmqLockClient`` (events recorded on both sides):
        acquire+release pairs/s and acquire p50/p99; and once more with events dropped,
        to show how much of the cost is recording the history.

Targets: broker pairs/s >= 0.4 x echo round trips/s; broker acquire p99 <= 2 x echo p99.
Run ``python -m bench.bench_locks [--quick]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

from bench.runner import Target
from bench.runner import row as target_row
from harness.history.log import History
from harness.system.locks.client import ZmqLockClient
from harness.system.locks.server import LockBroker

LOCK = "bench:lock"
PAYLOAD = b'{"op":"acquire","req":1,"client":"bench-0","names":["bench:lock"],"ts":1,"lease_ms":10000}'


# -- servers (each runs in its own process) ----------------------------------------------


def _bind_router(ready: Any) -> tuple[zmq.Socket, zmq.Context]:
    context = zmq.Context()
    sock = context.socket(zmq.ROUTER)
    sock.bind("tcp://127.0.0.1:0")
    ready.put(sock.getsockopt_string(zmq.LAST_ENDPOINT))
    return sock, context


def echo_server(ready: Any) -> None:
    """Send every message straight back."""
    sock, _ = _bind_router(ready)
    while True:
        sock.send_multipart(sock.recv_multipart())


def bare_lock_server(ready: Any) -> None:
    """One FIFO mutex per name: b"A"+name acquires, b"R"+name releases; replies b"ok"."""
    sock, _ = _bind_router(ready)
    owner: dict[bytes, bytes] = {}
    waiters: dict[bytes, deque[bytes]] = {}
    while True:
        ident, body = sock.recv_multipart()
        name = body[1:]
        if body[:1] == b"A":
            if name in owner:
                waiters.setdefault(name, deque()).append(ident)
                continue
            owner[name] = ident
        else:
            queue = waiters.get(name)
            if queue:
                owner[name] = nxt = queue.popleft()
                sock.send_multipart((nxt, b"ok"))
            else:
                del owner[name]
        sock.send_multipart((ident, b"ok"))


class Unrecorded(History):
    """A History that drops events; only to attribute cost to event recording."""

    def append(self, kind: str, *, worker: str, symbol: str | None = None, **payload: Any) -> None:  # type: ignore[override]
        """Drop the event."""


def _history(name: str, record: bool) -> History:
    return History(name) if record else Unrecorded(name)


def broker_server(ready: Any, record: bool = True) -> None:
    """The real broker, recording its events in memory as a run would."""
    broker = LockBroker("tcp://127.0.0.1:0", history=_history("bench", record), context=zmq.Context())
    broker.serve(on_ready=ready.put)


# -- clients (one process each) ---------------------------------------------------------


def _dealer(endpoint: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def _time_ops(ops: int, start: Any, out: Any, timed: Callable[[], Any], after: Callable[[Any], Any]) -> None:
    """After the barrier, run ``ops`` times: ``timed()`` (latency recorded), then ``after``."""
    start.wait()
    latencies, began = [], time.perf_counter_ns()
    for _ in range(ops):
        t0 = time.perf_counter_ns()
        result = timed()
        latencies.append(time.perf_counter_ns() - t0)
        after(result)
    out.put((time.perf_counter_ns() - began, latencies))


def echo_client(endpoint: str, ops: int, start: Any, out: Any) -> None:
    """Time ``ops`` echo round trips."""
    sock = _dealer(endpoint)
    sock.send(PAYLOAD)  # connect and warm up before the clock starts
    sock.recv()

    def round_trip() -> bytes:
        sock.send(PAYLOAD)
        return sock.recv()

    _time_ops(ops, start, out, round_trip, lambda _: None)


def bare_lock_client(endpoint: str, ops: int, start: Any, out: Any) -> None:
    """Time ``ops`` acquire+release pairs on the bare lock server."""
    sock = _dealer(endpoint)
    acquire, release = b"A" + LOCK.encode(), b"R" + LOCK.encode()

    def call(body: bytes) -> bytes:
        sock.send(body)
        return sock.recv()

    _time_ops(ops, start, out, lambda: call(acquire), lambda _: call(release))


def broker_client(endpoint: str, ops: int, start: Any, out: Any, record: bool = True) -> None:
    """Time ``ops`` acquire+release pairs through ``ZmqLockClient``."""
    name = multiprocessing.current_process().name
    client = ZmqLockClient(endpoint, name, _history(name, record), seed=zlib.crc32(name.encode()))
    client.release(client.acquire([LOCK], timeout=10.0))
    _time_ops(ops, start, out, lambda: client.acquire([LOCK], timeout=10.0), client.release)
    client.close()


# -- measuring ---------------------------------------------------------------------------


def measure(
    server: Callable[..., None], client: Callable[..., None], clients: int, ops: int, *extra: Any
) -> dict[str, float]:
    """Run one server process and ``clients`` client processes; return rate and latency."""
    ctx = multiprocessing.get_context("spawn")
    ready, out, start = ctx.Queue(), ctx.Queue(), ctx.Barrier(clients)
    server_process = ctx.Process(target=server, args=(ready, *extra), daemon=True)
    server_process.start()
    try:
        endpoint = ready.get(timeout=30)
        workers = [
            ctx.Process(target=client, args=(endpoint, ops, start, out, *extra), name=f"bench-{i}") for i in range(clients)
        ]
        for worker in workers:
            worker.start()
        results = [out.get(timeout=300) for _ in workers]
        for worker in workers:
            worker.join(30)
    finally:
        server_process.terminate()
        server_process.join(10)
    elapsed = max(e for e, _ in results) / 1e9
    latencies = sorted(x for _, lat in results for x in lat)
    return {
        "rate": clients * ops / elapsed,
        "p50_us": latencies[len(latencies) // 2] / 1e3,
        "p99_us": latencies[int(len(latencies) * 0.99)] / 1e3,
    }


def _row(name: str, samples: list[float], unit: str, baseline: str | None, base: float | None) -> dict[str, Any]:
    value = statistics.median(samples)
    return {
        "name": name,
        "value": round(value, 2),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": None if base is None else round(base, 2),
        "ratio": None if not base else round(value / base, 3),
        "runs": len(samples),
        "min": round(min(samples), 2),
        "median": round(value, 2),
        "max": round(max(samples), 2),
    }


def _paired(samples: dict[str, list[dict[str, float]]], clients: int, tag: str) -> list[dict[str, Any]]:
    """Issue-15 targets as ratios of broker to bare FIFO taken run by run (A/B interleaved)."""
    pairs = list(zip(samples["broker"], samples["bare"], strict=True))
    rows = [target_row(f"broker / bare FIFO pairs/s {tag}", [b["rate"] / f["rate"] for b, f in pairs], "x",
                target=Target("value", ">=", 0.6 if clients == 1 else 0.5))]
    if clients > 1:
        p99s = [b["p99_us"] / f["p99_us"] for b, f in pairs]
        rows.append(target_row(f"broker / bare FIFO acquire p99 {tag}", p99s, "x", target=Target("value", "<=", 3)))
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure every baseline and the broker with 1 and 4 client processes."""
    runs, ops = (1, 1_000) if quick else (3, 5_000)
    rows: list[dict[str, Any]] = []
    for clients in (1, 4):
        samples: dict[str, list[dict[str, float]]] = {"echo": [], "bare": [], "broker": [], "silent": []}
        for _ in range(runs):
            samples["echo"].append(measure(echo_server, echo_client, clients, ops))
            samples["bare"].append(measure(bare_lock_server, bare_lock_client, clients, ops))
            samples["broker"].append(measure(broker_server, broker_client, clients, ops))
            samples["silent"].append(measure(broker_server, broker_client, clients, ops, False))

        def pick(kind: str, key: str, samples: dict[str, list[dict[str, float]]] = samples) -> list[float]:
            return [s[key] for s in samples[kind]]  # bound now: pick is used within this iteration only

        echo_rate = statistics.median(pick("echo", "rate"))
        echo_p99 = statistics.median(pick("echo", "p99_us"))
        tag = f"[{clients}p]"
        rows += [
            _row(f"echo round trips/s {tag}", pick("echo", "rate"), "1/s", None, None),
            _row(f"echo round-trip p50 {tag}", pick("echo", "p50_us"), "us", None, None),
            _row(f"echo round-trip p99 {tag}", pick("echo", "p99_us"), "us", None, None),
            _row(f"bare lock pairs/s {tag}", pick("bare", "rate"), "1/s", f"echo round trips/s {tag}", echo_rate),
            _row(f"broker pairs/s {tag}", pick("broker", "rate"), "1/s", f"echo round trips/s {tag}", echo_rate),
            _row(f"broker, no events pairs/s {tag}", pick("silent", "rate"), "1/s", f"echo round trips/s {tag}", echo_rate),
            _row(f"broker acquire p50 {tag}", pick("broker", "p50_us"), "us", None, None),
            _row(f"broker acquire p99 {tag}", pick("broker", "p99_us"), "us", f"echo round-trip p99 {tag}", echo_p99),
            *_paired(samples, clients, tag),
        ]
    return rows


def main() -> None:
    """Print every measurement and its ratio to the raw baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run per measurement")
    args = parser.parse_args()
    for row in run(args.quick):
        ratio = "" if row["ratio"] is None else f"  ratio {row['ratio']:.3f} vs {row['baseline']}"
        print(f"{row['name']:<28} {row['value']:>12,.1f} {row['unit']:<4} "
              f"(min {row['min']:,.1f} max {row['max']:,.1f}, {row['runs']} runs){ratio}")


if __name__ == "__main__":
    main()
