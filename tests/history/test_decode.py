"""The one-step decoder (msgspec) accepts exactly what the contract's checker accepts, and reads the same events."""

from __future__ import annotations

import json
import os

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history.decode import decode, wire_type
from harness.history.events import KINDS
from harness.history.log import Event
from harness.history.schema import problems
from tests import _history_builders as hb

EXAMPLES = 3000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 300
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                   st.sampled_from(["", "x", "0", "-1", "1.5", "+2", "-0", "0E-8", "1e9", "1e-99", "9" * 16, ".5",
                                    "BUY", "acquire", "P0", "symbol", "1\n", "\u00e9"]),
                   st.lists(st.sampled_from(["a", 1, None]), max_size=2),
                   st.dictionaries(st.sampled_from(["a", "b", "seq"]), st.one_of(st.integers(), st.text(max_size=2)),
                                   max_size=2))


def _old(raw: dict | bytes) -> Event | None:
    """The reference reading: orjson (of a line), the record-walking checker, then the parsed object as the event."""
    if isinstance(raw, bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:  # e.g. Infinity, which json.dumps writes
            return None
    if not isinstance(raw, dict) or problems(raw) is not None:
        return None
    return Event(raw["seq"], raw["mono_ns"], raw["wall"], raw["run_id"], raw["worker"], raw.get("symbol"),
                 raw["kind"], raw["payload"])


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    """Every line of a short real engine history (each area has events)."""
    return [e.to_json().encode() for e in hb.clean_events(trades=2)]


def test_a_real_history_reads_the_same_both_ways(lines):
    assert [decode(line) for line in lines] == [_old(line) for line in lines]


def test_every_kind_has_a_wire_type():
    for spec in KINDS.values():
        assert wire_type(spec.payload).__name__ == spec.payload.__name__


@settings(max_examples=EXAMPLES, deadline=None)
@given(index=st.integers(0, 10_000), key=st.text(min_size=0, max_size=1), value=VALUES, where=st.booleans(),
       drop=st.booleans())
def test_the_decoder_and_the_checker_agree(index, key, value, where, drop):
    """One field of one real event replaced (or dropped): both accept it, reading the same event, or both refuse."""
    events = hb.clean_events(trades=2)
    raw = json.loads(events[index % len(events)].to_json())
    target = raw["payload"] if where and raw["payload"] else raw
    field = sorted(target)[ord(key) % len(target)] if key else sorted(target)[0]
    if drop:
        target.pop(field)
    else:
        target[field] = value
    line = json.dumps(raw).encode()
    assert decode(line) == _old(line), (field, value)


@pytest.mark.parametrize("kind", ["x.quote", "order.teleport", "", 7])
def test_user_kinds_take_any_object_and_unknown_kinds_are_refused(lines, kind):
    raw = dict(json.loads(lines[3]), kind=kind, payload={"bid": [1, "2"]})
    line = json.dumps(raw).encode()
    assert decode(line) == _old(raw)
    assert (decode(line) is not None) == (kind == "x.quote")


def test_fields_beyond_the_record_are_kept(lines):
    raw = json.loads(next(line for line in lines if b'"agg.state"' in line))  # older engines added more
    raw["payload"]["legacy_totals"] = {"trades": 1}
    next(iter(raw["payload"]["symbols"].values()))["win_rate"] = "0.5"
    event = decode(json.dumps(raw).encode())
    assert event is not None and event.payload == raw["payload"]


@pytest.mark.parametrize("damage", [b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])
def test_bad_utf8_is_refused_even_where_the_decoder_does_not_look(lines, damage):
    raw = lines[3].replace(b'"symbol"', b'"sym' + damage + b'bol"', 1)
    assert decode(lines[3]) is not None and decode(raw) is None
