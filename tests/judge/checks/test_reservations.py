"""Reservation invariants: a fill covered by its reservation, each reservation released once after it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from harness.run.config import load_config
from harness.run.plugins import Plugins
from harness.run.scenario import execute, load
from harness.system.guardian.risk import Guardian
from tests import _history_builders as hb

AREA = "Risk Management"


class LimitPriceGuardian(Guardian):
    """Books an order's exposure at its limit price instead of the worst price a fill may have (the defect)."""

    def reserve(self, order, worst_price, worker="-"):
        return super().reserve(order, order.price, worker)


class DoubleReleaseGuardian(Guardian):
    """Releases a reservation when its fill settles, and again as if the order had been dropped (the defect)."""

    def settle(self, res, fill, closed, worker="-", token=None):
        super().settle(res, fill, closed, worker, token)
        self.cancel(res, worker)


def _reserve_of(events, fill):
    return hb.first(events, "risk.reserve", fill.symbol, order=fill.payload["order"])


def test_reference_run_books_and_releases_every_reservation(clean):
    figures = hb.evidence(clean, "risk").figures
    assert figures.reservations == len(hb.where(clean, "risk.reserve")) > 0
    result = hb.gate(clean, "risk")
    assert result.status == "PASS", hb.failing(result)
    assert any(line.text.startswith("Reservations: ") for line in result.lines)


def test_fill_above_the_reserved_worst_price_fails(clean, sym):
    fill = hb.first(clean, "order.fill", sym, side="BUY")
    reserve = _reserve_of(clean, fill)
    events = hb.alter(clean, reserve, worst_price=str(Decimal(fill.payload["price"]) - 1))
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"^Reservations: \d+ booked; 1 fills beyond their reservation")
    (bad,) = result.counterexamples["uncovered_fills"]
    assert bad["seq"] == fill.seq and "above the reserved worst price" in bad["why"]


@pytest.mark.parametrize(("change", "why"), [({"side": "SELL"}, "side differs"), ({"qty": "0.000001"}, "reserved")])
def test_fill_on_another_side_or_beyond_the_quantity_fails(clean, sym, change, why):
    fill = hb.first(clean, "order.fill", sym, side="BUY")
    result = hb.gate(hb.alter(clean, _reserve_of(clean, fill), **change), "risk")
    hb.assert_fails_on(result, r"1 fills beyond their reservation")
    assert why in result.counterexamples["uncovered_fills"][0]["why"]


def test_fill_without_a_reservation_fails(clean, sym):
    fill = hb.first(clean, "order.fill", sym)
    result = hb.gate(hb.drop(clean, _reserve_of(clean, fill)), "risk")
    assert "no reservation" in result.counterexamples["uncovered_fills"][0]["why"]


def test_reservation_released_twice_fails(clean, sym):
    settle = hb.first(clean, "risk.settle", sym)
    events = hb.append(clean, "risk.cancel", worker=settle.worker, symbol=sym, order=settle.payload["order"])
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"1 released twice")
    assert result.counterexamples["released_twice"][0]["order"] == settle.payload["order"]


def test_reservation_released_before_its_fill_fails(clean, sym):
    fill = hb.first(clean, "order.fill", sym)
    settle = hb.first(clean, "risk.settle", sym, order=fill.payload["order"])
    moved = [e for e in clean if e != settle]
    moved.insert(moved.index(fill), settle)
    result = hb.gate(hb.renumber(moved), "risk")
    hb.assert_fails_on(result, r"1 released before their fill")


def test_reservation_never_released_fails_only_in_a_finished_run(clean, sym):
    settle = hb.last(clean, "risk.settle", sym)
    unreleased = hb.drop(clean, settle)
    hb.assert_fails_on(hb.gate(unreleased, "risk"), r"1 never released$")
    cut_short = hb.drop(unreleased, hb.last(unreleased, "run.end"))
    assert hb.evidence(cut_short, "risk").figures.never_released == 0


def test_history_without_reservations_is_not_judged(clean):
    events = hb.renumber(e for e in clean if e.kind != "risk.reserve")
    result = hb.gate(events, "risk")
    assert result.status == "PASS", hb.failing(result)
    assert "Reservations: n/a (no risk.reserve events)" in [line.text for line in result.lines]


def _risk_gate(tmp_path: Path, seed: int, plugins: Plugins):
    scenario = load("multi_symbol_stress")
    config = scenario.configure(load_config(None), {"run": {"seed": seed, "trades": 15, "mode": "thread"}})
    verdict = execute(scenario, config, tmp_path / "run", plugins=plugins)
    return next(g for g in verdict.gates if g.area == AREA)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_guardian_reserving_at_the_limit_price_fails(tmp_path: Path, seed: int):
    gate = _risk_gate(tmp_path, seed, Plugins.of(guardian=LimitPriceGuardian))
    hb.assert_fails_on(gate, r"[1-9]\d* fills beyond their reservation")
    assert all("above the reserved worst price" in bad["why"] for bad in gate.counterexamples["uncovered_fills"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_guardian_releasing_twice_fails(tmp_path: Path, seed: int):
    gate = _risk_gate(tmp_path, seed, Plugins.of(guardian=DoubleReleaseGuardian))
    hb.assert_fails_on(gate, r"[1-9]\d* released twice")


def test_reference_guardian_passes_beside_them(tmp_path: Path):
    gate = _risk_gate(tmp_path, 1, Plugins.of())
    assert gate.status == "PASS", hb.failing(gate)
