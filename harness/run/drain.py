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
import json
import sys
from pathlib import Path

from harness.errors import ConfigError
from harness.history.log import Event
from harness.system.guardian.cache import GLOB
from harness.system.guardian.checkpoint import CheckpointError, encode_lines, read_log, verified, write_atomic
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
    cross_check(directory, manifest)
    spill_dir = directory / "spill"
    for spill in sorted(spill_dir.glob("spill-redis*.jsonl")):
        with contextlib.suppress(CheckpointError):  # reported, never replayed: a bad line changes nothing
            count = len(read_log(spill, repair=False).events)
            if count:
                print(f"redis: {count} spilled events are the live state of a run that has ended: not replayed "
                      f"(the history store and checkpoint hold them); left in {spill}")
    if (directory / CLEANUP_FILE).is_file():
        return _cleanup(directory, manifest, args)
    return _drain_store(spill_dir, manifest, args)


def cross_check(directory: Path, manifest: Manifest) -> None:
    """Refuse a manifest whose names the run's own files contradict: drain touches only what the run owned.

    The key prefix is taken literally (a pattern would match other runs' keys); the run id must
    be the one of the run's own history beside it, when there is one.
    """
    where = directory / MANIFEST
    if not manifest.key_prefix or GLOB.search(manifest.key_prefix):
        raise ConfigError(f"{where}: key_prefix {manifest.key_prefix!r} is a pattern, not one run's prefix: "
                          f"refusing to touch the cache")
    for history in (directory.parent / "events.jsonl", directory.parent / "events.jsonl.gz"):
        recorded = _first_run_id(history)
        if recorded is not None and recorded != manifest.run_id:
            raise ConfigError(f"{where}: run_id {manifest.run_id!r} is not the run of {history} ({recorded!r}): "
                              f"refusing to touch what it names")


def _first_run_id(history: Path) -> str | None:
    """The run id on the first line of a history file (None when there is none to read)."""
    import gzip

    try:
        opener = gzip.open if history.suffix == ".gz" else open
        with opener(history, "rb") as handle:
            return str(json.loads(handle.readline(2**20))["run_id"])
    except (OSError, EOFError, ValueError, KeyError, TypeError):
        return None


def set_aside_bad_lines(spill: Path, run_id: str) -> int:
    """Move the spill's lines that are not this run's whole events to ``quarantine-*.jsonl``; return how many.

    A line is checked against the CRC the line before it states; after a line that failed, the
    next is judged by its content alone (its link was to the bad one). So one altered, foreign
    or torn line is reported while every good one is still drained.
    """
    try:
        lines = spill.read_bytes().split(b"\n")
    except FileNotFoundError:
        return 0
    good: list[Event] = []
    bad: list[dict[str, object]] = []
    before: int | None = 0
    for number, line in enumerate(lines, start=1):
        if not line and number == len(lines):
            break
        event, reason = _spilled(line, before, run_id, torn=number == len(lines))
        before = _stated(line) if event is not None else None
        if event is not None:
            good.append(event)
        else:
            bad.append({"line": number, "reason": reason, "text": line.decode("utf-8", "backslashreplace")})
    if bad:
        quarantine = spill.with_name(spill.name.replace("spill-", "quarantine-", 1))
        with open(quarantine, "a", encoding="utf-8") as out:
            out.writelines(json.dumps(record) + "\n" for record in bad)
        write_atomic(spill, encode_lines(good)[0])
    return len(bad)


def _stated(line: bytes) -> int | None:
    try:
        return int(line.rpartition(b"\t")[2], 16)
    except ValueError:
        return None


def _spilled(line: bytes, before: int | None, run_id: str, torn: bool) -> tuple[Event | None, str]:
    """The event on a spill line, or why it is set aside (``before``: the CRC to check it against, if known)."""
    if torn:
        return None, "torn last line (the run stopped mid-write)"
    try:
        body = verified(line, before)[0] if before is not None else line.rpartition(b"\t")[0]
        event = Event.from_json(body)
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"corrupt: {exc}"
    if event.run_id != run_id:
        return None, f"an event of run {event.run_id!r}, not {run_id!r}"
    return event, ""


def _drain_store(spill_dir: Path, manifest: Manifest, args: argparse.Namespace) -> int:
    from harness.system.guardian.store import open_store

    url = args.database_url or manifest.database_url
    try:
        store = open_store(url, sqlite_path=Path(manifest.sqlite_path), schema=manifest.schema,
                           timeout_s=min(args.timeout, 5.0))
        foreign = store.foreign(manifest.run_id)
    except Exception as exc:  # noqa: BLE001 -- any failure to reach the store: said in one line
        return _still_down(spill_dir, f"{type(exc).__name__}: {exc}")
    try:
        if foreign is not None:
            raise ConfigError(f"{spill_dir.parent / MANIFEST}: {foreign}: not run {manifest.run_id}'s, "
                              f"refusing to write into it")
        spill = spill_dir / f"spill-{store.name}.jsonl"
        set_aside = set_aside_bad_lines(spill, manifest.run_id)
        writer = Writer([store], spill_dir, max_delay_s=0.01)
        before = writer.pending()[store.name]
        writer.close(args.timeout)
        left = writer.pending()[store.name]
        refused = writer.statistics().layers[store.name].quarantined
    finally:
        with contextlib.suppress(Exception):
            store.close()
    if left:
        return _still_down(spill_dir, f"{store.name}: {left} of {before} events still not written")
    print(f"{store.name}: {before - refused} spilled events written (schema {manifest.schema}, "
          f"run {manifest.run_id})")
    if set_aside + refused:
        print(f"harness drain: warning: {set_aside + refused} spilled lines could not be stored; kept with their reasons "
              f"in {spill.with_name(f'quarantine-{store.name}.jsonl')}", file=sys.stderr)
        return 1
    return 0


def _cleanup(directory: Path, manifest: Manifest, args: argparse.Namespace) -> int:
    """The run asked for its data to be removed from the shared servers: finish that, drop the moot spill."""
    from harness.system.guardian.cache import CacheError, RedisCache, connect
    from harness.system.guardian.risk import RiskLimits
    from harness.system.guardian.store import DAY, EventStore, NotOwned, PostgresDialect

    try:
        store_url = args.database_url or manifest.database_url
        if store_url and not store_url.startswith("sqlite:"):
            # No set-up first: it would create the schema this is about to drop.
            store = EventStore(PostgresDialect(store_url, manifest.schema, DAY, timeout_s=min(args.timeout, 5.0)))
            store.drop_owned(manifest.run_id)
            store.close()
        redis_url = args.redis_url or manifest.redis_url
        if redis_url:
            cache = RedisCache(connect(redis_url, min(args.timeout, 5.0)), manifest.key_prefix, (), RiskLimits())
            cache.clear(owner=manifest.run_id)
    except (NotOwned, CacheError) as exc:
        raise ConfigError(f"{directory / MANIFEST}: {exc}") from None
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
