"""Controlled schedules: cost of a controlled step against an uncontrolled one, and how varied the schedules are.

Workload: the component_contention scenario with the reference guardian and aggregator,
three threads, ``TRADES`` orders each. Baseline: the same workload on plain threads
released together by a barrier (its scheduling points are no-ops), measured in the same
invocation. A step is one scheduling point passed; an uncontrolled execution passes the
same points, so its time per step is its time over the controlled execution's step count.
Target: a controlled step (the default portfolio, and PCT) costs at most 10x an uncontrolled
one. Random switches worker at almost every step, so it shows the cost of a thread switch.
"""

from __future__ import annotations

from bench.runner import Plan, Row, Target, level, repeat, row, timed
from harness.explore.exploration import Workload, execute, explore, plain_threads
from harness.explore.strategies import make_strategy
from harness.run.config import HarnessConfig, load_config
from harness.run.plugins import Plugins
from harness.run.scenario import load as load_scenario
from harness.run.workloads import workload_of

GROUP = "schedule"
TRADES = {"tiny": 5, "quick": 40, "full": 80}
EXECUTIONS = {"tiny": 3, "quick": 20, "full": 50}


def workload(trades: int) -> tuple[Workload, HarnessConfig]:
    """The component scenario's workload with the reference components."""
    scenario = load_scenario("component_contention")
    config = scenario.configure(load_config(None), {"run": {"trades": trades}})
    return workload_of(scenario, config, Plugins()), config


def uncontrolled(trades: int, executions: int) -> float:
    """Seconds for ``executions`` plain-thread executions of the workload."""
    work, _ = workload(trades)
    return timed(lambda: [work.run(plain_threads, trades) for _ in range(executions)])[0]


def controlled(strategy: str, trades: int, executions: int) -> dict[str, float]:
    """Seconds and steps for ``executions`` controlled executions of the workload."""
    work, _ = workload(trades)
    seconds, runs = timed(lambda: [execute(work, make_strategy(strategy, 1, i, 3, 30 * trades), trades, "bench")
                                   for i in range(executions)])
    return {"seconds": seconds, "steps": sum(len(r.trace.steps) for r in runs)}


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Uncontrolled vs controlled (pct, random) per execution and per step; distinct interleavings."""
    size = level(quick, tiny)
    trades, executions = TRADES[size], EXECUTIONS[size]
    plan = Plan.of(size)

    def once() -> dict[str, float]:
        base = uncontrolled(trades, executions)
        pct, rnd = controlled("pct", trades, executions), controlled("random", trades, executions)
        mix = controlled("portfolio", trades, executions)
        steps = pct["steps"] / executions  # points one execution passes (the same for every runner)
        return {"plain_us": base / executions / steps * 1e6, "pct_us": pct["seconds"] / pct["steps"] * 1e6,
                "portfolio_us": mix["seconds"] / mix["steps"] * 1e6,
                "random_us": rnd["seconds"] / rnd["steps"] * 1e6, "pct_sched_s": executions / pct["seconds"],
                "pct_steps_s": pct["steps"] / pct["seconds"], "steps": steps}

    samples = repeat(once, plan)
    label = f"3 workers x {trades} orders"
    base = row(f"uncontrolled step [{label}]", samples["plain_us"], "us", group=GROUP)
    work, config = workload(trades)
    distinct = explore(work, executions, config.run.seed)
    return [
        base,
        row(f"controlled step, pct [{label}]", samples["pct_us"], "us", baseline=base,
            target=Target("ratio", "<=", 10.0), group=GROUP),
        row(f"controlled step, random [{label}]", samples["random_us"], "us", baseline=base, group=GROUP),
        row(f"controlled step, portfolio [{label}]", samples["portfolio_us"], "us", baseline=base,
            target=Target("ratio", "<=", 10.0), group=GROUP),
        row(f"controlled schedules/s, pct [{label}]", samples["pct_sched_s"], "1/s", group=GROUP),
        row(f"controlled steps/s, pct [{label}]", samples["pct_steps_s"], "1/s", group=GROUP),
        row(f"distinct interleavings, pct [{distinct.schedules} schedules]",
            [distinct.distinct / distinct.schedules], "fraction", group=GROUP),
    ]
