"""Figures are typed records: a reader of a renamed or misspelled figure fails the type check, not a run."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]
# A gate-like reader of the lock figures: one right, one misspelled, one that skipped narrowing the area.
READER = """\
from harness.judge.checks.locks import LockFigures
from harness.judge.evidence import Evidence


def right(ev: Evidence[LockFigures]) -> int:
    return ev.figures.overlaps


def misspelled(ev: Evidence[LockFigures]) -> int:
    return ev.figures.overlapz


def not_narrowed(ev: Evidence[object]) -> int:
    return ev.figures.pairs_total
"""


def test_mypy_reports_a_figure_its_record_does_not_have(tmp_path, monkeypatch):
    module = tmp_path / "reader.py"
    module.write_text(READER, encoding="utf-8")
    monkeypatch.setenv("MYPYPATH", str(ROOT))  # the harness from this checkout, whatever the working directory
    out, err, _ = api.run(["--config-file=", "--no-incremental", "--follow-imports=silent", str(module)])
    source = READER.splitlines()
    found = {source[int(line) - 1].strip(): message
             for line, message in re.findall(r"reader\.py:(\d+): error: (.*)", out)}
    assert set(found) == {"return ev.figures.overlapz", "return ev.figures.pairs_total"}, out + err
    assert '"LockFigures" has no attribute "overlapz"' in found["return ev.figures.overlapz"]
    assert '"object" has no attribute "pairs_total"' in found["return ev.figures.pairs_total"]
