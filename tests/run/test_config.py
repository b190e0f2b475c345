"""Run configuration: layering over a base, and one ConfigError naming the key for every bad value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from harness.errors import ConfigError
from harness.run.config import run_config
from harness.settings import load_toml
from harness.system.aggregator import Mode
from harness.system.guardian.risk import Discipline
from harness.system.model import DEFAULT_SYMBOLS
from harness.system.settings import ConcurrencyMode, RunConfig


def test_empty_settings_give_the_defaults():
    config = run_config({})
    assert config == RunConfig()
    assert (config.seed, config.trades, config.duration, config.symbols) == (127, 30, None, DEFAULT_SYMBOLS)


def test_later_layer_wins_and_keeps_what_it_does_not_set():
    base = run_config({"seed": 5, "trades": 10, "mode": "single"})
    top = run_config({"duration": 2.5, "aggregation": "replace"}, base)
    assert (top.seed, top.mode, top.trades, top.duration, top.aggregation) == (
        5, ConcurrencyMode.SINGLE, None, 2.5, Mode.REPLACE
    )
    back = run_config({"trades": 3}, top)
    assert (back.trades, back.duration, back.aggregation) == (3, None, Mode.REPLACE)


def test_symbols_from_a_list_or_a_comma_string():
    assert run_config({"symbols": "BTCUSD.s, ETHUSD.s"}).symbol_names == ("BTCUSD.s", "ETHUSD.s")
    assert run_config({"symbols": ["XAUUSD.s", "NEW1"]}).symbol_names == ("XAUUSD.s", "NEW1")


def test_nested_tables_are_coerced_to_their_types():
    config = run_config({
        "limits": {"equity": "1000.50", "max_gross_exposure": 0.25, "symbol_breaker": {"loss_limit": 50,
                                                                                   "max_consecutive_losses": 4}},
        "venue": {"commission_rate": "0.0001"}, "discipline": "check_then_act", "lock_timeout": 3,
    })
    assert config.limits.equity == Decimal("1000.50")
    assert config.limits.max_gross_exposure == Decimal("0.25")
    assert config.limits.symbol_breaker.loss_limit == Decimal(50)
    assert config.limits.symbol_breaker.max_consecutive_losses == 4
    assert config.limits.symbol_breaker.max_drawdown == Decimal("0.10"), "unset nested keys keep their default"
    assert config.venue.commission_rate == Decimal("0.0001")
    assert config.discipline is Discipline.CHECK_THEN_ACT
    assert config.lock_timeout == 3.0 and isinstance(config.lock_timeout, float)


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ({"sede": 1}, "sede: unknown setting"),
        ({"limits": {"equty": 1}}, "limits.equty: unknown setting"),
        ({"limits": {"symbol_breaker": {"bogus": 1}}}, "limits.symbol_breaker.bogus: unknown setting"),
        ({"seed": "abc"}, "seed: invalid value"),
        ({"seed": True}, "seed: invalid value"),
        ({"seed": 1.5}, "seed: invalid value"),
        ({"lock_timeout": "fast"}, "lock_timeout: invalid value"),
        ({"limits": {"equity": "lots"}}, "limits.equity: invalid value"),
        ({"limits": {"equity": True}}, "limits.equity: invalid value"),
        ({"limits": 5}, "limits: expected a table"),
        ({"mode": "fibers"}, "mode: invalid value"),
        ({"aggregation": "average"}, "aggregation: invalid value"),
        ({"discipline": "yolo"}, "discipline: invalid value"),
        ({"symbols": 5}, "symbols: expected a list"),
        ({"symbols": "A,,B"}, "symbols: bad symbol name"),
        ({"symbols": ["A", "A"]}, "symbols: symbols must be distinct"),
    ],
)
def test_bad_setting_error_names_the_key(raw, prefix):
    with pytest.raises(ConfigError) as err:
        run_config(raw)
    assert str(err.value).startswith(prefix), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"trades": 5, "duration": 1.0}, ("trades", "duration")),
        ({"trades": None, "duration": None}, ("trades", "duration")),
        ({"trades": 0}, ("trades",)),
        ({"duration": 0}, ("duration",)),
        ({"duration": -1.5}, ("duration",)),
        ({"seed": -1}, ("seed",)),
        ({"lock_timeout": 0}, ("lock_timeout",)),
        ({"symbols": []}, ("symbol",)),
    ],
)
def test_out_of_range_values_and_trades_duration_rules_name_the_key(raw, words):
    with pytest.raises(ConfigError) as err:
        run_config(raw)
    for word in words:
        assert word in str(err.value)


def test_load_toml_reads_a_table_that_run_config_accepts(tmp_path):
    path = tmp_path / "harness.toml"
    path.write_text('[tool.harness]\nseed = 9\nsymbols = "BTCUSD.s"\nduration = 1.5\n[tool.harness.limits]\nequity = "5000"\n')
    raw = load_toml(path, "tool.harness")
    config = run_config(raw)
    assert (config.seed, config.symbol_names, config.trades, config.duration, config.limits.equity) == (
        9, ("BTCUSD.s",), None, 1.5, Decimal(5000)
    )
    assert load_toml(path, "tool.other") == {}


def test_load_toml_missing_file_names_it(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=f"^{path}: cannot read config"):
        load_toml(path)


@pytest.mark.parametrize("content", [b"seed = = 3\n", b"[tool\n", b"name = '\xff'\n"], ids=["syntax", "table", "utf8"])
def test_load_toml_bad_file_names_it(tmp_path, content):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"^{path}: not valid TOML"):
        load_toml(path)


def test_load_toml_table_that_is_not_a_table_names_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("tool = 3\n")
    with pytest.raises(ConfigError, match=rf"^{path}: \[tool.harness\] must be a table"):
        load_toml(path, "tool.harness")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"limits": {"equity": 0}}, "limits.equity"),
        ({"limits": {"equity": -1}}, "limits.equity"),
        ({"limits": {"equity": "NaN"}}, "limits.equity"),
        ({"limits": {"max_gross_exposure": "-0.1"}}, "limits.max_gross_exposure"),
        ({"lock_timeout": float("nan")}, "lock_timeout"),
        ({"limits": {"max_gross_exposure": "1e999999999"}}, "limits.max_gross_exposure"),  # crashed at judging
        ({"limits": {"equity": "1e-999999999"}}, "limits.equity"),
        ({"limits": {"equity": "1" * 29}}, "limits.equity"),
        ({"seed": 2**63}, "seed"),
    ],
    ids=["zero-equity", "negative-equity", "nan-equity", "negative-exposure", "nan-lock-timeout", "huge-exposure",
         "tiny-equity", "29-digit-equity", "seed-past-64-bits"],
)
def test_non_positive_or_non_finite_numbers_are_config_errors_naming_the_key(raw, key):
    """Equity 0 once made every order refused and the run spin through max_ticks."""
    with pytest.raises(ConfigError, match=f"^{key}"):
        run_config(raw)
