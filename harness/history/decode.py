"""Decoding a JSONL event and checking it against the contract in one step (msgspec).

The payload records of ``harness.history.events`` are translated once into msgspec types:
each record becomes a ``TypedDict`` (so a payload decodes straight into the plain ``dict``
the checkers read), each annotation a type with the same bounds and patterns the JSON
Schema publishes. One ``Decoder`` per kind parses and validates a payload in C; the
envelope is decoded first with the payload left raw.

``bench/bench_decode.py`` times it against a bare ``orjson.loads`` of the same lines and
against the path it replaced (``orjson.loads``, then walking the record with
``harness.history.schema``'s checker): about 2x and 3-6x the bare parse. The typed decode
drops the fields a record does not name, which a payload may carry (older engines wrote
``win_rate`` into ``agg.state``), so the payload kept is a second, untyped decode of the same
bytes: 2.2x the bare parse instead of 1.9x, and every event reads as it was written.
``msgspec.convert`` of the untyped dict instead costs 4.8x; a Struct would have to become a
dict again for the checkers.

A line this fast path refuses is handed to ``schema.problems`` for the reason, in the
contract's own words (``payload field 'qty' must be a decimal (...)``); msgspec's messages
name JSON paths and regexes instead. A test checks the two agree on what they accept.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from decimal import Decimal
from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

import msgspec

from harness.history.events import KINDS, Positive, is_user_kind
from harness.history.log import Event
from harness.history.schema import (
    DECIMAL_PATTERN,
    INT_MAX,
    INT_MIN,
    POSITIVE_PATTERN,
    hints,
    required_fields,
)

_M = msgspec.Meta
_LIMIT = 10**15  # |number| < 1e15: schema.MAX_NUMBER, as an exact integer for integer bounds
INT = Annotated[int, _M(ge=INT_MIN, le=INT_MAX)]
POSITIVE_INT = Annotated[int, _M(gt=0, le=INT_MAX)]
NUMBER = Annotated[int, _M(gt=-_LIMIT, lt=_LIMIT)] | Annotated[float, _M(gt=-_LIMIT, lt=_LIMIT)]
DECIMAL = Annotated[str, _M(pattern=DECIMAL_PATTERN)] | NUMBER
POSITIVE_DECIMAL = (Annotated[str, _M(pattern=POSITIVE_PATTERN)] | Annotated[int, _M(gt=0, lt=_LIMIT)]
                    | Annotated[float, _M(gt=0, lt=_LIMIT)])
_LEAVES: dict[Any, Any] = {int: INT, float: NUMBER, Decimal: DECIMAL, str: str, bool: bool, type(None): type(None)}


def wire_type(tp: Any) -> Any:
    """The msgspec type that accepts exactly what ``schema.checker(tp)`` accepts."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return Any
    if origin is Annotated and Positive in args[1:]:
        return {Decimal: POSITIVE_DECIMAL, int: POSITIVE_INT}[args[0]]
    if tp in _LEAVES:
        return _LEAVES[tp]
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(lambda a, b: a | b, (wire_type(a) for a in args))
    if origin is Literal:
        return tp
    if origin is list:
        return list[wire_type(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[str, wire_type(args[1])]  # type: ignore[misc]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return payload_type(tp)
    raise TypeError(f"no wire type for {tp!r}")


@functools.cache
def payload_type(cls: type) -> Any:
    """A payload record as a TypedDict: its required fields required, the others optional."""
    annotations, required = hints(cls), set(required_fields(cls))
    fields = {fl.name: (Required if fl.name in required else NotRequired)[wire_type(annotations[fl.name])]
              for fl in dataclasses.fields(cls)}
    return TypedDict(cls.__name__, fields)  # type: ignore[operator]


class Envelope(msgspec.Struct):
    """Every line's fields, the payload kept raw until its kind says how to read it."""

    seq: INT
    mono_ns: INT
    wall: str
    run_id: str
    worker: str
    kind: str
    payload: msgspec.Raw
    symbol: str | None = None


_ENVELOPE = msgspec.json.Decoder(Envelope)
_ANY_OBJECT = msgspec.json.Decoder(dict[str, Any])
_PAYLOADS = {name: msgspec.json.Decoder(payload_type(spec.payload)) for name, spec in KINDS.items()}
_NEEDS_SYMBOL = frozenset(name for name, spec in KINDS.items() if spec.needs_symbol)


_intern = sys.intern  # run id, worker, symbol and kind repeat on every line: one copy each


def decode(line: bytes) -> Event | None:
    """The event on one JSONL line, or None when the line breaks the contract (``problems`` says how)."""
    try:
        if not line.isascii():
            line.decode("utf-8")  # msgspec skips the fields it does not read without checking their bytes
        env = _ENVELOPE.decode(line)
        typed = _PAYLOADS.get(env.kind)
        if (typed is None and not is_user_kind(env.kind)) or (not env.symbol and env.kind in _NEEDS_SYMBOL):
            return None
        if typed is not None:
            typed.decode(env.payload)  # validation only: it would drop the fields its record does not name
        payload = _ANY_OBJECT.decode(env.payload)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None
    symbol = env.symbol
    return Event(env.seq, env.mono_ns, env.wall, _intern(env.run_id), _intern(env.worker),
                 symbol if symbol is None else _intern(symbol), _intern(env.kind), payload)
