"""The history contract as JSON Schema, and a fast validator, both derived from ``harness.history.events``.

The published ``docs/history.schema.json`` is ``json_schema()``; ``problems(raw)`` checks one
parsed event against the same definitions (``harness check`` runs it on every line, so it
is compiled once per type instead of interpreting the schema per event).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from harness.history.events import FORMAT, KINDS, USER_PREFIX, Positive, is_user_kind

# At most 15 integer digits and a small positive exponent: every figure a checker derives
# (notional, PnL, a quantized amount) then fits Decimal's 28 digits exactly.
_DIGITS = r"([0-9]{1,15}(\.[0-9]{0,28})?|\.[0-9]{1,28})([eE](-[0-9]{1,2}|\+?[0-9]))?$"
DECIMAL_PATTERN = r"^[+-]?" + _DIGITS
POSITIVE_PATTERN = r"^(?=[^eE]*[1-9])\+?" + _DIGITS
_DECIMAL = re.compile(DECIMAL_PATTERN)
MAX_NUMBER = 1e15
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what every JSON parser (orjson too) reads exactly
SCHEMA_ID = "https://github.com/harness/harness/docs/history.schema.json"

ENVELOPE: dict[str, tuple[Any, str, str]] = {
    "seq": (int, "", "strictly increasing in file order; dense (no gaps) only if run.start says dense_seq"),
    "mono_ns": (int, "ns", "monotonic clock of the recorder; seq order is time order"),
    "wall": (str, "", "wall clock, UTC ISO-8601"),
    "run_id": (str, "", "id of the run"),
    "worker": (str, "", "who recorded it: the lock client id for lock.*, 'broker', 'engine', ..."),
    "symbol": (str | None, "", "the symbol, or null"),
    "kind": (str, "", "event kind (see the list), or x.<anything> for your own"),
    "payload": (dict[str, Any], "", "the kind's fields"),
}
OPTIONAL_ENVELOPE = {"symbol"}

Check = Callable[[Any], str | None]


# -- JSON Schema -------------------------------------------------------------------------------


def hints(cls: type) -> dict[str, Any]:
    """A record's field annotations, constraints (``Annotated``) kept."""
    return typing.get_type_hints(cls, include_extras=True)


def type_schema(tp: Any, defs: dict[str, Any], leaves: Mapping[Any, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON Schema of one Python annotation (nested records go to ``defs``).

    ``leaves`` replaces the schema of a type wherever it occurs: a document the harness writes
    says Decimal as its exact string, however many digits a ratio has -- stricter than what
    the history accepts from other writers.
    """
    if leaves and tp in leaves:
        return dict(leaves[tp])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return {}
    if origin is Annotated and Positive in args[1:]:
        schema = {**type_schema(args[0], defs, leaves), "exclusiveMinimum": 0}
        return {**schema, "pattern": POSITIVE_PATTERN} if args[0] is Decimal else schema
    if tp is Decimal:
        return {"type": ["string", "number"], "pattern": DECIMAL_PATTERN, "exclusiveMaximum": MAX_NUMBER,
                "exclusiveMinimum": -MAX_NUMBER, "description": "decimal, exact digits as a string"}
    if tp is int:
        return {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX}
    if tp is float:
        return {"type": "number", "exclusiveMaximum": MAX_NUMBER, "exclusiveMinimum": -MAX_NUMBER}
    simple = {str: "string", bool: "boolean", type(None): "null"}
    if tp in simple:
        return {"type": simple[tp]}
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [type_schema(a, defs, leaves) for a in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is list or (origin is tuple and args[1:] == (...,)):  # tuple[X, ...]: a frozen record's list
        return {"type": "array", "items": type_schema(args[0], defs, leaves)}
    if origin in (dict, Mapping):
        return {"type": "object", "additionalProperties": type_schema(args[1], defs, leaves)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder first: a record may refer to itself
            defs[tp.__name__] = record_schema(tp, defs, leaves)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def record_schema(cls: type, defs: dict[str, Any], leaves: Mapping[Any, dict[str, Any]] | None = None,
                  ) -> dict[str, Any]:
    """An object schema for a payload record: its fields, which are required, their docs."""
    annotations = hints(cls)
    props = {}
    for fld in dataclasses.fields(cls):
        unit = fld.metadata.get("unit")
        doc = fld.metadata.get("doc", "") + (f" [{unit}]" if unit else "")
        props[fld.name] = {**type_schema(annotations[fld.name], defs, leaves), "description": doc}
    schema = {"type": "object", "description": (cls.__doc__ or "").strip(), "properties": props,
              "required": required_fields(cls)}
    return schema


def required_fields(cls: type) -> list[str]:
    """Fields of a record without a default."""
    return [fl.name for fl in dataclasses.fields(cls)
            if fl.default is dataclasses.MISSING and fl.default_factory is dataclasses.MISSING]


def json_schema() -> dict[str, Any]:
    """The whole history contract: one event a line, its envelope and each kind's payload."""
    defs: dict[str, Any] = {}
    rules = []
    for name, spec in KINDS.items():
        defs[name] = record_schema(spec.payload, defs)
        then: dict[str, Any] = {"properties": {"payload": {"$ref": f"#/$defs/{name}"}}}
        if spec.needs_symbol:
            then["properties"]["symbol"] = {"type": "string", "minLength": 1}
            then["required"] = ["symbol"]
        rules.append({"if": {"properties": {"kind": {"const": name}}}, "then": then})
    envelope = {key: {**type_schema(tp, defs), "description": doc + (f" [{unit}]" if unit else "")}
                for key, (tp, unit, doc) in ENVELOPE.items()}
    envelope["kind"]["anyOf"] = [{"enum": list(KINDS)}, {"pattern": f"^{re.escape(USER_PREFIX)}"}]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "harness event history: one JSON object per line of events.jsonl",
        "version": FORMAT,
        "type": "object",
        "required": [k for k in ENVELOPE if k not in OPTIONAL_ENVELOPE],
        "properties": envelope,
        "allOf": rules,
        "$defs": dict(sorted(defs.items())),
    }


# -- validation --------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _decimal(value: Any) -> bool:
    if isinstance(value, str):
        return _DECIMAL.match(value) is not None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(value) < MAX_NUMBER  # false for NaN and infinities too
    return False


def _positive(value: Any) -> bool:
    return Decimal(str(value)) > 0


_SIMPLE: dict[Any, tuple[Callable[[Any], bool], str]] = {
    str: (lambda v: isinstance(v, str), "a string"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool) and INT_MIN <= v <= INT_MAX, "a 64-bit integer"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < MAX_NUMBER, "a number"),
    type(None): (lambda v: v is None, "null"),
    Decimal: (_decimal, "a decimal (string of digits, e.g. \"12.50\"; at most 15 before the point)"),
}


