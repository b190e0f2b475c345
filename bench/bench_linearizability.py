"""Linearizability checking: etcd-style Jepsen logs parsed and checked, and long cas-register histories.

The histories are generated here (no third-party data): a register that really is atomic is
driven by concurrent clients who invoke, take effect at one random instant, and complete --
or time out (``:info``), in which case the op took effect or not at random and the client is
replaced by a fresh process, as in Jepsen. So every generated history is linearizable and a
checker must say "true".

- etcd logs: 102 files shaped like porcupine's ``test_data/jepsen/etcd_*.log`` (5 clients,
  values 0-4, read/write/cas, about 85 operations and 170 lines each, many timeouts), in
  Jepsen log-line format. Baseline: a raw read + whitespace tokenise of the same files.
- cas register: concurrency 10, 2 % crashed ops, 10k / 30k / 100k ops; time and verdict.
- porcupine's own etcd logs, only when ``PORCUPINE_TEST_DATA`` names a local copy of its
  ``test_data`` directory (nothing of it is shipped here): parse + check with porcupine's
  failed-cas semantics, and the verdict counts.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runner import Plan, Row, Target, level, peak_growth_mb, repeat, row, timed
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.formats import read_history
from harness.judge.linearizability.models import CAS_REGISTER
from harness.judge.linearizability.operations import Budget, FailSemantics, Record, operations

GROUP = "linearizability"
ETCD_LOGS = 102
ETCD_OPS = 85
PORCUPINE_ETCD_S = 1.74  # porcupine on the 102 etcd logs, recorded in issue 17 (BENCHMARKS.md)
CAS_SIZES = {"tiny": (1_000,), "quick": (10_000, 30_000), "full": (10_000, 30_000, 100_000)}
CAS_BUDGET = Budget(steps=None, seconds=300.0)
_WORD = re.compile(rb"\S+")


@dataclass(frozen=True)
class Shape:
    """How a generated register history looks."""

    ops: int
    concurrency: int
    crash_rate: float
    values: int = 5


def _invocation(rng: random.Random, values: int) -> tuple[str, Any]:
    f = rng.choice(("read", "write", "cas"))
    if f == "read":
        return f, None
    if f == "write":
        return f, rng.randrange(values)
    return f, (rng.randrange(values), rng.randrange(values))


def _apply(register: list[Any], f: str, value: Any) -> tuple[bool, Any]:
    """Run one op on the atomic register; (succeeded, what the completion reports)."""
    if f == "read":
        return True, register[0]
    if f == "write":
        register[0] = value
        return True, value
    if register[0] == value[0]:
        register[0] = value[1]
        return True, value
    return False, value


def register_history(shape: Shape, seed: int) -> list[Record]:
    """A linearizable cas-register history (Records) of ``shape.ops`` operations."""
    rng = random.Random(seed)
    register: list[Any] = [None]
    slots = list(range(shape.concurrency))
    pending: dict[int, list[Any]] = {}  # slot -> [f, value, outcome or None]
    records: list[Record] = []
    invoked = 0
    while invoked < shape.ops or pending:
        slot = rng.randrange(shape.concurrency)
        process, state = slots[slot], pending.get(slot)
        if state is None:
            if invoked < shape.ops:
                f, value = _invocation(rng, shape.values)
                records.append(Record(process, "invoke", f, value, len(records)))
                pending[slot], invoked = [f, value, None], invoked + 1
        elif rng.random() < shape.crash_rate / 2:
            # A timeout, before or after the op took effect; the client is replaced, as in Jepsen.
            records.append(Record(process, "info", state[0], "timed-out", len(records)))
            del pending[slot]
            slots[slot] = process + shape.concurrency
        elif state[2] is None:
            state[2] = _apply(register, state[0], state[1])
        else:
            ok, out = state[2]
            records.append(Record(process, "ok" if ok else "fail", state[0], out, len(records)))
            del pending[slot]
    return records


def _edn(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, tuple):
        return "[" + " ".join(_edn(v) for v in value) + "]"
    return ":timed-out" if value == "timed-out" else str(value)


def etcd_log(records: Sequence[Record]) -> str:
    """Records as Jepsen log lines, as in porcupine's etcd logs."""
    return "".join(f"INFO  jepsen.util - {r.process}\t:{r.type}\t:{r.f}\t{_edn(r.value)}\n" for r in records)


