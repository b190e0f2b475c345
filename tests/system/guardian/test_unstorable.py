"""Any text a run records reaches every layer: one NUL or lone surrogate never costs a batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.history.log import Event
from harness.system.feed import seeded_feed
from harness.system.guardian.persistence import PersistenceConfig, run_persisted
from harness.system.guardian.services import ServiceInfo
from harness.system.guardian.store import open_store
from harness.system.guardian.writer import Writer
from harness.system.locks.local import LockTable
from harness.system.settings import RunConfig
from tests.system.guardian.conftest import make_events, unique

CONFIG = RunConfig(trades=20, seed=5)
VICTIM = CONFIG.symbols[0].name
MESSAGE = "venue said \x00 then \udc80"


def failing_feed(spec, seed):
    """The seeded walk, but the victim's feed fails with text no database holds."""
    for tick in seeded_feed(spec, seed):
        if spec.name == VICTIM and tick.index == 40:
            raise RuntimeError(MESSAGE)
        yield tick


@pytest.mark.services
def test_a_nul_in_a_plugin_error_loses_no_event_in_postgres(tmp_path: Path, postgres: ServiceInfo, redis_service,
                                                             schema: str) -> None:
    config = PersistenceConfig(tmp_path, redis_url=redis_service.url, database_url=postgres.url, schema=schema,
                               key_prefix=unique("harness_test"))
    result, persistence = run_persisted(CONFIG, LockTable(), config, feed=failing_feed)
    try:
        events = result.events()
        (error,) = [e for e in events if e.kind == "worker.error"]
        assert error.payload["error"] == "RuntimeError: venue said \\x00 then \\udc80"  # visible, storable
        assert persistence.store.read_events(result.run_id) == events  # every event, exactly as recorded
        assert persistence.writer.statistics().layers["postgres"].quarantined == 0
    finally:
        persistence.cache.clear()
        persistence.release()


@pytest.mark.services
def test_an_event_the_server_refuses_is_quarantined_alone(tmp_path: Path, postgres: ServiceInfo, schema: str) -> None:
    store = open_store(postgres.url, sqlite_path=tmp_path / "unused.db", schema=schema)
    store.setup()
    events = make_events(100)
    raw = events[37]  # built past the recorder (another program's history): a raw NUL in its text
    events[37] = Event(raw.seq, raw.mono_ns, raw.wall, raw.run_id, raw.worker, raw.symbol, raw.kind, {"error": "\x00"})
    writer = Writer([store], tmp_path / "spill", batch_size=64, max_delay_s=0.001)
    for event in events:
        writer.offer(event)
    assert writer.close(30)
    try:
        assert store.read_seqs("run-test") == [e.seq for e in events if e.seq != raw.seq]
        (line,) = (tmp_path / "spill" / "quarantine-postgres.jsonl").read_text(encoding="utf-8").splitlines()
        kept = json.loads(line)
        assert kept["seq"] == raw.seq and "refused the data" in kept["reason"]
        assert Event.from_json(kept["event"]) == events[37]
        stats = writer.statistics().layers["postgres"]
        assert (stats.quarantined, stats.up, stats.written) == (1, True, 99)
    finally:
        store.close()
