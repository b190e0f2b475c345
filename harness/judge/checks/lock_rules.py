"""Lock state-machine rules evidence: each forbidden operation a faulty client sent, and its answer.

A ``nemesis.lock_rule`` event announces a probe (see ``harness.faults.faulty_client``); the probe is
the client's next operation. Its answer is read from the history, not from the nemesis: the
client's completion (``lock.ok`` = honoured, ``lock.fail`` = refused, ``lock.info`` =
unknown) and, when the broker is recorded, the broker's own answer to that request
(``broker.release`` / ``broker.renew`` = honoured, ``broker.refuse`` = refused). Either side
saying "honoured" is a violation.

Figures: ``LockRulesFigures`` below, one row per rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from harness.history.events import (
    BROKER_REFUSE,
    BROKER_RELEASE,
    BROKER_RENEW,
    LOCK_FAIL,
    LOCK_INFO,
    LOCK_INVOKE,
    LOCK_OK,
    f,
)
from harness.history.events import LOCK_RULES as RULES
from harness.history.events import NEMESIS_LOCK_RULE as PROBE
from harness.history.log import Event
from harness.judge.checks.locks import event_dict
from harness.judge.evidence import Evidence, evidence_record

AREA = "Lock State-Machine Rules"
HONOURED = {BROKER_RELEASE, BROKER_RENEW, LOCK_OK}
REFUSED = {BROKER_REFUSE, LOCK_FAIL}


@evidence_record
class RuleFigures:
    """The probes of one forbidden operation and how they were answered."""

    sent: int = f("probes sent", "count")
    refused: int = f("probes refused (lock.fail or broker.refuse)", "count")
    honoured: int = f("probes honoured by the client's or the broker's answer (a violation)", "count")


@evidence_record
class LockRulesFigures:
    """Every forbidden operation a faulty client sent, per rule."""

    rules: Mapping[str, RuleFigures] = f("each rule of LOCK_RULES, and any other a probe named")
    probes_total: int = f("probes sent of every rule", "count")


def check_lock_rules(events: Sequence[Event]) -> Evidence[LockRulesFigures]:
    """Pair every probe with the answers to the operation it announced."""
    announced: dict[Any, tuple[str, Event]] = {}
    probed: dict[tuple[Any, Any], tuple[str, Event]] = {}
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
    sent: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    honoured: Counter[str] = Counter()
    for key, (rule, probe) in probed.items():
        said = answers.get(key, set())
        sent[rule] += 1
        if said & HONOURED:
            honoured[rule] += 1
            violations.append({"reason": f"{rule}: honoured ({', '.join(sorted(said & HONOURED))})",
                               "event": event_dict(probe)})
        elif said & REFUSED:
            refused[rule] += 1
    rules = {rule: RuleFigures(sent[rule], refused[rule], honoured[rule]) for rule in dict.fromkeys((*RULES, *sent))}
    return Evidence(AREA, LockRulesFigures(rules, len(probed)), {"honoured": tuple(violations)} if violations else {})