def write_etcd_logs(directory: Path, count: int = ETCD_LOGS) -> list[Path]:
    """``count`` etcd-style logs (5 clients, values 0-4, about one op in eight timing out)."""
    paths = []
    for i in range(count):
        path = directory / f"etcd_{i:03d}.log"
        path.write_text(etcd_log(register_history(Shape(ETCD_OPS, 5, 0.12), seed=i)), encoding="utf-8")
        paths.append(path)
    return paths


def raw_tokenise(paths: Sequence[Path]) -> int:
    """The floor: read every file and split it into whitespace-separated tokens."""
    return sum(len(_WORD.findall(path.read_bytes())) for path in paths)


def parse_and_check(paths: Sequence[Path], fail_semantics: FailSemantics = "knossos") -> dict[str, int]:
    """Read and check every log in this process; how many verdicts of each kind."""
    verdicts: dict[str, int] = {}
    for path in paths:
        verdict = check(operations(read_history(path), fail_semantics), CAS_REGISTER).verdict
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    return verdicts


def _log_rows(paths: Sequence[Path], what: str, plan: Plan, fail_semantics: FailSemantics) -> list[Row]:
    """Raw read + tokenise of the logs, then parse + check of the same logs against it."""
    lines = sum(path.read_text().count("\n") for path in paths)
    raw = repeat(lambda: {"seconds": timed(lambda: raw_tokenise(paths))[0]}, plan)
    verdicts: dict[str, int] = {}

    def once() -> dict[str, float]:
        seconds, found = timed(lambda: parse_and_check(paths, fail_semantics))
        verdicts.update(found)
        return {"seconds": seconds}

    checked = repeat(once, plan)
    label = f"{len(paths)} {what}, {lines:,} lines"
    base = row(f"raw read + tokenise [{label}]", raw["seconds"], "s", group=GROUP)
    summary = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
    return [base, row(f"parse + check, one process [{label}] ({summary})", checked["seconds"], "s", baseline=base,
                      target=Target("value", "<=", 2 * PORCUPINE_ETCD_S), group=GROUP,
                      verdicts=verdicts, porcupine_s=PORCUPINE_ETCD_S)]


def _etcd_rows(plan: Plan) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-lin-") as tmp:
        rows = _log_rows(write_etcd_logs(Path(tmp)), "etcd-style logs", plan, "knossos")
    local = os.environ.get("PORCUPINE_TEST_DATA")
    if local:
        # One of its 103 files is empty; its tests check the other 102.
        logs = sorted(p for p in Path(local, "jepsen").glob("etcd_*.log") if p.stat().st_size)
        rows += _log_rows(logs, "porcupine etcd logs", plan, "porcupine")
    return rows


def _cas_row(size: int, plan: Plan) -> Row:
    ops = operations(register_history(Shape(size, 10, 0.02), seed=size))
    crashed = sum(op.is_info for op in ops)
    results: list[str] = []

    def once() -> dict[str, float]:
        seconds, (memory, result) = timed(lambda: peak_growth_mb(lambda: check(ops, CAS_REGISTER, CAS_BUDGET)))
        results.append(result.verdict)
        return {"seconds": seconds, "memory_mb": memory}

    samples = repeat(once, plan)
    return row(f"cas register, concurrency 10, {size:,} ops, {crashed} crashed ({results[-1]})", samples["seconds"],
               "s", group=GROUP, verdict=results[-1], ops=size, crashed=crashed,
               memory_mb=round(max(samples["memory_mb"]), 1))


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """etcd-style logs against the raw baseline, then cas-register histories of growing size."""
    size_level = level(quick, tiny)
    plan = Plan.of(size_level)
    rows = _etcd_rows(plan)
    # The long searches run once each: their time is the figure, and a warm-up would double it.
    rows += [_cas_row(size, Plan(1, 0)) for size in CAS_SIZES[size_level]]
    return rows
