"""Fuzz the inputs a user or an accident hands back to the harness: spills, manifests, price files, text.

Each property: a verdict or one line, never a traceback -- and "internal error" (the CLI's last
line of defence) counts as a failure, not a pass. ``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``)
runs many more examples; the tally of outcomes is printed at the end of the module.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.history.log import History
from harness.system.feed import FeedError, read_closes
from harness.system.guardian.checkpoint import append_log
from harness.system.guardian.manifest import Manifest, write_manifest
from tests.hardening.test_outage_at_end import cli

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
FUZZ = settings(max_examples=600 if DEEP else 30, deadline=None, derandomize=not DEEP,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TALLY: Counter[str] = Counter()
RUN = "run-fuzz"


@pytest.fixture(autouse=True, scope="module")
def _elsewhere(tmp_path_factory):
    """A tampered manifest may name a relative database path: drain must not litter the checkout."""
    before = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(before)


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    print(f"\nfuzz inputs: {dict(sorted(TALLY.items()))}")


def _one_line_or_verdict(code: int, err: str, what: str) -> None:
    TALLY[f"{what} exit {code}"] += 1
    assert "internal error" not in err and "Traceback" not in err, err
    assert code in (0, 1, 2), err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err


def _run_dir(tmp_path: Path) -> Path:
    directory = tmp_path / RUN / "persistence"
    write_manifest(directory, Manifest(RUN, None, str(directory / "events.db"), "unused", None, f"harness:{RUN}"))
    (directory / "spill").mkdir(exist_ok=True)
    return directory


@FUZZ
@given(data=st.data())
def test_any_damaged_spill_is_drained_or_one_line(tmp_path_factory, data) -> None:
    directory = _run_dir(tmp_path_factory.mktemp("spill"))
    spill = directory / "spill" / "spill-sqlite.jsonl"
    history = History(RUN)
    append_log(spill, [history.append("tick", worker="t", i=i, text=data.draw(st.text(max_size=8)))
                       for i in range(12)])
    raw = bytearray(spill.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at + data.draw(st.integers(0, 6))] = data.draw(st.binary(max_size=6))
    spill.write_bytes(bytes(raw))
    code, _, err = cli("drain", str(directory))
    _one_line_or_verdict(code, err, "spill")


MANIFEST_VALUES = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.just("*"), st.just("h_other"),
                            st.just("sqlite:///x.db"), st.just("postgresql://127.0.0.1:1/none"))


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["run_id", "database_url", "sqlite_path", "schema", "redis_url",
                                               "key_prefix", "extra"]), MANIFEST_VALUES))
def test_any_tampered_manifest_is_refused_in_one_line_or_drained(tmp_path_factory, fields) -> None:
    directory = _run_dir(tmp_path_factory.mktemp("manifest"))
    manifest = json.loads((directory / "layers.json").read_text())
    (directory / "layers.json").write_text(json.dumps({**manifest, **fields}))
    code, _, err = cli("drain", str(directory), "--timeout", "1")
    _one_line_or_verdict(code, err, "manifest")


CELLS = st.one_of(st.sampled_from(["100", "101", "99", "1e999999999", "NaN", "-1", "", "0.5", "1" * 40, "x"]),
                  st.text(max_size=12))


@FUZZ
@given(rows=st.lists(st.lists(CELLS, min_size=0, max_size=7), max_size=6),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_any_price_file_is_read_or_one_feed_error(tmp_path_factory, rows, delimiter) -> None:
    path = tmp_path_factory.mktemp("csv") / "prices.csv"
    header = delimiter.join(["time", "open", "high", "low", "close"])
    path.write_text("\n".join([header, *(delimiter.join(row) for row in rows)]) + "\n", encoding="utf-8",
                    errors="surrogatepass")
    try:
        read_closes(path)
        TALLY["price file read"] += 1
    except (FeedError, InputError) as exc:
        TALLY["price file refused"] += 1
        assert "\n" not in str(exc)


@FUZZ
@given(text=st.text(), key=st.text(min_size=1))
def test_any_text_is_recorded_as_text_every_layer_holds(text, key) -> None:
    event = History(RUN).append("x.text", worker="w", value=text, nested={key: [text]})
    line = event.to_json().encode("utf-8")  # never a UnicodeEncodeError
    assert b"\x00" not in line and "\x00" not in str(event.payload)
    TALLY["text recorded"] += 1
