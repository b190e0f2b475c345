"""Project-level pytest wiring: collect every scenario file as a test module.

Scenario files are named for what they stress (``harness/scenarios/race_detection.py``), not
``test_*.py``, so pytest is told to collect them here.
"""

from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "harness" / "scenarios"


def pytest_collect_file(parent: pytest.Collector, file_path: Path):
    # A file named on the command line is collected by pytest itself; adding it here would
    # collect it twice.
    if (file_path.suffix == ".py" and file_path.parent == SCENARIOS and not file_path.name.startswith("_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None

pytest_plugins = ["pytester"]  # tests/plugins run the harness plugin in an outside project
