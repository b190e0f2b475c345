"""Guardian persistence: the stress run with all three layers on real Redis and PostgreSQL.

Every event goes through the writer's bounded queue to the Redis cache, the PostgreSQL
history (TimescaleDB hypertable where the extension exists, native partitions otherwise)
and the checkpoint log. The verdict is read back from the database and the log: every
event produced is there exactly once. The run's schema and keys are removed afterwards.
"""

from harness.judge.checks.persistence import check_persistence
from harness.run.scenario import STANDARD_AREAS, Scenario, ScenarioContext, Trial
from harness.system.guardian.persistence import PersistenceConfig, session
from harness.system.guardian.services import resolve, skip_or_fail
from harness.system.ports import ENGINE_PARTS, PersistedGuardianPort


def run(ctx: ScenarioContext) -> Trial:
    """One persisted run; evidence from what the layers hold afterwards."""
    config, plugins = ctx.config.run, ctx.plugins
    directory = ctx.out_dir / "persistence"
    # A layer given as a plug-in (--cache, --store) replaces the server it would need.
    cache = plugins.cache(ctx.run_id, directory) if plugins.cache else None
    store = plugins.store(ctx.run_id, directory) if plugins.store else None
    layers = PersistenceConfig.for_run(directory, ctx.run_id, redis_url=None if cache else resolve("redis").url,
                                       database_url=None if store else resolve("postgres").url)
    with session(layers, ctx.run_id, config.symbols, config.limits, cache=cache, store=store) as persistence:
        result = ctx.run_engine(persistence=persistence)
        persistence.close()
        persisted = persistence.persisted()  # before the events: an unreachable layer is recorded in them
        events = result.events()
        evidence = check_persistence(events, persisted, persistence.contents(), persistence.cached())
    return Trial(events, (evidence,))


SCENARIO = Scenario(
    name="guardian_persistence",
    title="Guardian Persistence: Redis cache, PostgreSQL history, checkpoint log",
    description=__doc__.splitlines()[0],
    run=run,
    areas=STANDARD_AREAS,
    settings={"run": {"trades": 60}},
    accepts=ENGINE_PARTS | {"store", "cache"},
    needs={"guardian": PersistedGuardianPort},
)


def test_guardian_persistence(harness_scenario) -> None:
    """Every event persisted exactly once in the database and the checkpoint log."""
    skip_or_fail("redis")
    skip_or_fail("postgres")
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
