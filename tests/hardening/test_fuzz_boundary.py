"""Fuzz the CLI boundary: any argv, any config file -> exit 0/1/2 with a verdict or one line, never a traceback.

The CLI runs in this process through ``main`` with its output captured (fast: no interpreter
start per example). What would run for long -- a scenario, the broker, the API server -- is
replaced by a sentinel that ends the example as "accepted"; the config a scenario would have
run with is checked there. ``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``) runs many more examples.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli.main import main
from harness.history.log import History

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"  # make fuzz
EXAMPLES = 1500 if DEEP else 60
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not DEEP,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
pytestmark = [pytest.mark.slow] if DEEP else []
TALLY: Counter[str] = Counter()  # bad inputs tried and outcomes, printed at the end of the module


class Accepted(BaseException):
    """Raised where the CLI would start real work: the input passed the boundary."""


@pytest.fixture(autouse=True)
def no_long_work(monkeypatch):
    def scenario(scenario, config, out, **kwargs):
        run, gates = config.run, config.gates
        assert run.seed >= 0 and run.symbols and (run.trades or 0) >= 0
        for name, value in vars(gates).items():  # what a scenario would be judged with is sane
            assert isinstance(value, (bool, tuple, str)) or value is None or value >= 0, name
        raise Accepted

    def stop(*args, **kwargs):
        raise Accepted

    monkeypatch.setattr("harness.run.scenario.execute", scenario)
    monkeypatch.setattr("harness.serve.app.serve", stop)
    monkeypatch.setattr("harness.system.locks.server.serve_forever", stop)


@pytest.fixture(scope="module", autouse=True)
def report_tally():
    yield
    print(f"\nfuzz tally: {dict(sorted(TALLY.items()))}")


def run_cli(argv: list[str]) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | None = main(argv)
        except Accepted:
            code = None
    return code, out.getvalue(), err.getvalue()


def assert_one_line_or_verdict(argv: list[str], code: int | None, out: str, err: str) -> None:
    TALLY["tried"] += 1
    TALLY[f"exit {code}"] += 1
    text = out + err
    assert "Traceback (most recent call last)" not in text and "internal error" not in text, (argv, text)
    if code is None:
        return
    assert code in (0, 1, 2), (argv, code)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("harness"), (argv, err)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Paths of every kind a hostile or careless user could hand over."""
    root = tmp_path_factory.mktemp("fuzz-files")
    history = History("fuzz-run")
    history.append("run.start", worker="engine", symbols=["A"])
    (root / "events.jsonl").write_text("".join(e.to_json() + "\n" for e in history.events()))
    (root / "empty.jsonl").write_text("")
    (root / "garbage.jsonl").write_bytes(b"\xff\xfe{not json\n\x00")
    (root / "wrong.jsonl").write_text('{"seq": "1", "kind": 3}\n[]\n')
    (root / "config.toml").write_text("[run]\ntrades = 2\n")
    (root / "rundir").mkdir()
    (root / "rundir" / "events.jsonl").write_text("x\n")
    return {name: str(root / name) for name in ("events.jsonl", "empty.jsonl", "garbage.jsonl", "wrong.jsonl",
                                                  "config.toml", "rundir")} | {"absent": str(root / "absent")}


TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "-1", "0", "1", "2.5", "nan", "inf", "-inf", "1e999", "99999", "tcp://127.0.0.1:99999",
     "tcp://127.0.0.1:0", "ipc:///nonexistent/dir/x", "tcp://0.0.0.0:5555", "a:b", "mod:", ":f",
     "os:getcwd", "json:loads", "\udcff", "A,B", ",,", "BTCUSD.s", "thread", "process", "single", "x" * 300])
FLAGS = ["--seed", "--symbols", "--trades", "--duration", "--mode", "--out", "--config", "--engine", "--locks",
         "--aggregator", "--guardian", "--scenario", "--model", "--format", "--budget-steps", "--budget-seconds",
         "--endpoint", "--state-file", "--events", "--max-bytes", "--host", "--port", "--token", "--timeout",
         "--database-url", "--redis-url", "--bogus"]
COMMANDS = ["run", "list", "check", "verify-log", "report", "check-history", "broker", "serve", "drain", "nope"]
SCENARIOS = ["multi_symbol_stress", "race_detection", "crash_recovery", "fault_injection", "nope"]


@st.composite
def argvs(draw, files: dict[str, str]) -> list[str]:
    path = st.sampled_from(sorted(files.values()))
    command = draw(st.sampled_from(COMMANDS))
    argv = [command]
    if command == "run":
        argv.append(draw(st.sampled_from(SCENARIOS) | TEXT))
    elif command in ("check", "verify-log", "report", "check-history", "drain"):
        argv.append(draw(path | TEXT))
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from(FLAGS))
        value = draw(path | TEXT)
        argv += [f"{flag}={value}"] if draw(st.booleans()) else [flag, value]
    return argv


@FUZZ
@given(data=st.data())
def test_any_command_line_is_a_verdict_or_one_line(files, data, tmp_path_factory, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    argv = data.draw(argvs(files))
    assert_one_line_or_verdict(argv, *run_cli(argv))


def toml_value(value) -> str:
    """A value in TOML syntax (this fuzz writes its own: a wrong type must reach the loader intact)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


SCALARS = (st.integers(-2**70, 2**70) | st.sampled_from([-1, 0, 1, 2, 10**6]) | st.floats(allow_nan=True)
           | st.booleans() | st.text(max_size=8) | st.sampled_from(["BTCUSD.s", "thread", "INCREMENTAL", "A,B"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=2), max_leaves=5)
RUN_KEYS = ["seed", "symbols", "trades", "duration", "mode", "lock_timeout", "aggregation", "strategy", "venue",
            "limits", "workers", "bogus"]
GATE_KEYS = ["max_errors", "max_pnl_difference", "max_order_p99_ms", "max_exposure_ratio", "allowed_health",
             "require_linearizable", "min_throughput_trades_per_s", "max_breaker_trips", "max_lost_events", "bogus"]


@st.composite
def config_texts(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=60))  # not even text
    tables = {"run": st.sampled_from(RUN_KEYS), "gates": st.sampled_from(GATE_KEYS), "extra": st.text(max_size=4)}
    lines = []
    for table in draw(st.lists(st.sampled_from(sorted(tables)), max_size=3, unique=True)):
        lines.append(f"[{table}]")
        for key in draw(st.lists(tables[table], max_size=4, unique=True)):
            lines.append(f"{json.dumps(key)} = {toml_value(draw(VALUES))}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@FUZZ
@given(text=config_texts())
def test_any_config_file_is_accepted_sanely_or_refused_in_one_line(text: bytes, tmp_path_factory) -> None:
    directory = tmp_path_factory.mktemp("config")
    (directory / "c.toml").write_bytes(text)
    argv = ["run", "multi_symbol_stress", "--config", str(directory / "c.toml"), "--out", str(directory / "out")]
    code, out, err = run_cli(argv)
    assert_one_line_or_verdict(argv, code, out, err)
    if code == 2:
        assert "c.toml" in err or "gates." in err or "run." in err or ":" in err
