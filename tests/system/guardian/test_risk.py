"""Risk guardian: exposure never exceeds its limits at any fill, breakers trip exactly when due, health, races."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from harness.history.log import History
from harness.system.guardian.risk import (
    BreakerLimits,
    Discipline,
    Guardian,
    Health,
    Refusal,
    Reservation,
    RiskLimits,
    breaker_trip,
)
from harness.system.locks.fence import StaleToken
from harness.system.model import Fill, Order, Side
from tests._builders import of_kind, spec, trade

A, B = spec("AAA"), spec("BBB")
SPECS = (A, B)
OFF = BreakerLimits(max_drawdown=None, loss_limit=None, max_consecutive_losses=None)
LIMITS = RiskLimits(
    equity=Decimal(100000), max_gross_exposure=Decimal("0.5"), max_symbol_exposure=Decimal("0.3"),
    symbol_breaker=OFF, global_breaker=OFF,
)
SLIP = 3  # worst price = order price + 3 ticks, as the simulated venue


def _order(n: int, symbol: str, side: Side, lots: int, price: Decimal) -> Order:
    return Order(f"O{n}", symbol, side, Decimal(lots), price)


def _fill(order: Order, price: Decimal, fee: str = "0") -> Fill:
    return Fill(f"F-{order.order_id}", order.order_id, order.symbol, order.side, order.qty, price, Decimal(fee))


def _worst(order: Order) -> Decimal:
    return order.price + SLIP * A.tick




def _replay_exposure(batches, data) -> None:
    """Reserve each batch, then settle (fill within the worst price) or cancel in any order;
    after every settle the exposure replayed from the fills alone must be within the limits."""
    history = History("run-risk")
    guardian = Guardian(SPECS, LIMITS, history=history)
    pos = {"AAA": Decimal(0), "BBB": Decimal(0)}
    mark = {"AAA": Decimal(0), "BBB": Decimal(0)}
    n = 0
    for batch in batches:
        admitted = []
        for symbol, side, lots, ticks, slip, fills in batch:
            n += 1
            order = _order(n, symbol, side, lots, ticks * A.tick)
            res = guardian.reserve(order, _worst(order))
            if isinstance(res, Reservation):
                admitted.append((order, res, slip, fills))
            else:
                assert res.reason in ("symbol_exposure", "gross_exposure")
        for order, res, slip, fills in data.draw(st.permutations(admitted)):
            if not fills:
                guardian.cancel(res)
                continue
            price = order.price + slip * A.tick
            guardian.settle(res, _fill(order, price), ())
            pos[order.symbol] += order.signed_qty
            mark[order.symbol] = price
            exposure = {s: abs(pos[s]) * mark[s] for s in pos}
            for s, value in exposure.items():
                assert value <= LIMITS.max_symbol_exposure * LIMITS.equity, (s, value)
            assert sum(exposure.values()) <= LIMITS.max_gross_exposure * LIMITS.equity
        snap = guardian.snapshot()
        for s in pos:
            assert snap.symbols[s].position == pos[s]
            assert snap.symbols[s].exposure == abs(pos[s]) * mark[s], "nothing pending: exposure is |pos| x mark"
        assert snap.gross_exposure == sum(abs(pos[s]) * mark[s] for s in pos)
    assert len(of_kind(history, "risk.settle")) + len(of_kind(history, "risk.cancel")) == len(
        of_kind(history, "risk.reserve")
    )


# AAA only buys and BBB only sells: every order grows its position, none is risk-reducing.
growing = st.tuples(
    st.sampled_from(("AAA", "BBB")), st.integers(1, 150), st.integers(5000, 20000), st.integers(0, SLIP), st.booleans()
).map(lambda t: (t[0], Side.BUY if t[0] == "AAA" else Side.SELL, *t[1:]))


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(growing, min_size=1, max_size=4), min_size=1, max_size=20), data=st.data())
def test_exposure_replayed_at_every_settle_stays_within_limits_for_position_growing_orders(batches, data):
    _replay_exposure(batches, data)


def test_pending_reservations_count_so_two_unsettled_orders_cannot_exceed_the_limit():
    guardian = Guardian(SPECS, LIMITS)
    first = _order(1, "AAA", Side.BUY, 200, Decimal(100))
    second = _order(2, "AAA", Side.BUY, 200, Decimal(100))
    assert isinstance(guardian.reserve(first, Decimal(100)), Reservation)
    refused = guardian.reserve(second, Decimal(100))
    assert refused == Refusal("O2", "symbol_exposure")
    assert guardian.snapshot().symbols["AAA"].exposure == Decimal(20000), "the pending order is booked at worst price"


def test_pending_reservations_count_towards_the_gross_limit_across_symbols():
    limits = RiskLimits(Decimal(100000), Decimal("0.5"), Decimal("0.3"), OFF, OFF)
    guardian = Guardian(SPECS, limits)
    assert isinstance(guardian.reserve(_order(1, "AAA", Side.BUY, 290, Decimal(100)), Decimal(100)), Reservation)
    assert guardian.reserve(_order(2, "BBB", Side.SELL, 250, Decimal(100)), Decimal(100)) == Refusal("O2", "gross_exposure")
    assert isinstance(guardian.reserve(_order(3, "BBB", Side.SELL, 200, Decimal(100)), Decimal(100)), Reservation)


def test_cancel_releases_the_reserved_exposure():
    guardian = Guardian(SPECS, LIMITS)
    order = _order(1, "AAA", Side.BUY, 250, Decimal(100))
    res = guardian.reserve(order, Decimal(100))
    assert isinstance(res, Reservation)
    guardian.cancel(res)
    assert guardian.snapshot().gross_exposure == 0
    assert isinstance(guardian.reserve(_order(2, "AAA", Side.BUY, 250, Decimal(100)), Decimal(100)), Reservation)


def _race(discipline: Discipline) -> tuple[list, Guardian]:
    limits = RiskLimits(Decimal(10000), Decimal("0.6"), Decimal("0.3"), OFF, OFF)
    barrier = threading.Barrier(2, timeout=10)
    guardian = Guardian(
        SPECS, limits, discipline=discipline,
        between_check_and_act=barrier.wait if discipline is Discipline.CHECK_THEN_ACT else None,
    )
    start = threading.Barrier(2, timeout=10)
    results: list = [None, None]

    def reserve(i: int) -> None:
        order = _order(i, "AAA", Side.BUY, 20, Decimal(100))  # 2000 each; the symbol limit is 3000
        if discipline is Discipline.ATOMIC:
            start.wait()
        results[i] = guardian.reserve(order, Decimal(100), worker=f"w{i}")

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    return results, guardian


def test_race_check_then_act_admits_both_orders_and_exceeds_the_limit():
    results, guardian = _race(Discipline.CHECK_THEN_ACT)
    assert all(isinstance(r, Reservation) for r in results), "both checks saw room before either booked"
    assert guardian.snapshot().symbols["AAA"].exposure == Decimal(4000)
    assert guardian.snapshot().symbols["AAA"].exposure > guardian.limits.max_symbol_exposure * guardian.limits.equity


def test_race_atomic_admits_only_one_of_the_two_orders():
    results, guardian = _race(Discipline.ATOMIC)
    assert sorted(type(r).__name__ for r in results) == ["Refusal", "Reservation"]
    assert [r.reason for r in results if isinstance(r, Refusal)] == ["symbol_exposure"]
    assert guardian.snapshot().symbols["AAA"].exposure == Decimal(2000)


def _open_and_close(guardian: Guardian, symbol: str, pnl: str, n: int, lots: int = 1) -> None:
    """Open then close ``lots`` at 100, booking a closed trade with ``pnl``."""
    buy = _order(n, symbol, Side.BUY, lots, Decimal(100))
    res = guardian.reserve(buy, Decimal(100))
    assert isinstance(res, Reservation)
    guardian.settle(res, _fill(buy, Decimal(100)), ())
    sell = _order(n + 1, symbol, Side.SELL, lots, Decimal(100))
    res = guardian.reserve(sell, Decimal(100))
    assert isinstance(res, Reservation), "closing is risk-reducing and always admitted"
    guardian.settle(res, _fill(sell, Decimal(100)), (trade(pnl, symbol),))


def test_halted_guardian_admits_only_risk_reducing_orders():
    limits = RiskLimits(Decimal(100000), Decimal("0.5"), Decimal("0.3"), OFF,
                        BreakerLimits(max_drawdown=None, loss_limit=Decimal(100), max_consecutive_losses=None))
    history = History("run-halt")
    guardian = Guardian(SPECS, limits, history=history)
    opening = _order(1, "AAA", Side.BUY, 10, Decimal(100))
    res = guardian.reserve(opening, Decimal(100))
    guardian.settle(res, _fill(opening, Decimal(100)), (trade("-150", "AAA"),))
    assert guardian.health() is Health.HALTED
    assert guardian.snapshot().tripped == "loss_limit"
    (trip,) = of_kind(history, "risk.trip")
    assert (trip.payload["scope"], trip.payload["reason"]) == ("global", "loss_limit")
    assert (Decimal(trip.payload["value"]), Decimal(trip.payload["threshold"])) == (150, 100)

    assert guardian.reserve(_order(2, "AAA", Side.BUY, 1, Decimal(100)), Decimal(100)) == Refusal("O2", "halted")
    assert guardian.reserve(_order(3, "BBB", Side.SELL, 1, Decimal(100)), Decimal(100)) == Refusal("O3", "halted")
    assert guardian.reserve(_order(4, "AAA", Side.SELL, 20, Decimal(100)), Decimal(100)) == Refusal("O4", "halted"), (
        "selling more than the long is not risk-reducing"
    )
    reducing = _order(5, "AAA", Side.SELL, 10, Decimal(100))
    res = guardian.reserve(reducing, Decimal(100))
    assert isinstance(res, Reservation)
    guardian.settle(res, _fill(reducing, Decimal(100)), ())
    assert guardian.snapshot().symbols["AAA"].position == 0
    assert [e.payload["reason"] for e in of_kind(history, "risk.refuse")] == ["halted"] * 3


def test_symbol_breaker_halts_only_that_symbol():
    limits = RiskLimits(Decimal(100000), Decimal("0.5"), Decimal("0.3"),
                        BreakerLimits(max_drawdown=None, loss_limit=None, max_consecutive_losses=2), OFF)
    guardian = Guardian(SPECS, limits)
    _open_and_close(guardian, "AAA", "-1", 1)
    _open_and_close(guardian, "AAA", "-1", 3)
    snap = guardian.snapshot()
    assert snap.symbols["AAA"].tripped == "consecutive_losses" and snap.symbols["BBB"].tripped == ""
    assert guardian.health() is Health.HEALTHY, "a symbol breaker does not halt the guardian"
    assert guardian.reserve(_order(9, "AAA", Side.BUY, 1, Decimal(100)), Decimal(100)) == Refusal("O9", "halted")
    assert isinstance(guardian.reserve(_order(10, "BBB", Side.BUY, 1, Decimal(100)), Decimal(100)), Reservation)


def test_health_is_healthy_degraded_and_halted_overrides_degraded():
    limits = RiskLimits(Decimal(1000), Decimal("0.5"), Decimal("0.3"), OFF,
                        BreakerLimits(max_drawdown=None, loss_limit=Decimal(10), max_consecutive_losses=None))
    guardian = Guardian(SPECS, limits)
    assert guardian.health() is Health.HEALTHY
    guardian.set_degraded(True)
    assert guardian.health() is Health.DEGRADED and guardian.snapshot().health is Health.DEGRADED
    assert isinstance(guardian.reserve(_order(1, "AAA", Side.BUY, 1, Decimal(100)), Decimal(100)), Reservation), (
        "trading goes on while degraded"
    )
    guardian.set_degraded(False)
    assert guardian.health() is Health.HEALTHY
    guardian.set_degraded(True)
    _open_and_close(guardian, "BBB", "-10", 5)
    assert guardian.health() is Health.HALTED


def _expected_trips(limits: BreakerLimits, equity: Decimal, pnls: list[Decimal]) -> list[str]:
    """Independent replay: the trip reason (or "") after every trade; a breaker stays tripped."""
    realised = peak = Decimal(0)
    streak, tripped, out = 0, "", []
    for pnl in pnls:
        realised += pnl
        peak = max(peak, realised)
        streak = streak + 1 if pnl < 0 else 0
        if not tripped:
            found = breaker_trip(limits, equity, realised, peak, streak)
            tripped = found[0] if found else ""
        out.append(tripped)
    return out


breaker_limits = st.builds(
    BreakerLimits,
    max_drawdown=st.one_of(st.none(), st.sampled_from([Decimal("0.01"), Decimal("0.02"), Decimal("0.05")])),
    loss_limit=st.one_of(st.none(), st.integers(1, 30).map(lambda k: Decimal(k * 100))),
    max_consecutive_losses=st.one_of(st.none(), st.integers(1, 6)),
)


@settings(max_examples=200, deadline=None)
@given(
    symbol_limits=breaker_limits, global_limits=breaker_limits,
    pnls=st.lists(st.tuples(st.sampled_from(("AAA", "BBB")), st.integers(-90000, 60000)), max_size=30),
)
def test_breakers_trip_exactly_when_their_condition_holds(symbol_limits, global_limits, pnls):
    equity = Decimal(100000)
    limits = RiskLimits(equity, Decimal("0.5"), Decimal("0.3"), symbol_limits, global_limits)
    history = History("run-breaker")
    guardian = Guardian(SPECS, limits, history=history)
    seen: dict[str, list[Decimal]] = {"AAA": [], "BBB": []}
    everything: list[Decimal] = []
    for n, (symbol, cents) in enumerate(pnls):
        pnl = Decimal(cents) / 100
        res = Reservation(f"O{n}", symbol, 0, 0, 0)
        guardian.settle(res, Fill(f"F{n}", f"O{n}", symbol, Side.BUY, Decimal(0), Decimal(100), Decimal(0)),
                        (trade(pnl, symbol),))
        seen[symbol].append(pnl)
        everything.append(pnl)
        snap = guardian.snapshot()
        for s, own in seen.items():
            expected = _expected_trips(symbol_limits, equity, own)
            assert snap.symbols[s].tripped == (expected[-1] if expected else ""), s
            assert snap.symbols[s].realised == sum(own, Decimal(0))
        assert snap.tripped == _expected_trips(global_limits, equity, everything)[-1]
        assert snap.health is (Health.HALTED if snap.tripped else Health.HEALTHY)
    trips = of_kind(history, "risk.trip")
    expected_trips = sum(bool(_expected_trips(symbol_limits, equity, own)[-1:] != [""] and own) for own in seen.values())
    expected_trips += bool(everything and _expected_trips(global_limits, equity, everything)[-1])
    assert len(trips) == expected_trips == guardian.snapshot().trips
    for event in trips:
        assert event.payload["scope"] in ("symbol", "global")


def test_breaker_trip_reports_the_first_condition_that_holds():
    limits = BreakerLimits(max_drawdown=Decimal("0.1"), loss_limit=Decimal(50), max_consecutive_losses=3)
    assert breaker_trip(limits, Decimal(1000), Decimal(-100), Decimal(0), 3) == ("max_drawdown", Decimal("0.1"), Decimal("0.1"))
    assert breaker_trip(limits, Decimal(1000), Decimal(-60), Decimal(0), 3) == ("loss_limit", Decimal(60), Decimal(50))
    assert breaker_trip(limits, Decimal(1000), Decimal(-1), Decimal(0), 3) == ("consecutive_losses", Decimal(3), Decimal(3))
    assert breaker_trip(limits, Decimal(1000), Decimal(-1), Decimal(0), 2) is None
    assert breaker_trip(limits, Decimal(1000), Decimal(400), Decimal(500), 0) == ("max_drawdown", Decimal("0.1"), Decimal("0.1")), (
        "drawdown is measured from the realised peak, even while in profit"
    )


def test_state_vector_and_load_state_round_trip():
    limits = RiskLimits(Decimal(100000), Decimal("0.5"), Decimal("0.3"),
                        BreakerLimits(None, Decimal(5), None), OFF)
    guardian = Guardian(SPECS, limits)
    order = _order(1, "BBB", Side.SELL, 7, Decimal("123.45"))
    guardian.settle(guardian.reserve(order, Decimal("123.48")), _fill(order, Decimal("123.47")), (trade("-6", "BBB"),))
    guardian.reserve(_order(2, "AAA", Side.BUY, 3, Decimal(100)), Decimal("100.03"))
    guardian.set_degraded(True)
    restored = Guardian(SPECS, limits)
    restored.load_state(guardian.state_vector())
    assert restored.snapshot() == guardian.snapshot()
    assert restored.state_vector() == guardian.state_vector()
    assert restored.snapshot().symbols["BBB"].tripped == "loss_limit"
    assert restored.health() is Health.DEGRADED
    with pytest.raises(ValueError, match="needs"):
        restored.load_state([0, 1])


def test_settle_with_an_older_fencing_token_is_rejected():
    history = History("run-fence")
    guardian = Guardian(SPECS, LIMITS, history=history)
    first, second = _order(1, "AAA", Side.BUY, 1, Decimal(100)), _order(2, "AAA", Side.BUY, 1, Decimal(100))
    r1, r2 = guardian.reserve(first, Decimal(100)), guardian.reserve(second, Decimal(100))
    guardian.settle(r1, _fill(first, Decimal(100)), (), worker="new", token=5)
    with pytest.raises(StaleToken):
        guardian.settle(r2, _fill(second, Decimal(100)), (), worker="old", token=4)
    assert guardian.snapshot().symbols["AAA"].position == 1, "the stale settle changed nothing"
    (reject,) = of_kind(history, "fence.reject")
    assert (reject.worker, reject.payload["token"], reject.payload["newest"], reject.payload["resource"]) == (
        "old", 4, 5, "exposure"
    )


# -- Failing tests: library bugs (see the report); not committed --------------------------

any_side = st.tuples(
    st.sampled_from(("AAA", "BBB")), st.sampled_from(Side), st.integers(1, 150), st.integers(5000, 20000),
    st.integers(0, SLIP), st.booleans(),
)


@settings(max_examples=300, deadline=None, phases=(Phase.generate,), report_multiple_bugs=False)
@given(batches=st.lists(st.lists(any_side, min_size=1, max_size=3), min_size=1, max_size=25), data=st.data())
def test_exposure_replayed_at_every_settle_stays_within_limits_for_any_orders(batches, data):
    _replay_exposure(batches, data)


def test_risk_reducing_order_at_a_higher_price_cannot_push_the_rest_over_the_symbol_limit():
    guardian = Guardian(SPECS, LIMITS)
    opening = _order(1, "AAA", Side.BUY, 290, Decimal(100))  # 29000 of a 30000 symbol limit
    guardian.settle(guardian.reserve(opening, Decimal(100)), _fill(opening, Decimal(100)), ())
    reducing = _order(2, "AAA", Side.SELL, 1, Decimal(110))
    res = guardian.reserve(reducing, _worst(reducing))
    if isinstance(res, Reservation):
        guardian.settle(res, _fill(reducing, Decimal(110)), ())
    assert guardian.snapshot().symbols["AAA"].exposure <= LIMITS.max_symbol_exposure * LIMITS.equity


def test_pending_risk_reducing_orders_together_cannot_flip_the_position_past_the_limit():
    guardian = Guardian(SPECS, LIMITS)
    opening = _order(1, "AAA", Side.BUY, 200, Decimal(100))
    guardian.settle(guardian.reserve(opening, Decimal(100)), _fill(opening, Decimal(100)), ())
    sells = [_order(n, "AAA", Side.SELL, 200, Decimal(100)) for n in (2, 3, 4)]
    admitted = [(o, guardian.reserve(o, Decimal(100))) for o in sells]
    for order, res in admitted:
        if isinstance(res, Reservation):
            guardian.settle(res, _fill(order, Decimal(100)), ())
    assert guardian.snapshot().symbols["AAA"].exposure <= LIMITS.max_symbol_exposure * LIMITS.equity


def test_halted_guardian_refuses_a_second_pending_close_that_would_open_a_new_position():
    limits = RiskLimits(Decimal(100000), Decimal("0.5"), Decimal("0.3"), OFF,
                        BreakerLimits(max_drawdown=None, loss_limit=Decimal(100), max_consecutive_losses=None))
    guardian = Guardian(SPECS, limits)
    opening = _order(1, "AAA", Side.BUY, 10, Decimal(100))
    guardian.settle(guardian.reserve(opening, Decimal(100)), _fill(opening, Decimal(100)), (trade("-150", "AAA"),))
    assert guardian.health() is Health.HALTED
    assert isinstance(guardian.reserve(_order(2, "AAA", Side.SELL, 10, Decimal(100)), Decimal(100)), Reservation)
    assert guardian.reserve(_order(3, "AAA", Side.SELL, 10, Decimal(100)), Decimal(100)) == Refusal("O3", "halted"), (
        "with the first close pending, a second one would open a short while halted"
    )
