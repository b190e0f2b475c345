"""Persistence: the three layers (cache, history store, checkpoint) behind one writer, and the failure policy.

Design rationale: the trading loop only ever calls ``offer`` (the History sink); everything
else happens on the writer thread. The writer reports each layer going down or coming back,
and the policy here turns that into events and health:

=====================  ==========================================  =====
layer state            what happens                                alert
=====================  ==========================================  =====
cache (Redis) lost     trading goes on, guardian DEGRADED           P1
history store down     retry with backoff, spill, drain later       P1
both down              fail-open: trading goes on                   P0
checkpoint unreadable  newest good snapshot + log replay            P0
layer back             P2 recovery notice; HEALTHY when none down   P2
=====================  ==========================================  =====

Alerts (``alert`` {level, layer, reason}) and health changes (``health`` {state}) are
recorded in the run's History, so they are persisted like any other event. That feeds the
writer from its own thread, which is safe: ``offer`` never blocks, and a notice is raised
only on a layer's *transition*, so persisting a notice cannot raise another one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shlex
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psycopg
import redis

from harness.clock import Clock, monotonic_ns
from harness.history.events import PERSISTENCE_START, PERSISTENCE_STATS, PERSISTENCE_UNREACHABLE
from harness.history.log import Event, History, new_sequence
from harness.system.guardian.cache import RedisCache, connect, redis_url_from_env
from harness.system.guardian.checkpoint import Checkpoint, CheckpointError, read_wal
from harness.system.guardian.manifest import CLEANUP_FILE, Manifest, redact, write_manifest
from harness.system.guardian.risk import Health, RiskLimits
from harness.system.guardian.services import resolve
from harness.system.guardian.store import StoreError, database_url_from_env, open_store
from harness.system.guardian.writer import Backoff, Writer, WriterStatistics
from harness.system.model import SymbolSpec
from harness.system.ports import ReadableCache

if TYPE_CHECKING:
    from harness.system.engine import RunResult
    from harness.system.locks.protocol import LockProvider
    from harness.system.ports import CachePort, GuardianPort, PersistedGuardianPort, StorePort
    from harness.system.settings import RunConfig

# Writer layer name -> the layer name alerts and the Guardian API use.
ALERT_LAYER = {"redis": "cache", "postgres": "history", "sqlite": "history", "checkpoint": "checkpoint"}
FAIL_OPEN = frozenset({"cache", "history"})


@dataclass(frozen=True)
class PersistenceConfig:
    """Where each layer lives; None URLs mean the environment, else embedded defaults."""

    directory: Path
    redis_url: str | None = None
    database_url: str | None = None
    schema: str | None = None
    key_prefix: str | None = None
    retention: dt.timedelta = dt.timedelta(hours=24)
    snapshot_every: int = 1000
    keep_snapshots: int = 3
    capacity: int = 65_536
    batch_size: int = 512
    max_delay_s: float = 0.05
    backoff: Backoff = Backoff()
    # Per call on a service. Sized for a loaded 2-core CI machine (0.5 s flaked there);
    # HARNESS_SERVICE_TIMEOUT_S overrides it for every run.
    timeout_s: float = 2.0
    drain_timeout_s: float = 30.0  # how long closing waits for spills to drain before keeping them
    read_attempts: int = 3  # reading back or cleaning up a layer after the run, before reporting it

    @classmethod
    def for_run(cls, directory: Path, run_id: str, **settings: Any) -> PersistenceConfig:
        """Settings for one run on shared servers: a schema and key prefix nobody else uses."""
        settings["timeout_s"] = service_timeout(settings.get("timeout_s", cls.timeout_s))
        return cls(Path(directory), schema=schema_for(run_id), key_prefix=f"harness:{run_id}", **settings)


TIMEOUT_ENV = "HARNESS_SERVICE_TIMEOUT_S"


def service_timeout(default: float) -> float:
    """The per-call service deadline: ``$HARNESS_SERVICE_TIMEOUT_S`` when set (a positive number), else ``default``."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        from harness.errors import ConfigError

        raise ConfigError(f"{TIMEOUT_ENV}: expected seconds between 0 and 3600, got {raw!r}")
    return value


def schema_for(run_id: str) -> str:
    """A PostgreSQL schema name of one run (run ids are unique: scenario, UTC time, seed)."""
    return "h_" + "".join(ch if ch.isalnum() else "_" for ch in run_id.lower())[-50:]


