"""Every figure an aggregator publishes is judged: gross profit/loss, rates, totals; unknown ones listed."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from harness.judge.checks.published import Prefix, judge_state
from harness.run.config import load_config
from harness.run.plugins import Plugins
from harness.run.scenario import execute, load
from harness.system.aggregator import MetricsAggregator, SymbolMetrics
from tests import _history_builders as hb

AREAS = ("MetricsAggregator Accuracy", "MetricsAggregator Accuracy (REPLACE mode)")
WRONG = r"^Aggregator states over time: \d+ judged against the replay, [1-9]\d* stale or wrong$"


class NegativeLossAggregator(MetricsAggregator):
    """Keeps gross loss as the negative sum of losing trades' PnL (the defect); all else right."""

    def replace(self, symbol, snapshot: SymbolMetrics, *, worker="-", fence_token=None) -> bool:
        return super().replace(symbol, _negated(snapshot), worker=worker, fence_token=fence_token)

    def apply(self, symbol, delta: SymbolMetrics, *, worker="-", fence_token=None) -> str:
        return super().apply(symbol, _negated(delta), worker=worker, fence_token=fence_token)


def _negated(metrics: SymbolMetrics) -> SymbolMetrics:
    return dataclasses.replace(metrics, gross_loss=-abs(metrics.gross_loss))


def _model(*pnls: str) -> Prefix:
    model = Prefix()
    for pnl in pnls:
        model = model.then(Decimal(pnl))
    return model


def test_the_model_recomputes_sums_rates_and_drawdown():
    model = _model("10", "-4", "0", "-2", "5")
    assert (model.gross_profit, model.gross_loss, model.max_drawdown) == (15, 6, 6)
    assert (model.figure("win_rate"), model.figure("profit_factor")) == (Decimal("0.4"), Decimal("2.5"))
    shown = {"seq": 5, "trades": 5, "wins": 2, "losses": 2, "breakeven": 1, "pnl": "9", "gross_profit": "15",
             "gross_loss": "6", "win_rate": "0.40", "profit_factor": "2.5", "max_drawdown": "6", "sharpe": "1.2"}
    judged = judge_state(shown, model)
    assert judged.wrong == () and judged.not_judged == ("sharpe",)


def test_a_negative_gross_loss_and_profit_factor_are_wrong():
    judged = judge_state({"trades": 2, "gross_loss": "-4", "profit_factor": "-2.5"}, _model("10", "-4"))
    assert judged.wrong == ("gross_loss", "profit_factor")


def test_a_ratio_agrees_to_the_digits_published_only():
    model = _model("1", "1", "-1")  # win rate 2/3
    assert judge_state({"win_rate": "0.67"}, model).wrong == ()
    assert judge_state({"win_rate": "0.66"}, model).wrong == ("win_rate",)
    assert judge_state({"profit_factor": None}, _model("1")).wrong == ()  # no loss: no factor


def test_a_sum_of_symbols_does_not_judge_drawdown():
    total = _model("5", "-3").beside(_model("-1"))
    assert judge_state({"gross_loss": "4", "max_drawdown": "3"}, total).not_judged == ("max_drawdown",)


def test_clean_run_publishes_rates_and_a_total_all_judged(clean):
    state = hb.last(clean, "agg.state").payload
    assert {"win_rate", "profit_factor"} <= set(state["total"])
    result = hb.gate(clean, "aggregator")
    assert result.status == "PASS", hb.failing(result)
    assert hb.evidence(clean, "aggregator").figures.not_judged == ()
    assert "Published figures not judged (the model cannot recompute them): none" in [x.text for x in result.lines]


def test_wrong_total_fails_naming_it(clean):
    state = hb.last(clean, "agg.state")
    total = {**state.payload["total"], "gross_profit": "0"}
    result = hb.gate(hb.alter(clean, state, total=total), "aggregator")
    hb.assert_fails_on(result, WRONG)
    (bad,) = result.counterexamples["bad_states"]
    assert (bad["symbol"], bad["why"].split(" ")[0]) == ("total", "gross_profit")


def test_unknown_published_figure_is_listed_not_judged(clean, sym):
    events = hb.alter_agg_state(clean, sym, sortino="3.1")
    result = hb.gate(events, "aggregator")
    assert result.status == "PASS", hb.failing(result)
    assert "Published figures not judged (the model cannot recompute them): sortino" in [x.text for x in result.lines]


def _gates(tmp_path: Path, seed: int, plugins: Plugins) -> list:
    scenario = load("pnl_consistency")
    config = scenario.configure(load_config(None), {"run": {"seed": seed, "trades": 20}})
    verdict = execute(scenario, config, tmp_path / "run", plugins=plugins)
    return [g for g in verdict.gates if g.area in AREAS]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aggregator_keeping_gross_loss_negative_fails_both_modes(tmp_path: Path, seed: int):
    for gate in _gates(tmp_path, seed, Plugins.of(aggregator=NegativeLossAggregator)):
        hb.assert_fails_on(gate, WRONG)
        assert all(bad["why"].startswith("gross_loss") for bad in gate.counterexamples["bad_states"])


def test_reference_aggregator_passes_beside_it(tmp_path: Path):
    gates = _gates(tmp_path, 1, Plugins.of())
    assert len(gates) == 2 and all(g.status == "PASS" for g in gates), [hb.failing(g) for g in gates]
