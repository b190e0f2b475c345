"""Evidence: the facts a checker computed from a history, before any threshold is applied.

A checker is a pure function ``History -> Evidence[F]``. Its figures (counts, totals, rates,
verdicts such as ``"true" | "false" | "unknown"``) are a frozen record ``F`` of the area --
``LockFigures``, ``RiskFigures``, ... defined next to the checker that computes them -- so a
gate, the report or a test reads ``ev.figures.overlaps`` and a renamed figure is a type
error, not a KeyError at run time. For every defect it looked for, a checker also keeps the
offending events or items -- empty when it found none. Gates (``harness.judge.gates``) judge
figures against thresholds from config; keeping the two apart lets thresholds change without
touching a check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, dataclass_transform

from harness.history.events import f

F = TypeVar("F")
# Evidence is read-only, so Evidence[LockFigures] is an Evidence[object] (one tuple holds every area's).
F_co = TypeVar("F_co", covariant=True)
T = TypeVar("T", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(f,))
def evidence_record(cls: T) -> T:
    """A record of evidence (an area's figures, evidence.json's parts): a frozen dataclass made in place.

    Its fields say what they mean and in which unit (``f``), for docs/evidence.schema.json; the
    transform tells the type checker that ``f`` declares a field, so a figure left out of a
    constructor call is an error there too (an optional one passes ``default=``).
    """
    dataclass(frozen=True)(cls)
    return cls


@dataclass(frozen=True)
class Evidence(Generic[F_co]):
    """Figures and counterexamples of one evidence area."""

    area: str
    figures: F_co
    violations: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    vacuous: bool = False  # the history held none of what the area judges: its figures are trivially clean

    def counterexample(self, name: str) -> tuple[Mapping[str, Any], ...]:
        """Offending items recorded for a check (empty when it found none)."""
        return self.violations.get(name, ())


def figures_of(evidence: Iterable[Evidence[object]], area: str, record: type[F]) -> F | None:
    """The figures ``area`` recorded, when they are a ``record`` (None: no such area, or not applicable)."""
    return next((ev.figures for ev in evidence if ev.area == area and isinstance(ev.figures, record)), None)
