"""The history contract: one typed definition, published files that match it, producers that keep to it."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.history import events
from harness.history.docs import EXAMPLES, main, outputs
from harness.history.log import write_jsonl
from harness.history.schema import json_schema, problems
from harness.history.validate import check_file
from harness.judge.areas import judge
from harness.judge.thresholds import Thresholds
from harness.run.scenario import evaluate
from tests import _history_builders as hb

HARNESS = Path(events.__file__).resolve().parents[1]
# Calls that record an event take its kind as the first argument.
RECORDING_CALLS = {"append", "_record", "_event", "record", "event"}
KIND_LIKE = re.compile(r"^[a-z]+(\.[a-z_]+)+$")
PREFIXES = {name.split(".")[0] for name in events.KINDS if "." in name}


def _literal_kinds(tree: ast.AST) -> set[str]:
    """String literals passed as an event kind or compared with one."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            value = node.args[0].value
            # History.append always names the worker; list.append never does.
            records = name in RECORDING_CALLS and (name != "append" or any(k.arg == "worker" for k in node.keywords))
            if records and isinstance(value, str):
                found.add(value)
        elif isinstance(node, ast.Compare) and _is_kind(node.left):
            for right in node.comparators:
                items = right.elts if isinstance(right, (ast.Tuple, ast.Set, ast.List)) else [right]
                found |= {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
            # Module constants: a kind (LOCK_OK = "lock.ok") or a set of kinds (WARNING_KINDS = {...}).
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            items = node.value.elts if isinstance(node.value, (ast.Tuple, ast.Set, ast.List)) else [node.value]
            strings = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
            found |= {s for s in strings if any(n.endswith(("KIND", "KINDS")) for n in names)
                      or (KIND_LIKE.match(s) and s.split(".")[0] in PREFIXES)}
    return found


def _is_kind(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
        isinstance(node, ast.Name) and node.id == "kind")


def _emitted() -> dict[str, set[str]]:
    return {str(path.relative_to(HARNESS)): _literal_kinds(ast.parse(path.read_text(encoding="utf-8")))
            for path in HARNESS.rglob("*.py")}


def test_every_kind_used_in_the_code_is_declared():
    by_file = _emitted()
    used = set().union(*by_file.values())
    # The scan must see the producers, or it would prove nothing.
    assert {"order.fill", "lock.ok", "broker.grant", "alert", "health", "fault.inject", "persistence.stats"} <= used
    undeclared = {f"{file}: {kind}" for file, kinds in by_file.items() for kind in kinds
                  if kind not in events.KINDS and not events.is_user_kind(kind) and KIND_LIKE.match(kind)}
    undeclared |= {f"{file}: {kind}" for file, kinds in by_file.items() for kind in kinds & {"alert", "health"}
                   if kind not in events.KINDS}
    assert not undeclared


def test_the_scan_catches_an_undeclared_kind():
    tree = ast.parse('history.append("order.teleport", worker="w")\nif e.kind == "agg.vanish": pass\n'
                     'LOST = "risk.vanish"\nMY_KINDS = ("quote",)\nlines.append("not.a_kind")')
    assert _literal_kinds(tree) == {"order.teleport", "agg.vanish", "risk.vanish", "quote"}


def test_every_kind_has_its_constant():
    for name in events.KINDS:
        assert getattr(events, name.upper().replace(".", "_")) == name


@pytest.mark.parametrize("path", list(outputs()), ids=lambda p: p.name)
def test_published_files_match_the_code(path):
    assert path.read_text(encoding="utf-8") == outputs()[path], "run: python -m harness.history.docs --write-docs"


def test_check_docs_reports_drift(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("harness.history.docs.DOCS", tmp_path)
    assert main(["--check-docs"]) == 1
    assert main(["--write-docs"]) == 0
    assert main(["--check-docs"]) == 0
    (tmp_path / "HISTORY.md").write_text("stale", encoding="utf-8")
    capsys.readouterr()
    assert main(["--check-docs"]) == 1
    assert "HISTORY.md: out of date" in capsys.readouterr().out


def test_schema_names_every_kind_and_its_required_fields():
    schema = json_schema()
    assert schema["version"] == events.FORMAT
    fill = schema["$defs"]["order.fill"]
    assert fill["required"] == ["order", "fill", "side", "qty", "price", "fee"]
    assert fill["properties"]["qty"]["type"] == ["string", "number"]
    assert {rule["if"]["properties"]["kind"]["const"] for rule in schema["allOf"]} == set(events.KINDS)


@pytest.mark.parametrize("area", list(EXAMPLES))
def test_each_documented_example_meets_the_contract_and_passes_its_area(tmp_path, area):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES[area]), encoding="utf-8")
    checked = check_file(path)
    assert checked.problems == ()
    (gate,) = judge(evaluate(checked.events, [area]), Thresholds())
    assert gate.status == "PASS", [line.text for line in gate.lines if not line.ok]


