"""Guardian persistence: the stress run with all three layers on real Redis and PostgreSQL.

Every event goes through the writer's bounded queue to the Redis cache, the PostgreSQL
history (TimescaleDB hypertable where the extension exists, native partitions otherwise)
and the checkpoint log. The verdict is read back from the database and the log: every
event produced is there exactly once. The run's schema and keys are removed afterwards.
"""

from harness.checks.persistence import check_persistence
from harness.guardian.persistence import PersistenceConfig, session
from harness.scenario import STANDARD_AREAS, Scenario, ScenarioContext, Trial
from harness.services import resolve, skip_or_fail


def persistence_config(ctx: ScenarioContext, **overrides) -> PersistenceConfig:
    """Layers on the real services, under a schema and key prefix unique to this run."""
    redis, postgres = resolve("redis"), resolve("postgres")
    schema = "h_" + "".join(ch if ch.isalnum() else "_" for ch in ctx.run_id.lower())[-50:]
    return PersistenceConfig(ctx.out_dir / "persistence", redis_url=redis.url, database_url=postgres.url,
                             schema=schema, key_prefix=f"harness:{ctx.run_id}", **overrides)


def run(ctx: ScenarioContext) -> Trial:
    """One persisted run; evidence from what the layers hold afterwards."""
    config = ctx.config.run
    with session(persistence_config(ctx), ctx.run_id, config.symbols, config.limits) as persistence:
        result = ctx.run_engine(persistence=persistence)
        persistence.close()
        events = result.events()
        evidence = check_persistence(events, persistence.persisted())
    return Trial(events, (evidence,))


SCENARIO = Scenario(
    name="guardian_persistence",
    title="Guardian Persistence: Redis cache, PostgreSQL history, checkpoint log",
    description=__doc__.splitlines()[0],
    run=run,
    areas=STANDARD_AREAS,
    settings={"run": {"trades": 60}},
)


def test_guardian_persistence(harness_scenario) -> None:
    """Every event persisted exactly once in the database and the checkpoint log."""
    skip_or_fail("redis")
    skip_or_fail("postgres")
    verdict = harness_scenario(SCENARIO)
    assert verdict.passed, verdict.command
