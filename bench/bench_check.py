"""``harness check`` on long histories: time against a bare parse of the same lines, events/s, peak RSS.

The history is one real engine run tiled (``bench_checkers``: each copy shifted in seq, time
and fencing token), written to disk copy by copy so the bench never holds it. Each judging
runs in a fresh process (``harness check`` as a user runs it, without progress) that reports
its wall time and peak RSS (VmHWM); the baseline, in the same invocation, is ``orjson.loads``
of every line of the same file in a fresh process. The growth row fits RSS against events:
exponent 0 is flat memory, 1 is memory that grows with the history.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_checkers import _shift, base_events
from bench.runner import Plan, Row, Target, growth, level, loglog_exponent, repeat, row

GROUP = "check"
SIZES = {"tiny": (2_000, 6_000), "quick": (100_000, 300_000), "full": (300_000, 1_500_000)}
JUDGE = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from harness.cli.check import judged
_, gates = judged(Path(sys.argv[1]))
elapsed = time.perf_counter() - started
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": elapsed, "rss_mb": peak / 1024, "gates": len(gates)}))
"""
PARSE = """
import json, sys, time
import orjson
started = time.perf_counter()
with open(sys.argv[1], "rb") as lines:
    for line in lines:
        orjson.loads(line)
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def write_tiled(path: Path, size: int) -> int:
    """Write at least ``size`` events of the tiled engine run to ``path``, one copy at a time; how many."""
    base = base_events()
    mono_span = base[-1].mono_ns - base[0].mono_ns + 1_000_000
    top_token = max((v for e in base for v in e.payload.get("tokens", {}).values()), default=0) + 1
    written = tile = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < size:
            for i, event in enumerate(base):
                out.write(_shift(event, written + i + 1, tile * mono_span, tile * top_token).to_json() + "\n")
            written += len(base)
            tile += 1
    return written


def in_fresh_process(script: str, path: Path) -> dict[str, float]:
    """What ``script`` printed (one JSON object), run on ``path`` in a new interpreter."""
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Check time against a bare parse, events/s and peak RSS at two history sizes, and the RSS growth."""
    size_level = level(quick, tiny)
    plan = Plan(1, 0) if size_level == "full" else Plan.of(size_level)  # a full pass judges 1.5 M events once
    rows: list[Row] = []
    sizes, peaks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES[size_level]:
            path = Path(tmp) / f"events-{size}.jsonl"
            events = write_tiled(path, size)
            samples = repeat(lambda: {**in_fresh_process(JUDGE, path),  # noqa: B023 -- used at once
                                      "parse": in_fresh_process(PARSE, path)["seconds"]}, plan)  # noqa: B023
            label = f"{events:,} events"
            base = row(f"orjson.loads of every line [{label}]", samples["parse"], "s", group=GROUP)
            rows += [base,
                     row(f"harness check [{label}]", samples["seconds"], "s", baseline=base,
                         target=Target("ratio", "<=", 3.0), group=GROUP),
                     row(f"harness check events/s [{label}]", [events / s for s in samples["seconds"]], "events/s",
                         target=Target("value", ">=", 300_000), group=GROUP),
                     row(f"harness check peak RSS [{label}]", samples["rss_mb"], "MiB",
                         target=Target("value", "<=", 300), group=GROUP)]
            sizes.append(events)
            peaks.append(min(samples["rss_mb"]))
            path.unlink()
    exponent = loglog_exponent(sizes, peaks)
    rows.append(row(f"growth: check peak RSS vs events [{sizes[0]:,} -> {sizes[-1]:,}]", [exponent], "exponent",
                    target=Target("value", "<=", 0.1), group=GROUP, exponent=exponent, growth=growth(exponent)))
    return rows