def test_a_real_engine_run_meets_the_contract(clean, tmp_path):
    path = tmp_path / "events.jsonl"
    write_jsonl(clean, path)
    assert check_file(path).problems == ()
    assert {e.kind for e in clean} >= {"run.start", "lock.ok", "order.fill", "risk.settle", "agg.state"}


@pytest.mark.parametrize(("kind", "payload", "expected"), [
    ("order.fill", {"order": "o", "fill": "f", "side": "BUY", "qty": "1", "price": "2"}, "missing field 'fee'"),
    ("order.fill", {"order": "o", "fill": "f", "side": "HOLD", "qty": "1", "price": "2", "fee": "0"}, "'side'"),
    ("lock.ok", {"op": "acquire", "names": "a", "req": 1}, "field 'names' must be a list"),
    ("agg.state", {"symbols": {"A": {"seq": 1}}}, "['A'] missing field 'trades'"),
    ("risk.trip", {"scope": "symbol", "reason": "x", "value": True, "threshold": "1"}, "'value' must be a decimal"),
])
def test_problems_name_the_kind_and_field(kind, payload, expected):
    raw = {"seq": 1, "mono_ns": 0, "wall": "", "run_id": "r", "worker": "w", "symbol": "A", "kind": kind,
           "payload": payload}
    problem = problems(raw)
    assert problem is not None and problem.startswith(kind) and expected in problem


# -- the published schema says what the validator does ------------------------------------------

jsonschema = pytest.importorskip("jsonschema")
VALIDATOR = jsonschema.Draft202012Validator(json_schema(), format_checker=None)
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**16, 10**16), st.floats(allow_nan=False),
                   st.sampled_from(["", "x", "0", "-1", "1.5", "0E-8", "1e9", "9" * 16, "BUY", "acquire", "P0"]),
                   st.lists(st.sampled_from(["a", 1]), max_size=2), st.dictionaries(st.sampled_from(["a", "b"]),
                                                                                      st.integers(), max_size=2))


def test_the_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_the_schema_accepts_a_real_run(clean):
    for event in clean[:400]:
        VALIDATOR.validate(json.loads(event.to_json()))


@settings(max_examples=3000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 300, deadline=None)
@given(index=st.integers(0, 10_000), key=st.text(min_size=0, max_size=1), value=VALUES, where=st.booleans())
def test_the_schema_and_the_validator_agree(index, key, value, where):
    """One field of one real event replaced: both accept it or both refuse it.

    Except an integral float (``1.0``) where an integer is due: JSON Schema calls it an integer,
    ``harness check`` does not (docs/HISTORY.md says so).
    """
    assume(not (isinstance(value, float) and value.is_integer()))
    events = hb.clean_events(trades=2)
    raw = json.loads(events[index % len(events)].to_json())
    target = raw["payload"] if where and raw["payload"] else raw
    field = sorted(target)[ord(key) % len(target)] if key else sorted(target)[0]
    target[field] = value
    assert (problems(raw) is None) == VALIDATOR.is_valid(raw), (problems(raw), field, value)
