"""The event history: ordering under concurrency, exact JSONL round trips, precise read errors."""

from __future__ import annotations

import enum
import multiprocessing
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history.log import (
    Event,
    History,
    HistoryError,
    LocalSequence,
    SharedSequence,
    normalise,
    read_jsonl,
    write_jsonl,
)


class Colour(enum.Enum):
    RED = "red"


def _three_events(tmp_path: Path) -> Path:
    history = History("run-1")
    for i in range(3):
        history.append("tick", worker="w", symbol="A", i=i, price=Decimal("1.10"))
    path = tmp_path / "events.jsonl"
    write_jsonl(history.events(), path)
    return path


def test_concurrent_appends_get_unique_gapless_seqs_in_time_order():
    threads, per_thread = 8, 300
    history = History("run-1")
    start = threading.Barrier(threads, timeout=10)

    def writer(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            history.append("op", worker=f"w{n}", i=i)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    events = history.events()
    assert [e.seq for e in events] == list(range(1, threads * per_thread + 1))
    monos = [e.mono_ns for e in events]
    assert monos == sorted(monos)
    for n in range(threads):
        mine = [e.payload["i"] for e in events if e.worker == f"w{n}"]
        assert mine == list(range(per_thread)), "one thread's appends keep their program order"


def test_extend_with_out_of_order_events_is_read_back_in_seq_order():
    source = History("run-1")
    made = [source.append("x", worker="w", n=n) for n in range(5)]
    merged = History("run-1")
    merged.extend(reversed(made))
    assert [e.seq for e in merged.events()] == [1, 2, 3, 4, 5]
    assert list(merged) == made


def test_sink_sees_every_appended_event():
    seen: list[Event] = []
    history = History("run-1", sink=seen.append)
    made = [history.append("x", worker="w") for _ in range(3)]
    assert seen == made


def test_payload_is_normalised_to_json_values_at_append():
    history = History("run-1")
    event = history.append(
        "x", worker="w", price=Decimal("100.10"), colour=Colour.RED, pair=(1, Decimal("2.50")),
        tags={"b", "a"}, nested={"k": Decimal("-0.000001")},
    )
    assert event.payload == {
        "price": "100.10", "colour": "red", "pair": [1, "2.50"], "tags": ["a", "b"], "nested": {"k": "-0.000001"},
    }


def test_unsupported_payload_type_raises_type_error_and_records_nothing():
    history = History("run-1")
    with pytest.raises(TypeError, match="object"):
        history.append("x", worker="w", thing=object())
    assert len(history) == 0
    assert history.append("x", worker="w").seq == 1, "the refused event consumed no sequence number"


decimals = st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=-10**9, max_value=10**9)
# The history contract holds integers to 64 bits (docs/HISTORY.md); wider ones are refused on read.
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20), decimals)
payloads = st.dictionaries(
    st.text(min_size=1, max_size=8).map(lambda k: "p_" + k), st.recursive(json_scalars, lambda c: st.lists(c, max_size=3), max_leaves=6),
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(payloads=st.lists(payloads, min_size=1, max_size=8), symbol=st.one_of(st.none(), st.text(max_size=6)))
def test_jsonl_write_then_read_gives_equal_events(tmp_path_factory, payloads, symbol):
    history = History("run-ü")
    for payload in payloads:
        history.append("kind.x", worker="w1", symbol=symbol, **payload)
    path = tmp_path_factory.mktemp("h") / "events.jsonl"
    assert write_jsonl(history.events(), path) == len(payloads)
    assert read_jsonl(path) == history.events()


def test_decimal_payloads_survive_the_round_trip_as_exact_strings(tmp_path):
    history = History("run-1")
    history.append("fill", worker="w", price=Decimal("43250.10"), fee=Decimal("0.00"))
    path = tmp_path / "e.jsonl"
    write_jsonl(history.events(), path)
    (event,) = read_jsonl(path)
    assert event.payload == {"price": "43250.10", "fee": "0.00"}
    assert Decimal(event.payload["price"]) == Decimal("43250.10")


def test_blank_lines_are_skipped(tmp_path):
    path = _three_events(tmp_path)
    path.write_text(path.read_text().replace("\n", "\n\n", 1))
    assert [e.payload["i"] for e in read_jsonl(path)] == [0, 1, 2]


def test_corrupt_line_error_names_file_and_line(tmp_path):
    path = _three_events(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "{not json\n"
    path.write_text("".join(lines))
    with pytest.raises(HistoryError) as err:
        read_jsonl(path)
    assert str(err.value).startswith(f"{path}:2: not a valid event")
    assert "truncated" not in str(err.value)


def test_truncated_last_line_error_names_file_line_and_truncation(tmp_path):
    path = _three_events(tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) - 15])
    with pytest.raises(HistoryError) as err:
        read_jsonl(path)
    assert str(err.value).startswith(f"{path}:3: not a valid event (truncated last line?)")


