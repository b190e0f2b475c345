"""Writes (or checks) ``docs/history.schema.json`` and ``docs/HISTORY.md`` from ``harness.history.events``.

    python -m harness.history.docs --write-docs     # regenerate both files
    python -m harness.history.docs --check-docs     # exit 1 if either differs from the code
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from harness.history.events import FORMAT, KINDS, USER_PREFIX, Kind
from harness.history.schema import ENVELOPE, hints, json_schema, required_fields

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCHEMA_FILE = "history.schema.json"
PAGE_FILE = "HISTORY.md"

_E = {"wall": "2026-01-01T00:00:00.000000+00:00", "run_id": "r1"}


def _ev(seq: int, kind: str, worker: str, symbol: str | None = None, **payload: Any) -> dict[str, Any]:
    return {"seq": seq, "mono_ns": seq * 1000, **_E, "worker": worker, "symbol": symbol, "kind": kind,
            "payload": payload}


_FILL = {"order": "o1", "fill": "f1", "side": "BUY", "qty": "1", "price": "100.0", "fee": "0.1"}
_EXIT = {"order": "o2", "fill": "f2", "side": "SELL", "qty": "1", "price": "101.0", "fee": "0.1"}
_TRADE = {"trade": "t1", "side": "BUY", "qty": "1", "entry": "100.0", "exit": "101.0", "fees": "0.2",
          "pnl": "0.8", "outcome": "win"}
_METRICS = {"seq": 1, "trades": 1, "wins": 1, "losses": 0, "breakeven": 0, "pnl": "0.8", "gross_profit": "0.8",
            "gross_loss": "0"}
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "locks": [
        _ev(1, "lock.invoke", "w1", op="acquire", names=["symbol:ABC"], req=1),
        _ev(2, "lock.ok", "w1", op="acquire", names=["symbol:ABC"], req=1, tokens={"symbol:ABC": 1}),
        _ev(3, "lock.invoke", "w1", op="release", names=["symbol:ABC"], req=2),
        _ev(4, "lock.ok", "w1", op="release", names=["symbol:ABC"], req=2),
    ],
    "races": [
        _ev(1, "order.fill", "w1", "ABC", **_FILL),
        _ev(2, "risk.settle", "w1", "ABC", order="o1", fill="f1", position="1"),
        _ev(3, "order.fill", "w1", "ABC", **_EXIT),
        _ev(4, "risk.settle", "w1", "ABC", order="o2", fill="f2", position="0"),
    ],
    "performance": [
        _ev(1, "order.submit", "w1", "ABC", order="o1", side="BUY", qty="1"),
        _ev(2, "risk.settle", "w1", "ABC", order="o1"),
        _ev(3, "trade.closed", "w1", "ABC", **_TRADE),
        _ev(4, "run.end", "engine", elapsed_ns=1_000_000),
    ],
    "aggregator": [
        _ev(1, "order.fill", "w1", "ABC", **_FILL),
        _ev(2, "order.fill", "w1", "ABC", **_EXIT),
        _ev(3, "trade.closed", "w1", "ABC", **_TRADE),
        _ev(4, "agg.state", "engine", symbols={"ABC": _METRICS}),
    ],
    "risk": [
        _ev(1, "run.start", "engine", equity="10000", max_gross_exposure="0.5", max_symbol_exposure="0.5"),
        _ev(2, "worker.start", "w1", "ABC"),
        _ev(3, "order.fill", "w1", "ABC", **_FILL),
        _ev(4, "order.fill", "w1", "ABC", **_EXIT),
        _ev(5, "worker.done", "w1", "ABC", trades=1),
    ],
}


def type_name(tp: Any) -> str:
    """A short human name of a field's type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any"
    if origin is Annotated:
        return f"{type_name(args[0])} > 0"
    names = {str: "string", int: "integer", bool: "boolean", float: "number", Decimal: "decimal",
             type(None): "null"}
    if tp in names:
        return names[tp]
    if origin in (types.UnionType, typing.Union):
        return " \\| ".join(type_name(a) for a in args)
    if origin is Literal:
        return " \\| ".join(f'"{a}"' for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"object of {type_name(args[1])}"
    return f"[{tp.__name__}](#{tp.__name__.lower()})"


def _field_rows(cls: type) -> list[str]:
    annotations = hints(cls)
    required = set(required_fields(cls))
    rows = ["| field | type | unit | required | meaning |", "| --- | --- | --- | --- | --- |"]
    for fld in dataclasses.fields(cls):
        rows.append(f"| `{fld.name}` | {type_name(annotations[fld.name])} | {fld.metadata.get('unit') or '-'} | "
                    f"{'yes' if fld.name in required else 'no'} | {fld.metadata.get('doc', '')} |")
    return rows if len(rows) > 2 else ["(no fields)"]


def _kind_section(spec: Kind) -> list[str]:
    areas = ", ".join(spec.areas) or "none (reports only)"
    symbol = "required" if spec.needs_symbol else "optional"
    return [f"### `{spec.name}`", "", spec.doc, "", f"Read by: {areas}. Symbol: {symbol}.", "",
            *_field_rows(spec.payload), ""]


def _nested() -> list[type]:
    seen: dict[str, type] = {}

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp):
            visit(arg)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type) and tp.__name__ not in seen:
            seen[tp.__name__] = tp
            for hint in hints(tp).values():
                visit(hint)

    for spec in KINDS.values():
        for hint in hints(spec.payload).values():
            visit(hint)
    return [seen[name] for name in sorted(seen)]


