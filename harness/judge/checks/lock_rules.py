"""Lock state-machine rules evidence: each forbidden operation a faulty client sent, and its answer.

A ``nemesis.lock_rule`` event announces a probe (see ``harness.faults.faulty_client``); the probe is
the client's next operation. Its answer is read from the history, not from the nemesis: the
client's completion (``lock.ok`` = honoured, ``lock.fail`` = refused, ``lock.info`` =
unknown) and, when the broker is recorded, the broker's own answer to that request
(``broker.release`` / ``broker.renew`` = honoured, ``broker.refuse`` = refused). Either side
saying "honoured" is a violation.

Figures: ``sent_<rule>``, ``refused_<rule>``, ``honoured_<rule>`` per rule, ``probes_total``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.history.events import (
    BROKER_REFUSE,
    BROKER_RELEASE,
    BROKER_RENEW,
    LOCK_FAIL,
    LOCK_INFO,
    LOCK_INVOKE,
    LOCK_OK,
)
from harness.history.events import LOCK_RULES as RULES
from harness.history.events import NEMESIS_LOCK_RULE as PROBE
from harness.history.log import Event
from harness.judge.checks.locks import event_dict
from harness.judge.evidence import Evidence

AREA = "Lock State-Machine Rules"
HONOURED = {BROKER_RELEASE, BROKER_RENEW, LOCK_OK}
REFUSED = {BROKER_REFUSE, LOCK_FAIL}


def check_lock_rules(events: Sequence[Event]) -> Evidence:
    """Pair every probe with the answers to the operation it announced."""
    announced: dict[Any, tuple[str, Event]] = {}
    probed: dict[tuple[Any, Any], tuple[str, Event]] = {}
    figures: dict[str, Any] = {f"{what}_{rule}": 0 for rule in RULES for what in ("sent", "refused", "honoured")}
    answers: dict[tuple[Any, Any], set[str]] = {}
    for event in events:
        payload = event.payload
        if event.kind == PROBE:
            announced[payload.get("client")] = (str(payload.get("rule")), event)
        elif event.kind == LOCK_INVOKE and event.worker in announced:
            probed[(event.worker, payload.get("req"))] = announced.pop(event.worker)
        elif event.kind.startswith("broker.") or event.kind in (LOCK_OK, LOCK_FAIL, LOCK_INFO):
            client = payload.get("client") if event.kind.startswith("broker.") else event.worker
            key = (client, payload.get("req"))
            if key in probed:
                answers.setdefault(key, set()).add(event.kind)
    violations = []
    for key, (rule, probe) in probed.items():
        said = answers.get(key, set())
        figures[f"sent_{rule}"] = figures.get(f"sent_{rule}", 0) + 1
        if said & HONOURED:
            figures[f"honoured_{rule}"] = figures.get(f"honoured_{rule}", 0) + 1
            violations.append({"reason": f"{rule}: honoured ({', '.join(sorted(said & HONOURED))})",
                               "event": event_dict(probe)})
        elif said & REFUSED:
            figures[f"refused_{rule}"] = figures.get(f"refused_{rule}", 0) + 1
    figures["probes_total"] = len(probed)
    return Evidence(AREA, figures, {"honoured": tuple(violations)} if violations else {})
