"""Faults on the lock path: was each declared fault injected and healed, did it bite, what did it do.

A pure function of the history. A fault window runs from a ``fault.inject`` to the
``fault.heal`` of the same row. A pause *bit* when the broker expired a lease of the paused
worker while it was stopped (before its next lock operation) -- the situation fencing exists for. Its effect is what the fenced
resources did with that worker's writes after the inject: a stale write rejected is fencing
working; a write accepted under a token whose lease had expired is a stale write let
through (the holder went on writing after its lease). A fault that never bit is a failed
fact, not a pass: the run did not test what it claims.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.history.events import (
    BROKER_EXPIRE,
    FAULT_HEAL,
    FAULT_INJECT,
    FENCE_ACCEPT,
    FENCE_REJECT,
    LOCK_INVOKE,
    LOCK_OK,
    f,
)
from harness.history.log import Event
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line

AREA = "Faults"
KEEP = 10


@evidence_record
class FaultWindow:
    """One injected fault: its window (seq), whether it bit, and what the resources did after it."""

    row: str = f("the fault's name")
    fault: str = f("what: pause, partition, delay, broker-restart, clock-jump")
    target: str = f("the worker it hit")
    injected_seq: int = f("seq of its fault.inject", "seq")
    healed_seq: int | None = f("seq of its fault.heal (None: never healed)", "seq")
    expired: int = f("leases of the target the broker expired while it was stopped (before its next lock "
                     "operation)", "count")
    taken: int = f("locks the target held that other workers acquired while it was stopped", "count")
    rejected: int = f("the target's stale writes a resource rejected after the inject", "count")
    accepted_stale: int = f("the target's writes accepted under a token whose lease had expired", "count")

    @property
    def bit(self) -> bool:
        """The fault did what it is for: a lease ran out under the stopped holder, or its lock went to another."""
        return self.expired > 0 or self.taken > 0


@evidence_record
class FaultFigures:
    """Every lock-path fault of the run, against what was declared."""

    declared: tuple[str, ...] = f("faults the run declared (--nemesis)")
    rounds: int = f("injections declared per fault", "count")
    windows: tuple[FaultWindow, ...] = f("each injected fault, in order")

    @property
    def rejected(self) -> int:
        """Stale writes rejected after a fault, over all faults."""
        return sum(w.rejected for w in self.windows)

    @property
    def accepted_stale(self) -> int:
        """Stale writes accepted after a fault, over all faults."""
        return sum(w.accepted_stale for w in self.windows)


def check_lock_faults(events: Sequence[Event], declared: Sequence[str], rounds: int) -> Evidence[FaultFigures]:
    """Each fault window of the history, with its bite and its effect on the fenced resources."""
    injects = [e for e in events if e.kind == FAULT_INJECT and e.payload.get("target") is not None]
    heals = {e.payload.get("row"): e.seq for e in events if e.kind == FAULT_HEAL}
    windows, stale = [], []
    for i, inject in enumerate(injects):
        # The target's writes count for this fault until the same worker is hit again.
        until = next((e.seq for e in injects[i + 1:] if e.payload["target"] == inject.payload["target"]), None)
        window, found = _window(events, inject, heals.get(inject.payload.get("row")), until)
        windows.append(window)
        stale += found
    figures = FaultFigures(tuple(declared), rounds, tuple(windows))
    violations = {"accepted_stale": tuple(_dict(e) for e in stale[:KEEP])} if stale else {}
    return Evidence(AREA, figures, violations)


def _window(events: Sequence[Event], inject: Event, healed: int | None,
            until: int | None) -> tuple[FaultWindow, list[Event]]:
    target = str(inject.payload["target"])
    held = _held(events, target, inject.seq)
    awake = False  # the target's first lock operation after the inject ends its stop
    expired_tokens: set[tuple[str, int | None]] = set()
    taken, rejected, stale = 0, 0, []
    for event in events:
        if until is not None and event.seq >= until:
            break
        if event.seq <= inject.seq:
            continue
        payload = event.payload
        if event.worker != target:
            if not awake and _acquired(event) & held:
                taken += 1
            if event.kind != BROKER_EXPIRE:
                continue
        awake = awake or (event.worker == target and event.kind == LOCK_INVOKE)
        if event.kind == BROKER_EXPIRE and payload.get("client") == target and not awake:
            expired_tokens.add((str(payload.get("name")), payload.get("token")))
        elif event.kind == FENCE_REJECT:
            rejected += 1
        elif event.kind == FENCE_ACCEPT and (str(payload.get("lock")), payload.get("token")) in expired_tokens:
            stale.append(event)
    window = FaultWindow(
        row=str(inject.payload.get("row")), fault=str(inject.payload.get("fault")), target=target,
        injected_seq=inject.seq, healed_seq=healed, expired=len(expired_tokens), taken=taken, rejected=rejected,
        accepted_stale=len(stale),
    )
    return window, stale


def _acquired(event: Event) -> set[str]:
    """Names an acquire's lock.ok took (empty for any other event)."""
    if event.kind != LOCK_OK or event.payload.get("op") != "acquire":
        return set()
    return {str(name) for name in event.payload.get("names") or ()}


def _held(events: Sequence[Event], target: str, before: int) -> set[str]:
    """Names ``target`` held just before seq ``before`` (taken by lock.ok, given up at a release's invoke)."""
    held: set[str] = set()
    for event in events:
        if event.seq >= before:
            break
        if event.worker != target:
            continue
        if event.kind == LOCK_INVOKE and event.payload.get("op") == "release":
            held -= {str(name) for name in event.payload.get("names") or ()}
        held |= _acquired(event)
    return held


def _dict(event: Event) -> dict[str, object]:
    return {"seq": event.seq, "kind": event.kind, "worker": event.worker, **event.payload}


def gate_lock_faults(ev: Evidence[FaultFigures], thresholds: object = None) -> GateResult:
    """Every declared fault injected ``rounds`` times and healed; each bit; stale writes rejected, none accepted."""
    figures = ev.figures
    lines = [_declared_line(figures, name) for name in figures.declared]
    for w in figures.windows:
        healed = "healed" if w.healed_seq is not None else "NEVER healed"
        lines.append(Line(w.healed_seq is not None and w.bit and w.accepted_stale == 0,
                          f"{w.row}: {w.fault} of {w.target} at seq {w.injected_seq}, {healed}; "
                          f"{w.expired} lease(s) expired under it, {w.taken} lock(s) taken by others"
                          f"{'' if w.bit else ' (the fault never bit)'}, "
                          f"{w.rejected} stale write(s) rejected, {w.accepted_stale} accepted"))
    if figures.windows:
        lines.append(Line(figures.rejected > 0, f"Stale writes rejected by fenced resources: {figures.rejected} "
                                                 f"(> 0: proof the faults reached the writers)"))
        lines.append(Line(figures.accepted_stale == 0, f"Stale writes accepted: {figures.accepted_stale}"))
    return GateResult("faults", ev.area, tuple(lines), dict(ev.violations))


def _declared_line(figures: FaultFigures, name: str) -> Line:
    done = [w for w in figures.windows if w.fault == name]
    ok = len(done) >= figures.rounds and all(w.healed_seq is not None for w in done)
    return Line(ok, f"{name}: declared {figures.rounds}x, injected {len(done)}x, "
                    f"healed {sum(w.healed_seq is not None for w in done)}x")
