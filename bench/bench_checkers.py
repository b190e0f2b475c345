"""Checker throughput: the lock checker (linearizability off) on long histories.

Long histories are built by tiling one real engine run (thread mode, in-process lock
table): each tile is shifted after the previous one in seq, time and fencing token, so the
tiled history is as clean as the run it came from. Baseline: a raw Python pass over the
same events reading what any one-pass checker must read (kind and payload).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

from bench.runner import Plan, Row, Target, level, peak_growth_mb, repeat, row, timed
from harness.history.log import Event
from harness.judge.checks.locks import check_locks
from harness.run.config import run_config
from harness.system.engine import run as run_engine
from harness.system.locks.local import LockTable

GROUP = "checkers"
SIZES = {"tiny": 2_000, "quick": 200_000, "full": 1_000_000}
RUN_LEVEL = frozenset({"run.start", "run.end", "agg.state", "worker.start", "worker.done"})


@functools.lru_cache(maxsize=1)
def base_events() -> tuple[Event, ...]:
    """One real engine run of about 10,000 events, without its run-level bookends."""
    config = run_config({"symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "trades": 170, "seed": 11})
    events = run_engine(config, LockTable()).events()
    return tuple(e for e in events if e.kind not in RUN_LEVEL)


def _shift(event: Event, seq: int, mono: int, token: int) -> Event:
    """The event renumbered ``seq``, moved by ``mono`` ns, its fencing tokens raised by ``token``."""
    payload = event.payload
    if "tokens" in payload:
        payload = {**payload, "tokens": {k: v + token for k, v in payload["tokens"].items()}}
    elif event.kind.startswith("fence.") and "token" in payload:
        payload = {**payload, "token": payload["token"] + token}
    return dataclasses.replace(event, seq=seq, mono_ns=event.mono_ns + mono, payload=payload)


def tiled_history(size: int) -> list[Event]:
    """At least ``size`` events: whole copies of the base run back to back, shifted to stay consistent.

    Seqs are renumbered 1, 2, 3 ... without gaps, as the checkpoint replay requires.
    """
    base = base_events()
    mono_span = base[-1].mono_ns - base[0].mono_ns + 1_000_000
    top_token = max((v for e in base for v in e.payload.get("tokens", {}).values()), default=0) + 1
    out: list[Event] = []
    tile = 0
    while len(out) < size:
        start = len(out)
        out.extend(_shift(e, start + i + 1, tile * mono_span, tile * top_token) for i, e in enumerate(base))
        tile += 1
    return out  # whole tiles only: a cut one would leave locks held at the end


def raw_pass(events: Sequence[Event]) -> int:
    """The floor: touch each event's kind and payload once, as a one-pass checker must."""
    hits = 0
    for event in events:
        if event.kind.startswith("lock.") and event.payload.get("op") == "acquire":
            hits += 1
    return hits


def lock_check(events: Sequence[Event]) -> dict[str, float]:
    """Seconds and peak memory growth (MiB) of the lock checker; fails loudly on a dirty history."""
    def check() -> object:
        return check_locks(events, lin_budget=None)

    seconds, (memory, evidence) = timed(lambda: peak_growth_mb(check))
    dirty = {name: found[:1] for name, found in evidence.violations.items() if found}
    if dirty:
        raise RuntimeError(f"tiled history is not clean: {dirty}")
    return {"seconds": seconds, "memory_mb": memory}


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Raw pass vs lock checker on the largest history of this level."""
    size_level = level(quick, tiny)
    size = SIZES[size_level]
    events = tiled_history(size)
    plan = Plan.of(size_level)
    raw = repeat(lambda: {"seconds": timed(lambda: raw_pass(events))[0]}, plan)
    checked = repeat(lambda: lock_check(events), plan)
    label = f"{size:,} events"
    base = row(f"raw pass over history [{label}]", raw["seconds"], "s", group=GROUP)
    return [
        base,
        row(f"lock checker, no lin. [{label}]", checked["seconds"], "s", baseline=base,
            target=Target("value", "<", 10.0), group=GROUP),
        row(f"lock checker memory [{label}]", checked["memory_mb"], "MiB", group=GROUP),
    ]
