"""``harness drain DIR``: write what a run kept in its spill because a service was down at its end.

A run whose history store was still unreachable when it ended keeps the events it could not
write in ``persistence/spill/spill-<layer>.jsonl`` and says so in its report, with this
command. Draining goes through the same writer lane as the run (front to back, idempotent by
seq), so running it twice, or after a partial drain, doubles nothing. A run that was to
remove its data from the shared servers (``cleanup-pending.txt``) is cleaned up instead:
its spill is then moot. The cache's spill is the live state of a run that has ended; it is
reported, not replayed (the history store and the checkpoint hold every event).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from harness.errors import ConfigError
from harness.system.guardian.checkpoint import read_log
from harness.system.guardian.manifest import CLEANUP_FILE, MANIFEST, Manifest, read_manifest
from harness.system.guardian.writer import Writer


def add_drain_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``harness drain``."""
    parser.add_argument("path", type=Path, help="a run directory (or its persistence/ directory)")
    parser.add_argument("--database-url", help="the history store's URL, with its password if it needs one")
    parser.add_argument("--redis-url", help="the cache's URL (only used to finish a pending cleanup)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to keep trying (default 30)")


def persistence_dir(path: Path) -> Path:
    """The directory holding ``layers.json``: ``path`` itself or a folder below it."""
    if (path / MANIFEST).is_file():
        return path
    found = sorted(p.parent for p in path.glob(f"**/{MANIFEST}")) if path.is_dir() else []
    if len(found) != 1:
        raise ConfigError(f"{path}: {'no' if not found else 'more than one'} run persistence directory "
                          f"({MANIFEST}) found under it")
    return found[0]


def run_drain(args: argparse.Namespace) -> int:
    """Entry point: 0 when nothing is left to write, 2 with one line when a service is still down."""
    if not 0 < args.timeout <= 3600:
        raise ConfigError(f"--timeout: expected seconds between 0 and 3600, got {args.timeout}")
    directory = persistence_dir(args.path)
    manifest = read_manifest(directory)
    spill_dir = directory / "spill"
    for spill in sorted(spill_dir.glob("spill-redis*.jsonl")):
        count = len(read_log(spill, repair=False).events)
        if count:
            print(f"redis: {count} spilled events are the live state of a run that has ended: not replayed "
                  f"(the history store and checkpoint hold them); left in {spill}")
    if (directory / CLEANUP_FILE).is_file():
        return _cleanup(directory, manifest, args)
    return _drain_store(spill_dir, manifest, args)


def _drain_store(spill_dir: Path, manifest: Manifest, args: argparse.Namespace) -> int:
    from harness.system.guardian.store import open_store

    url = args.database_url or manifest.database_url
    try:
        store = open_store(url, sqlite_path=Path(manifest.sqlite_path), schema=manifest.schema,
                           timeout_s=min(args.timeout, 5.0))
    except Exception as exc:  # noqa: BLE001 -- any failure to reach the store: said in one line
        return _still_down(spill_dir, f"{type(exc).__name__}: {exc}")
    try:
        writer = Writer([store], spill_dir, max_delay_s=0.01)
        before = writer.pending()[store.name]
        writer.close(args.timeout)
        left = writer.pending()[store.name]
    finally:
        with contextlib.suppress(Exception):
            store.close()
    if left:
        return _still_down(spill_dir, f"{store.name}: {left} of {before} events still not written")
    print(f"{store.name}: {before} spilled events written (schema {manifest.schema}, run {manifest.run_id})")
    return 0


def _cleanup(directory: Path, manifest: Manifest, args: argparse.Namespace) -> int:
    """The run asked for its data to be removed from the shared servers: finish that, drop the moot spill."""
    from harness.system.guardian.cache import RedisCache, connect
    from harness.system.guardian.risk import RiskLimits
    from harness.system.guardian.store import DAY, EventStore, PostgresDialect

    try:
        store_url = args.database_url or manifest.database_url
        if store_url and not store_url.startswith("sqlite:"):
            # No set-up first: it would create the schema this is about to drop.
            store = EventStore(PostgresDialect(store_url, manifest.schema, DAY, timeout_s=min(args.timeout, 5.0)))
            store.drop()
            store.close()
        redis_url = args.redis_url or manifest.redis_url
        if redis_url:
            RedisCache(connect(redis_url, min(args.timeout, 5.0)), manifest.key_prefix, (), RiskLimits()).clear()
    except Exception as exc:  # noqa: BLE001 -- a server still down: one line, the list kept
        raise ConfigError(f"cleanup still pending ({directory / CLEANUP_FILE}): {type(exc).__name__}: {exc}") \
            from None
    (directory / CLEANUP_FILE).unlink()
    for spill in (directory / "spill").glob("spill-*.jsonl"):
        spill.unlink()
    print(f"cleanup done: schema {manifest.schema} and keys {manifest.key_prefix}:* removed; spill dropped")
    return 0


def _still_down(spill_dir: Path, reason: str) -> int:
    print(f"harness drain: error: {reason}; the spill stays in {spill_dir} -- run this again later",
          file=sys.stderr)
    return 2
