"""An error inside a scenario's run becomes a failing verdict line, never a bare traceback.

Bad input and a service missing at start stay exit 2 (``ConfigError``, ``RunError``,
``ServiceUnavailable``: the run could not be made). Anything else raised while the system
runs -- a service deadline missed under load, a plug-in that breaks mid-run, a bug -- is a
finding about this run: it is judged as the area below, whose gate fails with the error and
where it was raised, so the report, evidence.json and JUnit all carry it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from harness.errors import ConfigError, RunError, ServiceUnavailable, one_line
from harness.history.events import f
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line
from harness.judge.thresholds import Thresholds

AREA = "Scenario Run"
NOT_A_FINDING = (ConfigError, RunError, ServiceUnavailable)
T = TypeVar("T")


@evidence_record
class RunErrorFigures:
    """The error a scenario's run raised, and where."""

    error: str = f("exception type and message, on one line")
    raised_at: str = f("FILE:LINE in FUNCTION of the innermost frame")


def guarded(run: Callable[[Any], T], context: Any) -> T | Evidence[RunErrorFigures]:
    """``run(context)``, or the evidence of the error it raised (bad input re-raised as is)."""
    try:
        return run(context)
    except NOT_A_FINDING:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 -- every other error is this run's finding
        # SystemExit too: a plug-in's sys.exit would otherwise end the harness silently with its code.
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return Evidence(AREA, RunErrorFigures(one_line(f"{type(exc).__name__}: {exc}"),
                                              f"{frame.filename}:{frame.lineno} in {frame.name}"))


def gate_run(ev: Evidence[RunErrorFigures], thresholds: Thresholds) -> GateResult:
    """FAIL with the error: the run did not complete, so none of its other gates could be judged."""
    return GateResult("scenario_run", ev.area, (
        Line(False, f"Scenario raised {ev.figures.error} (at {ev.figures.raised_at}); "
                    f"the run did not complete, so no other area was judged"),))
