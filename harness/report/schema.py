"""The JSON Schema of evidence.json, generated from the records it is written from.

    python -m harness.report.schema --write-docs     # regenerate docs/evidence.schema.json
    python -m harness.report.schema --check-docs     # exit 1 if it differs from the code

The document is ``harness.report.writer.EvidenceDocument``; each area's figures are the
frozen record its checker returns (``AREAS`` below names it per area, standard areas also
the ``NotApplicable`` record of an area the history gave no input). Field docs and units
come from the records' field metadata, as for ``docs/history.schema.json``. Every record is
closed (``additionalProperties: false``): the harness writes exactly its fields.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness.cli.schedules import AREA as SCHEDULES_AREA
from harness.cli.schedules import ExplorationFigures, ReplayFigures
from harness.faults.nemesis import AREA as FAULT_ROWS_AREA
from harness.faults.nemesis import FaultRowsFigures
from harness.history.docs import DOCS, docs_command
from harness.history.schema import record_schema, type_schema
from harness.judge.areas import AREAS as REGISTRY
from harness.judge.areas import NotApplicable
from harness.judge.checks.coverage import AREA as MACHINES_AREA
from harness.judge.checks.coverage import CoverageFigures
from harness.judge.checks.faults import AREA as LOCK_FAULTS_AREA
from harness.judge.checks.faults import FaultFigures
from harness.judge.checks.feed_coverage import AREA as FEED_AREA
from harness.judge.checks.feed_coverage import FeedCoverageFigures
from harness.judge.checks.lock_rules import AREA as LOCK_RULES_AREA
from harness.judge.checks.lock_rules import LockRulesFigures
from harness.judge.checks.locks import LockFigures
from harness.judge.checks.perf import PerfFigures
from harness.judge.checks.persistence import AREA as PERSISTENCE_AREA
from harness.judge.checks.persistence import PersistenceFigures
from harness.judge.checks.pnl import AggregatorFigures
from harness.judge.checks.races import RaceFigures
from harness.judge.checks.risk import RiskFigures
from harness.report.writer import SCHEMA, AreaRecord, EvidenceDocument
from harness.run.crash import AREA as CRASH_AREA
from harness.run.guard import AREA as RUN_AREA
from harness.run.guard import RunErrorFigures
from harness.scenarios.component_contention import AREA as COMPONENT_AREA
from harness.scenarios.component_contention import ComponentFigures
from harness.scenarios.crash_recovery import CrashFigures
from harness.scenarios.pnl_consistency import DISORDER_AREA, REPLACE_AREA, DisorderFigures
from harness.scenarios.race_detection import CONTROL_AREA, ControlFigures
from harness.scenarios.symbol_isolation import AREA as FAILURE_AREA
from harness.scenarios.symbol_isolation import FailureFigures

SCHEMA_FILE = "evidence.schema.json"
SCHEMA_ID = "https://github.com/harness/harness/docs/evidence.schema.json"
# A figure is computed, not typed in: a ratio keeps every digit Decimal gave it (str(Decimal) spelling).
LEAVES = {Decimal: {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?(E[+-][0-9]+)?$",
                    "description": "decimal, its exact digits as a string"}}

# The figures record of each area, by the registry key of the standard ones.
STANDARD = {"locks": LockFigures, "races": RaceFigures, "performance": PerfFigures, "aggregator": AggregatorFigures,
            "risk": RiskFigures}
# Every area a packaged scenario or command writes, and the records its figures may be.
AREAS: Mapping[str, tuple[type, ...]] = {
    **{REGISTRY[key].name: (record, NotApplicable) for key, record in STANDARD.items()},
    PERSISTENCE_AREA: (PersistenceFigures,),
    FEED_AREA: (FeedCoverageFigures,),
    MACHINES_AREA: (CoverageFigures,),
    RUN_AREA: (RunErrorFigures,),
    SCHEDULES_AREA: (ExplorationFigures, ReplayFigures),
    LOCK_RULES_AREA: (LockRulesFigures,),
    CRASH_AREA: (CrashFigures,),
    FAULT_ROWS_AREA: (FaultRowsFigures,),
    LOCK_FAULTS_AREA: (FaultFigures,),
    COMPONENT_AREA: (ComponentFigures,),
    REPLACE_AREA: (AggregatorFigures,),
    DISORDER_AREA: (DisorderFigures,),
    CONTROL_AREA: (ControlFigures,),
    FAILURE_AREA: (FailureFigures,),
}


def json_schema() -> dict[str, Any]:
    """The whole evidence.json contract: the document, and each area's figures by area name."""
    defs: dict[str, Any] = {}
    document = record_schema(EvidenceDocument, defs, LEAVES)
    area = type_schema(AreaRecord, defs, LEAVES)
    document["properties"]["schema"]["const"] = SCHEMA
    document["properties"]["evidence"]["properties"] = {
        name: {"allOf": [area, {"properties": {"figures": _one_of(records, defs)}}]}
        for name, records in AREAS.items()
    }
    for schema in (document, *defs.values()):
        schema["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "harness evidence.json: every figure and verdict of one run",
        "version": SCHEMA,
        **document,
        "$defs": dict(sorted(defs.items())),
    }


def _one_of(records: Sequence[type], defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of a value that is one of ``records``."""
    refs = [type_schema(record, defs, LEAVES) for record in records]
    return refs[0] if len(refs) == 1 else {"anyOf": refs}


def render_schema() -> str:
    """The schema file's text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def outputs(docs: Path | None = None) -> dict[Path, str]:
    """The generated file and the text it must hold (in ``docs/`` of the source tree by default)."""
    return {(docs or DOCS) / SCHEMA_FILE: render_schema()}


def main(argv: Sequence[str]) -> int:
    """--write-docs: write the schema; --check-docs: exit 1 when it drifted from the records."""
    return docs_command(argv, outputs, "harness.report.schema")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
