"""Planted races: schedules to the first failure per strategy, and the reference's failures over the same budget.

Races (``harness.explore.planted``), each in two scenarios: a check-then-act guardian
(0.3 ms between its critical sections), an unlocked read-modify-write aggregator with no
schedule point (only tracing shows its gap), and an in-process lock provider that frees each
lock as it grants it. For each strategy and seed, ``explore`` runs up to the default budget
of 200 schedules; a row's samples are the drawn schedules run until the first failure (201:
not found). Target: the default portfolio finds every race on every seed (max <= 200), and
the reference components fail on none of the same schedules.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.runner import Row, Target, level, row
from harness.explore.exploration import DEFAULT_SCHEDULES, Workload, explore
from harness.explore.planted import early_release, short_gap_guardian, table_locks, unmarked_aggregator
from harness.explore.strategies import STRATEGIES
from harness.run.config import load_config
from harness.run.plugins import Plugins
from harness.run.scenario import load as load_scenario
from harness.run.workloads import workload_of
from harness.system.aggregator import MetricsAggregator
from harness.system.guardian.risk import Guardian

GROUP = "races"
RACES = {
    "check-then-act guardian": (Plugins(guardian=short_gap_guardian), ("race_detection", "component_contention")),
    "unlocked aggregator RMW, no point": (Plugins(aggregator=unmarked_aggregator),
                                          ("race_detection", "component_contention")),
    "lock freed before the write": (Plugins(locks=early_release), ("race_detection", "multi_symbol_stress")),
}
REFERENCE = ("race_detection", "component_contention", "multi_symbol_stress")
# The reference components plugged in like a user's (traced, controlled locks): tracing must not cry wolf.
PLUGGED = Plugins(guardian=Guardian, aggregator=MetricsAggregator)
SEEDS = {"tiny": 1, "quick": 3, "full": 10}
REFERENCE_SEEDS = {"tiny": 1, "quick": 1, "full": 10}


def workload(scenario: str, plugins: Plugins) -> Workload:
    """The scenario's controlled workload with ``plugins``."""
    loaded = load_scenario(scenario)
    return workload_of(loaded, loaded.configure(load_config(None)), plugins)


def to_first_failure(work: Workload, seed: int, strategy: str, budget: int = DEFAULT_SCHEDULES) -> int:
    """Drawn schedules run until the first failure (0: the non-preemptive one failed; budget+1: none did)."""
    exploration = explore(work, budget, seed, strategy)
    return exploration.schedules - 1 if exploration.failure else budget + 1


def race_rows(seeds: int, strategies: Sequence[str], budget: int = DEFAULT_SCHEDULES) -> list[Row]:
    """One row per race, scenario and strategy: schedules to the first failure over ``seeds`` seeds."""
    rows = []
    for race, (plugins, scenarios) in RACES.items():
        for scenario in scenarios:
            work = workload(scenario, plugins)
            for strategy in strategies:
                counts = [to_first_failure(work, seed, strategy, budget) for seed in range(seeds)]
                found = sum(1 for c in counts if c <= budget)
                target = Target("max", "<=", budget) if strategy == "portfolio" else None
                rows.append(row(f"schedules to first failure, {strategy} [{race} / {scenario}]", counts, "schedules",
                                target=target, group=GROUP, found=f"{found}/{seeds}"))
    return rows


def reference_rows(seeds: int, budget: int = DEFAULT_SCHEDULES) -> list[Row]:
    """Failures of the reference components over ``seeds`` explorations of ``budget`` schedules each."""
    rows = []
    for scenario in REFERENCE:
        for label, plugins in (("reference", Plugins()), ("reference plugged in", reference_plugins(scenario))):
            work = workload(scenario, plugins)
            failures = sum(1 for seed in range(seeds) if explore(work, budget, seed).failure)
            rows.append(row(f"{label} failures [{scenario}, {seeds} seeds x {budget} schedules]", [failures],
                            "count", target=Target("value", "<=", 0), group=GROUP))
    return rows


def reference_plugins(scenario: str) -> Plugins:
    """The reference guardian, aggregator and (for engine scenarios) lock table, plugged in like a user's."""
    return PLUGGED if scenario == "component_contention" else PLUGGED.replaced(locks=table_locks)


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Every planted race under every strategy (the portfolio only when tiny), then the reference."""
    size = level(quick, tiny)
    strategies = ("portfolio",) if size == "tiny" else STRATEGIES
    tiny = size == "tiny"  # a smoke run: enough to find each race once, a glance at the reference
    return (race_rows(SEEDS[size], strategies, 20 if tiny else DEFAULT_SCHEDULES)
            + reference_rows(REFERENCE_SEEDS[size], 5 if tiny else DEFAULT_SCHEDULES))
