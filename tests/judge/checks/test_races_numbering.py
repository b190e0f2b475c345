"""Races judged fairly on histories from elsewhere: seq gaps only under dense numbering, a lost update once."""

from __future__ import annotations

import dataclasses

from harness.history.log import Event
from tests import _history_builders as hb


def _ev(seq: int, kind: str, symbol: str | None = "ABC", **payload) -> Event:
    return Event(seq, seq, "2026-01-01T00:00:00+00:00", "r", "w1", symbol, kind, payload)


def _fill(seq: int, fill: str, side: str = "BUY", qty: str = "1") -> Event:
    return _ev(seq, "order.fill", order=f"o-{fill}", fill=fill, side=side, qty=qty, price="100", fee="0")


def _settle(seq: int, fill: str, position: str) -> Event:
    return _ev(seq, "risk.settle", order=f"o-{fill}", fill=fill, position=position)


def test_sparse_numbering_without_a_dense_declaration_is_not_a_gap(clean):
    sparse = [dataclasses.replace(e, seq=e.seq * 10) for e in clean if e.kind != "run.start"]
    result = hb.gate(sparse, "races")
    assert result.status == "PASS", hb.failing(result)
    assert hb.evidence(sparse, "races").figures.sequence_gaps == 0


def test_the_reference_engine_declares_dense_numbering_so_a_gap_fails(clean, sym):
    assert hb.first(clean, "run.start").payload["dense_seq"] is True
    sparse = [dataclasses.replace(e, seq=e.seq * 10) for e in clean]
    assert hb.evidence(sparse, "races").figures.sequence_gaps == len(clean) - 1


def test_interleaved_fills_and_settles_are_no_lost_update():
    events = [_fill(1, "f1"), _fill(2, "f2"), _settle(3, "f1", "1"), _settle(4, "f2", "2")]
    assert hb.gate(events, "races").status == "PASS"


def test_a_lost_write_between_interleaved_settles_counts_once():
    # Both settles read position 0 and wrote 1: the second write lost the first.
    events = [_fill(1, "f1"), _fill(2, "f2"), _settle(3, "f1", "1"), _settle(4, "f2", "1"),
              _fill(5, "f3", "SELL"), _settle(6, "f3", "0"), _fill(7, "f4"), _settle(8, "f4", "1")]
    result = hb.gate(events, "races")
    hb.assert_fails_on(result, r"lost updates 1,")
    assert result.counterexamples["lost_updates"] == (
        {"seq": 4, "symbol": "ABC", "recorded": "1", "from_fills": "2"},)


def test_a_second_lost_write_counts_again():
    events = [_fill(1, "f1"), _settle(2, "f1", "1"), _fill(3, "f2"), _settle(4, "f2", "1"),
              _fill(5, "f3"), _settle(6, "f3", "1")]
    assert hb.evidence(events, "races").figures.lost_updates == 2


def test_settles_without_fill_ids_follow_fill_order():
    events = [_fill(1, "f1", qty="2"), _fill(2, "f2"), _ev(3, "risk.settle", order="o-f1", position="2"),
              _ev(4, "risk.settle", order="o-f2", position="3")]
    assert hb.gate(events, "races").status == "PASS"