class FailurePolicy:
    """Turns layer transitions into alert/health events and the guardian's degraded flag."""

    def __init__(self, record: Callable[..., Any], guardian: PersistedGuardianPort | None = None) -> None:
        self._record = record
        self.guardian = guardian
        self._down: set[str] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __call__(self, layer: str, up: bool, reason: str) -> None:
        """A writer lane changed state."""
        name = ALERT_LAYER.get(layer, layer)
        with self._lock:
            was_down = bool(self._down)
            (self._down.discard if up else self._down.add)(name)
            level = "P2" if up else "P0" if FAIL_OPEN <= self._down else "P1"
            now_down = bool(self._down)
            self._changed.notify_all()
        if not up and level == "P0":
            reason = f"{reason}; cache and history both down: fail-open, trading continues"
        self._record("alert", level=level, layer=name, reason=reason)
        if was_down != now_down:
            if self.guardian is not None:
                self.guardian.set_degraded(now_down)
            state = Health.DEGRADED if now_down else Health.HEALTHY
            self._record("health", state=state.value)

    def wait(self, layer: str, down: bool, timeout: float) -> bool:
        """Block until ``layer`` (an alert-layer name) is down (or up); False on time-out."""
        with self._changed:
            return self._changed.wait_for(lambda: (layer in self._down) == down, timeout)

    @property
    def down(self) -> frozenset[str]:
        """Alert-layer names currently down."""
        with self._lock:
            return frozenset(self._down)


class Persistence:
    """The three layers, the writer that feeds them and the failure policy, for one run."""

    def __init__(self, config: PersistenceConfig, run_id: str, specs: Sequence[SymbolSpec], limits: RiskLimits,
                 *, cache: CachePort | None = None, store: StorePort | None = None,
                 clock: Clock = monotonic_ns) -> None:
        """Open the layers (``cache``/``store`` given here replace the configured ones, for tests)."""
        self.config, self.run_id = config, run_id
        directory = Path(config.directory)
        suffix = uuid.uuid4().hex[:8]
        self.checkpoint = Checkpoint(directory / "checkpoint", specs, limits, every=config.snapshot_every,
                                     keep=config.keep_snapshots)
        redis_url = config.redis_url or redis_url_from_env()
        database_url = config.database_url or database_url_from_env()
        # A configured server that does not answer at start-up is one clear error, not a traceback.
        if cache is None and redis_url:
            resolve("redis", redis_url, timeout_s=config.timeout_s)
        if store is None and database_url and not database_url.startswith("sqlite:"):
            resolve("postgres", database_url, timeout_s=config.timeout_s)
        self.schema = config.schema or f"harness_{suffix}"
        self.key_prefix = config.key_prefix or f"harness:{run_id}:{suffix}"
        self.store = store or open_store(
            database_url, sqlite_path=directory / "events.db", schema=self.schema,
            retention=config.retention, timeout_s=config.timeout_s)
        self.cache = cache or RedisCache(connect(redis_url, config.timeout_s), self.key_prefix, specs, limits,
                                         owner=run_id)
        write_manifest(directory, Manifest(run_id, redact(database_url), str(directory / "events.db"), self.schema,
                                           redact(redis_url), self.key_prefix))
        layers = (self.cache, self.store, self.checkpoint)
        self._history: History | None = None
        self._closed = False
        self.policy = FailurePolicy(self._record)
        self.writer = Writer(layers, directory / "spill", capacity=config.capacity, batch_size=config.batch_size,
                             max_delay_s=config.max_delay_s, backoff=config.backoff, clock=clock,
                             listener=self.policy)

    def offer(self, event: Event) -> None:
        """The History sink: hand one event to the writer (never blocks)."""
        self.writer.offer(event)

    def attach(self, history: History, guardian: PersistedGuardianPort | None = None) -> None:
        """Record alerts into ``history``; flag ``guardian`` DEGRADED while a layer is down."""
        self._history = history
        self.policy.guardian = guardian
        if guardian is not None and self.policy.down:
            guardian.set_degraded(True)

    def start(self, process_safe: bool = False) -> tuple[History, Callable[[GuardianPort], None]]:
        """A new History whose sink is this writer, and the hook that attaches the run's guardian."""
        history = History(self.run_id, new_sequence(process_safe), sink=self.offer)
        self.attach(history)
        history.append(PERSISTENCE_START, worker="persistence", layers=list(self.writer.pending()))
        # A run that persists needs a guardian with set_degraded (scenarios declare
        # needs={"guardian": PersistedGuardianPort}, checked when the plug-in is loaded).
        return history, lambda guardian: self.attach(history, cast("PersistedGuardianPort", guardian))

    def _record(self, kind: str, **payload: Any) -> None:
        if self._history is not None:
            self._history.append(kind, worker="persistence", **payload)

    def persisted(self) -> dict[str, list[int]]:
        """Event seqs read back from each event-keeping layer (the database and the log).

        A layer that does not answer after ``read_attempts`` is left out and recorded as a
        ``persistence.unreachable`` event (its spill kept on disk, with the command that
        drains it), so the run still gets its report with the outage as evidence.
        """
        found: dict[str, list[int]] = {}
        readers: dict[str, Callable[[], Any]] = {
            self.checkpoint.name: self.checkpoint.read_seqs,
            self.store.name: partial(self.store.read_seqs, self.run_id),
        }
        for name, read in readers.items():
            try:
                found[name] = self._retried(read)
            except SERVICE_ERRORS as exc:
                pending = self.writer.pending().get(name, 0)
                self._record(PERSISTENCE_UNREACHABLE, layer=name, reason=f"{type(exc).__name__}: {exc}",
                             kept=pending, spill=str(self.writer.spill_path(name)),
                             drain=drain_command(self.config.directory))
        return found

    def contents(self) -> dict[str, list[Event]]:
        """The events each event-keeping layer holds, read back with their content (the log's every segment).

        A layer that does not answer is left out: ``persisted`` has recorded it as unreachable.
        """
        readers: dict[str, Callable[[], Any]] = {
            self.checkpoint.name: lambda: list(read_wal(self.checkpoint.directory).events),
            self.store.name: partial(self.store.read_events, self.run_id),
        }
        found: dict[str, list[Event]] = {}
        for name, read in readers.items():
            with contextlib.suppress(*SERVICE_ERRORS):
                found[name] = self._retried(read)
        return found

    def cached(self) -> dict[str, Any] | None:
        """The cache's final state read back (None: a cache that cannot say, or does not answer)."""
        if not isinstance(self.cache, ReadableCache):
            return None
        try:
            return cast("dict[str, Any] | None", self._retried(self.cache.read_back))
        except SERVICE_ERRORS:
            return None

    def close(self, timeout: float | None = None) -> WriterStatistics:
        """Record the final ``persistence.stats`` event, flush every layer, stop the writer (once).

        A layer still down after ``timeout`` keeps its spill on disk (``harness drain`` writes it later).
        """
        timeout = self.config.drain_timeout_s if timeout is None else timeout
        if not self._closed:
            self._closed = True
            self.writer.flush(timeout)
            self._record(PERSISTENCE_STATS, **self.writer.statistics().as_payload())
            self.writer.close(timeout)  # a local layer behind a long backlog still gets its full time
        return self.writer.statistics()

    def release(self) -> None:
        """Close the layers' connections (after ``close``)."""
        for layer in (self.cache, self.store, self.checkpoint):
            with contextlib.suppress(Exception):
                layer.close()

    def discard(self) -> list[str]:
        """Remove this run's data from the shared servers (its schema, its keys); before ``release``.

        Each removal is retried; what still fails is returned (and written to the run's
        ``cleanup-pending.txt``) rather than raised: a run never ends in a traceback over it.
        """
        left = []
        for what, remove in ((f"{self.store.name} schema {self.schema}", self.store.drop),
                             (f"redis keys {self.key_prefix}:*", self.cache.clear)):
            try:
                self._retried(remove)
            except SERVICE_ERRORS as exc:
                left.append(f"{what}: {type(exc).__name__}: {exc}")
        if left:
            pending = Path(self.config.directory) / CLEANUP_FILE
            pending.parent.mkdir(parents=True, exist_ok=True)
            pending.write_text("".join(line + "\n" for line in left), encoding="utf-8")
        return left

    def _retried(self, call: Callable[[], Any]) -> Any:
        """``call()``, tried ``read_attempts`` times with the writer's backoff between; the last error raised."""
        for attempt in range(1, self.config.read_attempts + 1):
            try:
                return call()
            except SERVICE_ERRORS:
                if attempt == self.config.read_attempts:
                    raise
                time.sleep(self.config.backoff.delay(attempt))  # a retry's backoff, not a synchronisation
        raise AssertionError("unreachable")


