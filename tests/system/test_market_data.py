"""Real market data from the CLI and config: three symbols with different ticks and lots, from committed OHLC files."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.history.log import read_jsonl
from harness.system.feed import read_closes

DATA = Path(__file__).resolve().parents[1] / "data" / "ohlc"
FILES = {"BTCUSD": DATA / "BTCUSD.csv", "EURUSD": DATA / "EURUSD.csv", "ESM4": DATA / "ESM4.csv"}
# BTCUSD and EURUSD: the tick comes from the data; ESM4's quarter point is given (its file is written in cents).
TICKS = {"BTCUSD": Decimal("0.1"), "EURUSD": Decimal("0.00001"), "ESM4": Decimal("0.25")}
SYMBOLS = """
[run.symbols.BTCUSD]
lot = "0.001"

[run.symbols.EURUSD]
lot = "1000"
fee = "0.00002"

[run.symbols.ESM4]
tick = "{es_tick}"
lot = "1"

[run.limits.symbol_breaker]
max_consecutive_losses = 1000
"""


def _config(tmp_path: Path, es_tick: str = "0.25") -> Path:
    feed = ",".join(f"{name}={path}" for name, path in FILES.items())
    path = tmp_path / "harness.toml"
    path.write_text(f'[run]\nfeed = "{feed}"\n' + SYMBOLS.format(es_tick=es_tick))
    return path


def _run(tmp_path: Path, name: str, *flags: str) -> tuple[int, Path]:
    out = tmp_path / name
    return main(["run", "multi_symbol_stress", "--config", str(_config(tmp_path)), "--out", str(out), *flags]), out


def _per_symbol_pnl(out: Path) -> dict[str, tuple]:
    return {k: (v["trades"], v["pnl"]) for k, v in json.loads((out / "evidence.json").read_text())["metrics"]
            ["per_symbol"].items()}


def test_ohlc_files_pass_in_thread_and_process_mode_with_the_same_pnl_and_no_price_re_rounded(tmp_path):
    results = {mode: _run(tmp_path, mode, "--trades", "8", "--mode", mode) for mode in ("thread", "process")}
    assert {mode: code for mode, (code, _) in results.items()} == {"thread": 0, "process": 0}
    assert _per_symbol_pnl(results["thread"][1]) == _per_symbol_pnl(results["process"][1])
    events = read_jsonl(results["process"][1] / "events.jsonl")
    start = next(e for e in events if e.kind == "run.start")
    assert {name: Decimal(str(s["tick"])) for name, s in start.payload["specs"].items()} == TICKS
    closes = {name: {row.close for row in read_closes(path)} for name, path in FILES.items()}
    position: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        if e.kind == "order.submit":  # a market order is sent at the tick's price: exactly a close of the file
            assert Decimal(str(e.payload["price"])) in closes[e.symbol], e
        if e.kind == "order.fill":
            assert Decimal(str(e.payload["price"])) % TICKS[e.symbol] == 0, e
            position[e.symbol] += Decimal(str(e.payload["qty"])) * (1 if e.payload["side"] == "BUY" else -1)
    assert set(position) == set(FILES) and set(position.values()) == {0}


def test_a_feed_that_ends_before_the_trades_asked_is_a_failing_fact_and_leaves_nothing_open(tmp_path):
    code, out = _run(tmp_path, "short", "--trades", "1000")
    assert code == 1
    gate = next(g for g in json.loads((out / "evidence.json").read_text())["gates"] if g["area"] == "Feed Coverage")
    assert gate["status"] == "FAIL"
    figures = json.loads((out / "evidence.json").read_text())["evidence"]["Feed Coverage"]["figures"]
    assert figures["short_symbols"] == 3 and figures["open_positions"] == 0


def test_until_feed_ends_makes_trades_an_upper_bound(tmp_path):
    code, out = _run(tmp_path, "bound", "--trades", "1000", "--until-feed-ends")
    assert code == 0
    assert "--until-feed-ends" in json.loads((out / "evidence.json").read_text())["reproduce"]


def test_a_given_tick_the_data_is_off_is_one_line_naming_the_row(tmp_path, capsys):
    code = main(["run", "multi_symbol_stress", "--config", str(_config(tmp_path, es_tick="0.5")),
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{FILES['ESM4']}:" in err and "is not a multiple of the tick 0.5" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag", ["EURUSD={eur}", "csv:{eur}", "csv:{dir}"])
def test_feed_flag_forms(flag, tmp_path):
    """SYMBOL=FILE, csv:FILE (its stem names the symbol) and csv:DIR (a file per symbol)."""
    eur = str(FILES["EURUSD"])
    symbols = ["--symbols", "EURUSD"] if "dir" in flag else []
    out = tmp_path / "run"
    code = main(["run", "multi_symbol_stress", "--trades", "3", "--out", str(out), *symbols,
                 "--feed", flag.format(eur=eur, dir=DATA)])
    assert code == 0
    assert list(_per_symbol_pnl(out)) == ["EURUSD"]


@pytest.mark.parametrize("scenario", ["symbol_isolation", "crash_recovery"])
def test_a_scenario_that_drives_its_own_feed_refuses_price_files(scenario, tmp_path, capsys):
    code = main(["run", scenario, "--out", str(tmp_path / "r"), "--feed", f"EURUSD={FILES['EURUSD']}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot replay price files" in err


def test_price_files_in_a_config_file_are_relative_to_it(tmp_path, monkeypatch):
    """A project's config names its data beside it; the run may start from any directory."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "EURUSD.csv").write_bytes(FILES["EURUSD"].read_bytes())
    (project / "harness.toml").write_text('[run]\nfeed = "EURUSD=data/EURUSD.csv"\ntrades = 3\n')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["run", "multi_symbol_stress", "--config", "project/harness.toml", "--out", str(out)]) == 0
    assert list(_per_symbol_pnl(out)) == ["EURUSD"]
