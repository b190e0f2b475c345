"""Frozen records as JSON and back: the one field walk evidence.json is written and read with.

A record (a frozen dataclass, such as an area's figures) becomes an object of its fields in
declaration order; a Decimal its exact string, never a float; a tuple a list; a Mapping an
object. ``from_json`` reads such data back into the record its type hints name, so a saved
run's figures are read by attribute exactly as a live run's are. The JSON Schema of the same
records is ``harness.report.schema``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from harness.history.log import normalise


def to_json(value: Any) -> Any:
    """``value`` as JSON data: a record as an object of its fields, a Decimal as its exact digits."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {fld.name: to_json(getattr(value, fld.name)) for fld in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return normalise(value)


def from_json(tp: Any, raw: Any) -> Any:
    """The value of type ``tp`` that ``to_json`` wrote as ``raw`` (TypeError when it does not fit)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _record(tp, raw)
    if origin in (types.UnionType, typing.Union):
        if raw is None and type(None) in args:
            return None
        (kind,) = (a for a in args if a is not type(None))  # a record field is X or X | None
        return from_json(kind, raw)
    if origin is tuple:
        return tuple(from_json(args[0], item) for item in _expect(raw, list))
    if origin in (Mapping, dict):
        return {key: from_json(args[1], item) for key, item in _expect(raw, dict).items()}
    if tp is Decimal:
        try:
            return Decimal(_expect(raw, str))
        except ArithmeticError:  # decimal.InvalidOperation: not a number's digits
            raise TypeError(f"expected a decimal, got {raw!r}") from None
    if tp is float:
        return float(_expect(raw, (int, float)))
    if origin is Literal:
        if raw not in args:
            raise TypeError(f"expected one of {args}, got {raw!r}")
        return raw
    if tp is Any:
        return raw
    return _expect(raw, tp)


def _record(cls: type, raw: Any) -> Any:
    """A record from its JSON object; a field left out takes its default (a required one: TypeError)."""
    hints = typing.get_type_hints(cls)
    given = _expect(raw, dict)
    return cls(**{fld.name: from_json(hints[fld.name], given[fld.name])
                  for fld in dataclasses.fields(cls) if fld.name in given})


def _expect(raw: Any, kind: type | tuple[type, ...]) -> Any:
    """``raw`` itself when it is a ``kind`` (bool is no number here), else TypeError."""
    if not isinstance(raw, kind) or (isinstance(raw, bool) and kind is not bool):
        raise TypeError(f"expected {kind}, got {raw!r}")
    return raw
