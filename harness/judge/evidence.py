"""Evidence: the facts a checker computed from a history, before any threshold is applied.

A checker is a pure function ``History -> Evidence``. It reports figures (counts, totals,
rates, verdicts such as ``"true" | "false" | "unknown"``) and, for every defect it looked
for, the offending events or items -- empty when it found none. Gates (``harness.judge.gates``)
judge figures against thresholds from config; keeping the two apart lets thresholds change
without touching a check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """Figures and counterexamples of one evidence area."""

    area: str
    figures: Mapping[str, Any]
    violations: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def figure(self, name: str) -> Any:
        """One figure by name (KeyError names the area when absent)."""
        try:
            return self.figures[name]
        except KeyError:
            raise KeyError(f"{self.area}: no figure {name!r}") from None

    def counterexample(self, name: str) -> tuple[Mapping[str, Any], ...]:
        """Offending items recorded for a check (empty when it found none)."""
        return self.violations.get(name, ())