INTRO = f"""# The event history contract (`{FORMAT}`)

<!-- generated by `python -m harness.history.docs --write-docs` from harness/history/events.py; do not edit -->

A history is a UTF-8 text file with one JSON object per line (`events.jsonl`). Any program
in any language can write it; `harness check events.jsonl` judges it. The machine-readable
contract is [`history.schema.json`](history.schema.json) (JSON Schema 2020-12, version
`{FORMAT}`), generated from the same code as this page. Python programs can record through
`harness.record` instead of writing JSON themselves.

`harness check` validates its input first. An unknown kind, a missing field, a wrong type,
bad JSON or UTF-8, or a `seq` that does not increase is one line `FILE:LINE: ...` and exit
code 2. With `--lenient` the lines that meet the contract are judged and the others are
listed under a failed `History Contract` gate (exit 1): a history that breaks the contract
never passes.

Each kind below says which evidence areas read it; `harness check` judges the areas whose
events the history holds. Fields not listed here are allowed and ignored; kinds starting
with `{USER_PREFIX}` are yours: any payload, read by no checker.

## Conventions

- Money, prices, quantities and ratios are **decimals written as strings** (`"101.25"`):
  exact digits, never binary floats. A JSON number is accepted from other writers.
- Integers are written without a fraction: `harness check` refuses `1.0` where an integer
  is due (JSON Schema itself cannot tell the two apart).
- Times are integers in the unit their name says: `mono_ns` nanoseconds of a monotonic
  clock, `lease_ms` milliseconds. `wall` is UTC ISO-8601.
- `worker` is who recorded the event; for `lock.*` it is the lock client's id.

## Ordering rules

1. `seq` increases strictly from line to line. Gaps are allowed unless `run.start` says
   `"dense_seq": true` (the reference engine does); then a gap is judged a lost event.
2. `seq` order is time order: take the number and `mono_ns` together (one critical section).
3. Each `lock.invoke` is followed by exactly one completion (`lock.ok`, `lock.fail`,
   `lock.info`) from the same `worker` with the same `req`, before that worker's next invoke.
   A lock is held from the `lock.ok` of an acquire to the `lock.ok` of its release (or lease end).
4. `order.fill` ids are unique; a `risk.settle` of a fill comes after the fill.
5. `run.start` (if any) comes first; the final `agg.state` and `run.end` come last.

## Envelope (every line)

| field | type | unit | meaning |
| --- | --- | --- | --- |
"""


def render_page() -> str:
    """The whole HISTORY.md text."""
    lines = [INTRO.rstrip("\n")]
    for key, (tp, unit, doc) in ENVELOPE.items():
        lines.append(f"| `{key}` | {type_name(tp)} | {unit or '-'} | {doc} |")
    lines += ["", "## Event kinds", ""]
    for spec in KINDS.values():
        lines += _kind_section(spec)
    lines += ["## Nested values", ""]
    for cls in _nested():
        lines += [f"### {cls.__name__}", "", (cls.__doc__ or "").strip(), "", *_field_rows(cls), ""]
    lines += ["## Minimal valid history per area", "",
              "Each of these passes `harness check` on its own area.", ""]
    for area, events in EXAMPLES.items():
        body = "\n".join(json.dumps(e, separators=(",", ":")) for e in events)
        lines += [f"### {area}", "", "```json", body, "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_schema() -> str:
    """The schema file's text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def outputs(docs: Path | None = None) -> dict[Path, str]:
    """Each generated file and the text it must hold (in ``docs/`` of the source tree by default)."""
    docs = docs or DOCS
    return {docs / SCHEMA_FILE: render_schema(), docs / PAGE_FILE: render_page()}


def docs_command(argv: Sequence[str], files: Callable[[], dict[Path, str]], module: str) -> int:
    """``python -m MODULE`` for generated docs: --write-docs writes ``files()``, --check-docs exits 1 naming any
    file that drifted from the code."""
    if argv == ["--write-docs"]:
        for path, text in files().items():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        return 0
    if argv == ["--check-docs"]:
        stale = [str(p) for p, text in files().items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{name}: out of date; run python -m {module} --write-docs")
        return 1 if stale else 0
    print(f"usage: python -m {module} --write-docs | --check-docs")
    return 2


def main(argv: Sequence[str]) -> int:
    """--write-docs: write the files; --check-docs: exit 1 naming any file that drifted."""
    return docs_command(argv, outputs, "harness.history.docs")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
