"""docs/evidence.schema.json: generated from the records evidence.json is written from; real runs fit it."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from typing import Any

import jsonschema
import pytest

from harness.judge.areas import AREAS as REGISTRY
from harness.judge.areas import GATES
from harness.judge.checks.feed_coverage import AREA as COVERAGE_AREA
from harness.judge.checks.feed_coverage import gate_feed_coverage
from harness.report import schema
from harness.report.records import from_json
from harness.report.writer import EvidenceDocument
from harness.run.guard import AREA as RUN_AREA
from harness.run.guard import gate_run
from harness.run.scenario import available, load
from tests import _history_builders as hb

SCENARIOS = ("multi_symbol_stress", "component_contention")  # the standard areas, and a scenario's own


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Small real runs, reported: each scenario's verdict and its report directory."""
    root = tmp_path_factory.mktemp("evidence")
    return {name: (hb.run_scenario(root / name, name, trades=3), root / name) for name in SCENARIOS}


def published() -> dict[str, Any]:
    """The schema as published in docs/."""
    return json.loads((schema.DOCS / schema.SCHEMA_FILE).read_text(encoding="utf-8"))


def test_the_published_schema_is_generated_from_the_records():
    ((path, text),) = schema.outputs().items()
    assert path.read_text(encoding="utf-8") == text, "run: python -m harness.report.schema --write-docs"


def test_check_docs_reports_drift(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("harness.report.schema.DOCS", tmp_path)
    assert schema.main(["--check-docs"]) == 1
    assert schema.main(["--write-docs"]) == 0
    assert schema.main(["--check-docs"]) == 0
    (tmp_path / schema.SCHEMA_FILE).write_text("{}\n", encoding="utf-8")
    capsys.readouterr()
    assert schema.main(["--check-docs"]) == 1
    assert "evidence.schema.json: out of date" in capsys.readouterr().out


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_real_runs_evidence_json_fits_the_published_schema(runs, name):
    _, out = runs[name]
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in jsonschema.Draft202012Validator(published()).iter_errors(hb.evidence_json(out))]
    assert errors == []


def test_a_renamed_or_retyped_figure_does_not_fit(runs):
    _, out = runs["multi_symbol_stress"]
    validator = jsonschema.Draft202012Validator(published())
    doc = hb.evidence_json(out)
    locks = doc["evidence"]["Lock Atomicity"]["figures"]
    locks["overlapz"] = locks.pop("overlaps")
    assert not validator.is_valid(doc)
    doc = hb.evidence_json(out)
    doc["evidence"]["Performance Metrics"]["figures"]["total_trades"] = "12"
    assert not validator.is_valid(doc)


@pytest.mark.parametrize("name", SCENARIOS)
def test_evidence_json_reads_back_into_the_same_records(runs, name):
    verdict, out = runs[name]
    recorded = hb.evidence_json(out)["evidence"]
    for ev in verdict.evidence:
        assert from_json(type(ev.figures), recorded[ev.area]["figures"]) == ev.figures, ev.area


def _figures_record(gate: Any) -> type:
    """The figures record a gate's first parameter is annotated with (``Evidence[X]`` -> X)."""
    first = next(iter(inspect.signature(gate).parameters))
    (record,) = typing.get_args(typing.get_type_hints(gate)[first])
    return record


def test_the_schema_names_the_record_every_gate_reads():
    gates = {**GATES, RUN_AREA: gate_run, COVERAGE_AREA: gate_feed_coverage}
    for name in available():
        gates.update(load(name).extra_gates)
    assert {area: _figures_record(gate) for area, gate in gates.items()} == {
        area: records[0] for area, records in schema.AREAS.items() if area in gates}
    assert {area.name for area in REGISTRY.values()} <= set(schema.AREAS)


def test_every_record_has_its_own_name_in_the_schema():
    seen: dict[str, type] = {}

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp):
            visit(arg)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp not in seen.values():
            assert seen.setdefault(tp.__name__, tp) is tp, f"two records named {tp.__name__}"
            for hint in typing.get_type_hints(tp).values():
                visit(hint)

    visit(EvidenceDocument)
    for records in schema.AREAS.values():
        for record in records:
            visit(record)
    assert set(seen) - {"EvidenceDocument"} == set(published()["$defs"])  # the document itself is the root
