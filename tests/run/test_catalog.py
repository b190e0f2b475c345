"""The scenario catalogue: titles read from source agree with the scenarios' own, or are not guessed."""

from __future__ import annotations

import pytest

from harness.run.catalog import available, literal_title
from harness.run.scenario import load


@pytest.mark.parametrize("name", sorted(available()))
def test_a_title_read_from_source_is_the_scenarios_own(name):
    assert literal_title(available()[name]) == load(name).title


def test_a_title_that_is_not_a_literal_is_left_to_the_import(tmp_path, monkeypatch):
    (tmp_path / "computed.py").write_text('TITLE = "made"\nSCENARIO = Scenario(\n    name="c",\n    title=TITLE,\n)\n')
    (tmp_path / "literal.py").write_text('SCENARIO = Scenario(\n    name="l",\n    title="Said "\n    "twice",\n)\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert literal_title("computed:SCENARIO") is None
    assert literal_title("literal:SCENARIO") == "Said twice"
    assert literal_title("literal:OTHER") is None
    assert literal_title("no_such_module_anywhere:SCENARIO") is None
