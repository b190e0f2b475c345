"""Reading a history: decoding and validating each line in one step (msgspec) against a bare parse.

The lines are those of a tiled engine history (``bench_checkers.tiled_history``). Baseline:
``orjson.loads`` of each line, which checks nothing. Measured against it in the same run:
``harness.history.decode.decode`` (envelope and typed payload: parse and validate, an Event
built), and the path it replaced -- ``orjson.loads`` then the record-walking checker
``schema.problems`` -- which still explains every refused line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from bench.bench_checkers import tiled_history
from bench.runner import Plan, Row, Target, level, repeat, row, timed
from harness.history.decode import decode
from harness.history.schema import problems

GROUP = "decode"
SIZES = {"tiny": 2_000, "quick": 100_000, "full": 500_000}


def history_lines(size: int) -> list[bytes]:
    """At least ``size`` lines of a clean engine history, as written to events.jsonl."""
    return [event.to_json().encode() for event in tiled_history(size)]


def checked_by_walking(line: bytes) -> Any:
    """The replaced path: parse, then walk the payload record by record."""
    raw = orjson.loads(line)
    if problems(raw) is not None:
        raise ValueError(line)
    return raw


def decoded(line: bytes) -> Any:
    """The one-step path; a refused line would be a bench bug."""
    event = decode(line)
    if event is None:
        raise ValueError(line)
    return event


def over(lines: Sequence[bytes], fn: Callable[[bytes], Any]) -> float:
    """Seconds ``fn`` takes over every line (each result dropped: keeping them would time the collector)."""
    def each() -> None:
        for line in lines:
            fn(line)

    return timed(each)[0]


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """orjson.loads vs one-step decode vs parse-then-walk, per line of the same history."""
    size_level = level(quick, tiny)
    lines = history_lines(SIZES[size_level])
    samples = repeat(lambda: {"orjson": over(lines, orjson.loads), "decode": over(lines, decoded),
                              "walk": over(lines, checked_by_walking)}, Plan.of(size_level))
    label = f"{len(lines):,} lines"
    base = row(f"orjson.loads, no validation [{label}]", samples["orjson"], "s", group=GROUP)
    return [
        base,
        row(f"decode + validate, msgspec [{label}]", samples["decode"], "s", baseline=base,
            target=Target("ratio", "<=", 3.0), group=GROUP),
        row(f"orjson + schema walk (replaced) [{label}]", samples["walk"], "s", baseline=base, group=GROUP),
    ]
