"""GuardianPort: the reference guardian with a stricter gross-exposure limit of the user's choosing.

    harness run multi_symbol_stress --guardian harness.examples.ports.guardian:cautious
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from harness.system.guardian.risk import Guardian, RiskLimits
from harness.system.model import SymbolSpec


def cautious(specs: Sequence[SymbolSpec], limits: RiskLimits, **options: Any) -> Guardian:
    """Module level, so process-mode workers can rebuild it; ``options`` are state=, mutex=, history=, ..."""
    stricter = dataclasses.replace(limits, max_gross_exposure=limits.max_gross_exposure * Decimal("0.9"))
    return Guardian(specs, stricter, **options)