def test_event_missing_a_field_is_reported_by_name(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"seq":1,"mono_ns":2,"wall":"w","run_id":"r","worker":"w","kind":"k"}\n')
    with pytest.raises(HistoryError, match=r":1: .*missing field 'payload'"):
        read_jsonl(path)


@pytest.mark.parametrize(
    "line",
    [
        '[1, 2]',
        '{"seq":"1","mono_ns":2,"wall":"w","run_id":"r","worker":"w","symbol":null,"kind":"k","payload":{}}',
        '{"seq":true,"mono_ns":2,"wall":"w","run_id":"r","worker":"w","symbol":null,"kind":"k","payload":{}}',
        '{"seq":1,"mono_ns":2,"wall":"w","run_id":"r","worker":"w","symbol":null,"kind":"k","payload":[]}',
    ],
    ids=["not-an-object", "string-seq", "bool-seq", "list-payload"],
)
def test_wrongly_typed_event_is_a_history_error(tmp_path, line):
    path = tmp_path / "e.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(HistoryError, match=rf"^{path}:1: "):
        read_jsonl(path)


def test_non_utf8_file_error_names_the_file(tmp_path):
    path = _three_events(tmp_path)
    path.write_bytes(path.read_bytes() + b'{"seq": "\xff\xfe"}\n')
    with pytest.raises(HistoryError) as err:
        read_jsonl(path)
    assert str(err.value).startswith(f"{path}: not UTF-8")


def test_missing_file_error_names_the_file(tmp_path):
    path = tmp_path / "absent.jsonl"
    with pytest.raises(HistoryError, match=f"^{path}: cannot open"):
        read_jsonl(path)


def test_local_sequence_can_start_after_a_given_number():
    assert LocalSequence(start=41).stamp(lambda: 7) == (42, 7)


def test_normalise_rejects_bytes():
    with pytest.raises(TypeError, match="bytes"):
        normalise({"k": b"raw"})


def _stamp_in_child(sequence: SharedSequence, count: int, out) -> None:
    import time

    out.put([sequence.stamp(time.monotonic_ns)[0] for _ in range(count)])


def test_shared_sequence_numbers_are_unique_across_a_spawned_process():
    ctx = multiprocessing.get_context("spawn")
    sequence = SharedSequence.create(ctx)
    out = ctx.Queue()
    child = ctx.Process(target=_stamp_in_child, args=(sequence, 200, out))
    child.start()
    import time

    mine = [sequence.stamp(time.monotonic_ns)[0] for _ in range(200)]
    theirs = out.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert sorted(mine + theirs) == list(range(1, 401))
    assert mine == sorted(mine) and theirs == sorted(theirs)


@pytest.mark.parametrize(("given", "recorded"), [
    ("plain ascii", "plain ascii"),
    ("naïve €", "naïve €"),
    ("nul\x00here", "nul\\x00here"),
    ("lone \udc80 surrogate", "lone \\udc80 surrogate"),
    ("both \x00 and \ud800 é", "both \\x00 and \\ud800 é"),
])
def test_text_no_layer_can_hold_is_recorded_as_visible_escapes(tmp_path: Path, given: str, recorded: str) -> None:
    history = History("run")
    event = history.append("x.text", worker="w", value=given, nested={given: [given]}, items=(given,))
    assert event.payload == {"value": recorded, "nested": {recorded: [recorded]}, "items": [recorded]}
    write_jsonl([event], tmp_path / "events.jsonl")  # encodes as UTF-8 and reads back with orjson
    assert read_jsonl(tmp_path / "events.jsonl") == [event]