@functools.cache
def checker(tp: Any) -> Check:
    """A function returning None when a value fits ``tp``, else what was expected."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return lambda v: None
    if origin is Annotated and Positive in args[1:]:
        base = checker(args[0])
        return lambda v: base(v) or (None if _positive(v) else f"must be greater than 0, got {_describe(v)}")
    if tp in _SIMPLE:
        test, want = _SIMPLE[tp]
        return lambda v: None if test(v) else f"must be {want}, got {_describe(v)}"
    if origin in (types.UnionType, typing.Union):
        parts = [checker(a) for a in args if a is not type(None)]
        nullable = type(None) in args

        def union(v: Any) -> str | None:
            if v is None and nullable:
                return None
            msgs = [part(v) for part in parts]
            return None if None in msgs else msgs[0]

        return union
    if origin is Literal:
        choices = ", ".join(map(str, args))
        return lambda v: None if type(v) is str and v in args else f"must be one of {choices}, got {_describe(v)}"
    if origin is list:
        item = checker(args[0])
        return lambda v: f"must be a list, got {_describe(v)}" if not isinstance(v, list) else next(
            (f"[{i}] {msg}" for i, x in enumerate(v) if (msg := item(x)) is not None), None)
    if origin is dict:
        value = checker(args[1])
        return lambda v: f"must be an object, got {_describe(v)}" if not isinstance(v, dict) else next(
            (f"[{k!r}] {msg}" for k, x in v.items() if (msg := value(x)) is not None), None)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _record_checker(tp)
    raise TypeError(f"no checker for {tp!r}")


def _record_checker(cls: type) -> Check:
    annotations = hints(cls)
    required = required_fields(cls)
    fields = [(fl.name, checker(annotations[fl.name]), fl.name in required) for fl in dataclasses.fields(cls)]

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be an object, got {_describe(value)}"
        for name, test, required in fields:
            if name not in value:
                if required:
                    return f"missing field {name!r}"
                continue
            msg = test(value[name])
            if msg is not None:
                return f"field {name!r} {msg}"
        return None

    return check


def problems(raw: Mapping[str, Any]) -> str | None:
    """What is wrong with one parsed event (a JSON object), or None when it meets the contract."""
    for key, (tp, _, _) in ENVELOPE.items():
        if key not in raw:
            if key in OPTIONAL_ENVELOPE:
                continue
            return f"missing field {key!r}"
        msg = checker(tp)(raw[key])
        if msg is not None:
            return f"{key} {msg}"
    name = raw["kind"]
    if is_user_kind(name):
        return None
    spec = KINDS.get(name)
    if spec is None:
        return f"unknown event kind {name!r} (your own kinds start with {USER_PREFIX!r})"
    if spec.needs_symbol and not raw.get("symbol"):
        return f"{name}: symbol must be given"
    msg = checker(spec.payload)(raw["payload"])
    return None if msg is None else f"{name}: payload {msg}"