# What a service that is down or too slow raises (a bug's TypeError is not an outage).
SERVICE_ERRORS = (OSError, StoreError, CheckpointError, redis.RedisError, psycopg.Error)


def drain_command(directory: Path) -> str:
    """The command that writes a run's kept spill once its services are back."""
    return shlex.join(["harness", "drain", str(directory)])


@contextlib.contextmanager
def session(config: PersistenceConfig, run_id: str, specs: Sequence[SymbolSpec], limits: RiskLimits,
            *, keep: bool = False, cache: CachePort | None = None, store: StorePort | None = None,
            ) -> Iterator[Persistence]:
    """Open the layers for a run (``cache``/``store``: a user's layers instead of the configured ones);
    on exit flush and close them, and (unless ``keep``) remove the run's data from the shared
    servers -- read back what you need inside the block."""
    persistence = Persistence(config, run_id, specs, limits, cache=cache, store=store)
    try:
        yield persistence
    finally:
        try:
            persistence.close()
            left = [] if keep else persistence.discard()
            for line in left:  # the run goes on to its report; the leftover is said, and kept in a file
                print(f"harness: warning: cleanup pending on a shared server: {line} "
                      f"(listed in {Path(config.directory) / CLEANUP_FILE})", file=sys.stderr)
        finally:
            persistence.release()


def run_persisted(config: RunConfig, locks: LockProvider, persistence_config: PersistenceConfig, *,
                  run_id: str | None = None, **run_options: Any) -> tuple[RunResult, Persistence]:
    """Run the engine with every event fed to the three layers; closed (flushed) on return."""
    from harness.system.engine import new_run_id, run
    from harness.system.settings import ConcurrencyMode

    run_id = run_id or new_run_id(config)
    persistence = Persistence(persistence_config, run_id, config.symbols, config.limits)
    try:
        history, on_guardian = persistence.start(config.mode is ConcurrencyMode.PROCESS)
        result = run(config, locks, run_id=run_id, history=history, on_guardian=on_guardian, **run_options)
    finally:
        persistence.close()
    return result, persistence

