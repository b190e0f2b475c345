"""Risk guardian: exposure limits, circuit breakers, health -- and its persistence layers."""

from harness.system.guardian.risk import (
    BreakerLimits,
    Discipline,
    Guardian,
    GuardianSnapshot,
    Health,
    Refusal,
    Reservation,
    RiskLimits,
    breaker_trip,
    state_size,
)

__all__ = [
    "BreakerLimits", "Discipline", "Guardian", "GuardianSnapshot", "Health", "Refusal", "Reservation",
    "RiskLimits", "breaker_trip", "state_size",
]
