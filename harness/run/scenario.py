"""Scenarios: run the system, record a history, check it, judge it, report it.

A ``Scenario`` is data -- a name, a title, the run settings it starts from, the evidence
areas it is judged on -- plus one function that drives the system and returns a
``Trial`` (the history and any evidence computed outside it, such as what a database
holds). ``execute`` does the rest the same way for every scenario, so ``harness run NAME``
and the pytest items of ``harness/scenarios/`` share one definition.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import userfiles
from harness.errors import ConfigError
from harness.faults.lock_nemesis import NemesisConfig, refuse_undeclared
from harness.history.journal import Journal
from harness.history.log import Event, History, new_sequence
from harness.judge.areas import STANDARD_AREAS, Gate, evaluate, judge
from harness.judge.checks.coverage import coverage_evidence
from harness.judge.checks.feed_coverage import AREA as COVERAGE_AREA
from harness.judge.checks.feed_coverage import check_feed_coverage, feed_ended, gate_feed_coverage
from harness.judge.evidence import Evidence
from harness.judge.gates import GateResult, Outcome, outcome, unified
from harness.run.catalog import available
from harness.run.config import HarnessConfig, harness_config
from harness.run.guard import AREA as RUN_AREA
from harness.run.guard import gate_run, guarded
from harness.run.interrupt import StopRequest, exit_code
from harness.run.plugins import NO_PLUGINS, Plugins, import_target
from harness.system.engine import Progress, RunResult
from harness.system.engine import run as reference_run
from harness.system.locks.protocol import LockProvider
from harness.system.ports import ENGINE_PARTS
from harness.system.settings import ConcurrencyMode

if TYPE_CHECKING:
    from harness.system.guardian.persistence import Persistence

@dataclass(frozen=True)
class ScenarioContext:
    """What a scenario's run function gets: config, where to write, plugins, progress."""

    config: HarnessConfig
    out_dir: Path
    run_id: str
    plugins: Plugins = NO_PLUGINS
    progress: Progress | None = None
    on_history: Callable[[History], None] | None = None  # e.g. the live Guardian API follows it
    stop: StopRequest | None = None  # a signal's request to end the run early
    journal: Journal | None = None  # streams the run's history to disk as it is made

    def lock_service(self, history: History) -> contextlib.AbstractContextManager[LockProvider]:
        """The lock service of this run: a plugin's (closed at the end), or a ZeroMQ broker on loopback."""
        if self.plugins.locks is not None:
            return owned(self.plugins.locks(self.config.run, history))
        run = self.config.run
        return broker_service(history, self.out_dir / "broker.state", run.seed, run.lock_lease_ms)

    def run_engine(self, history: History | None = None, persistence: Persistence | None = None,
                   locks: LockProvider | None = None, **kwargs: Any) -> RunResult:
        """Run the engine (a plugin's or the reference one) with this context's locks (or ``locks``).

        With ``persistence``, every event also goes to its three layers and the guardian is
        flagged DEGRADED while a layer is down.
        """
        plugins = self.plugins
        engine = plugins.engine or reference_run
        process = self.config.run.mode is ConcurrencyMode.PROCESS
        if persistence is not None:
            history, kwargs["on_guardian"] = persistence.start(process)
        elif history is None:
            history = History(self.run_id, new_sequence(process))
        if self.on_history is not None:
            self.on_history(history)
        if self.journal is not None:
            self.journal.follow(history)
        if self.stop is not None:
            kwargs["stop"] = self.stop.event(process, kwargs.get("stop"))
        if plugins.aggregator is not None and "aggregator" not in kwargs:
            kwargs["aggregator"] = plugins.aggregator(history)
        if plugins.guardian is not None:
            kwargs["guardian_factory"] = plugins.guardian
        for spec in self.config.run.symbols:  # checked here: in a worker a bad product would be a gate failure
            if plugins.ledger is not None:
                plugins.ledger(spec)
            if plugins.feed is not None:
                plugins.feed(spec, self.config.run.seed)
        if plugins.ledger is not None:
            kwargs["ledger_factory"] = plugins.ledger
        feed = plugins.feed or self.config.run.feed
        if feed is not None:
            if "feed" in kwargs:
                raise ConfigError("feed: this scenario drives its own price feed; it cannot replay price files")
            kwargs["feed"] = feed
        service = contextlib.nullcontext(locks) if locks is not None else self.lock_service(history)
        with service as provider:
            result = engine(self.config.run, provider, run_id=self.run_id, history=history,
                            progress=self.progress, **kwargs)
        if plugins.engine is not None:
            plugins.engine.check(result)
        return result


@contextlib.contextmanager
def owned(component: Any) -> Iterator[Any]:
    """Use a component the harness started, and close it at the end: a context manager is entered
    and exited, anything else with ``close()`` is closed."""
    if hasattr(component, "__enter__") and hasattr(component, "__exit__"):
        with component as entered:
            yield component if entered is None else entered
        return
    try:
        yield component
    finally:
        close = getattr(component, "close", None)
        if callable(close):
            close()


@contextlib.contextmanager
def broker_service(history: History, state_file: Path, seed: int, lease_ms: int = 10_000) -> Iterator[LockProvider]:
    """A ZeroMQ lock broker on a free loopback port, for the run's duration.

    A history numbered across processes gets a broker process of its own (off the GIL of
    the parent, which applies the workers' events); otherwise a broker thread.
    """
    from harness.history.log import SharedSequence
    from harness.system.locks.client import ZmqLockProvider
    from harness.system.locks.process import broker_process
    from harness.system.locks.server import LockBroker

    state_file.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(history.sequence, SharedSequence):
        with broker_process(history, state_file) as endpoint:
            yield ZmqLockProvider(endpoint, seed=seed, lease_ms=lease_ms)
        return
    with LockBroker("tcp://127.0.0.1:0", state_file=state_file, history=history) as broker:
        yield ZmqLockProvider(broker.endpoint, seed=seed, lease_ms=lease_ms)


@dataclass(frozen=True)
class Trial:
    """What a scenario's run produced: its history and evidence computed outside it."""

    events: Sequence[Event]
    extra: tuple[Evidence[object], ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A named, reproducible way to stress the system and the areas it is judged on."""

    name: str
    title: str
    description: str
    run: Callable[[ScenarioContext], Trial]
    areas: tuple[str, ...] = STANDARD_AREAS
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra_gates: Mapping[str, Gate] = field(default_factory=dict)  # area name -> gate of its extra evidence
    accepts: frozenset[str] = ENGINE_PARTS
    needs: Mapping[str, type] = field(default_factory=dict)  # stricter ports by flag (see harness.system.ports)
    workload: Callable[[HarnessConfig, Plugins], Any] | None = None  # controlled runs (default: the engine's)
    faults: frozenset[str] = frozenset()  # lock-path faults its nemesis can inject (--nemesis)
    covers: frozenset[str] = frozenset()  # state-machine transitions every run must take (the Coverage gate)

    def refuse_unhonoured(self, plugins: Plugins) -> None:
        """A plug-in this scenario would not use is an error, never silently ignored."""
        for name, plugin in plugins.given().items():
            if name not in self.accepts:
                raise plugin.error(f"scenario {self.name} has no {name} it could replace "
                                   f"(it takes: {', '.join(sorted(self.accepts)) or 'none'})")

    def configure(self, config: HarnessConfig, explicit: Mapping[str, Any] | None = None) -> HarnessConfig:
        """The scenario's own settings over ``config``, then the caller's explicit ones.

        Its declared coverage joins ``run.covers``, which ``run.start`` records: re-judging the
        history alone judges the same declarations.
        """
        base = harness_config(self.settings, config)
        if self.covers:
            covers = tuple(sorted(self.covers | set(base.run.covers)))
            base = dataclasses.replace(base, run=dataclasses.replace(base.run, covers=covers))
        return harness_config(explicit or {}, base)


@dataclass(frozen=True)
class Verdict:
    """The judged outcome of one scenario run."""

    scenario: Scenario
    config: HarnessConfig
    run_id: str
    gates: tuple[GateResult, ...]
    evidence: tuple[Evidence[object], ...]
    events: Sequence[Event]
    started: str
    command: str
    interrupted: str | None = None  # the signal that ended the run early (SIGTERM, ...)
    history_written: bool = False  # events.jsonl already holds exactly ``events`` (streamed during the run)
    plugins: Mapping[str, str] = field(default_factory=dict)  # port -> the plug-in as the user gave it

    @property
    def passed(self) -> bool:
        """UnifiedGate."""
        return unified(self.gates)

    @property
    def status(self) -> Outcome:
        """"PASS", "FAIL" or "NOTHING JUDGED" (no gate judged anything; that is never a pass)."""
        return outcome(self.gates)

    @property
    def interruption(self) -> str | None:
        """The reports' line for a run a signal ended early (None when it ran to its end)."""
        if self.interrupted is None:
            return None
        return (f"INTERRUPTED by {self.interrupted}: the run was stopped early; "
                f"the verdict judges the {len(self.events)} events it recorded")

    @property
    def exit_code(self) -> int:
        """0 PASS, 1 FAIL; 128 + the signal's number when a signal ended the run early."""
        if self.interrupted is not None:
            return exit_code(signal.Signals[self.interrupted].value)
        return 0 if self.passed else 1


def run_target(scenario: Scenario) -> str:
    """What ``harness run`` takes to find ``scenario``: its registered name when that is this scenario,
    else the file that defines it as SCENARIO (one only a test module or a path knows), else its name."""
    module, _, attribute = available().get(scenario.name, "").partition(":")
    if module in sys.modules and vars(sys.modules[module]).get(attribute) is scenario:
        return scenario.name
    for loaded in list(sys.modules.values()):
        names = getattr(loaded, "__dict__", {})  # never a module's __getattr__, which may load things
        if names.get("SCENARIO") is scenario and names.get("__file__"):
            return userfiles.shown(Path(names["__file__"]))
    return scenario.name


def reproduce_command(scenario: str, config: HarnessConfig, extra: Sequence[str] = ()) -> str:
    """The command line that reruns a scenario with the same seed and size (plus ``extra`` flags)."""
    run = config.run
    words = ["harness", "run", scenario, "--seed", str(run.seed), "--symbols", ",".join(run.symbol_names),
             "--mode", run.mode.value]
    words += ["--trades", str(run.trades)] if run.trades is not None else ["--duration", str(run.duration)]
    return shlex.join([*words, *nemesis_flags(config.nemesis), *extra])


def nemesis_flags(nemesis: NemesisConfig) -> list[str]:
    """The flags that declare the same nemesis (none without faults)."""
    if not nemesis.faults:
        return []
    flags = ["--nemesis", ",".join(nemesis.faults)]
    if nemesis.seed is not None:
        flags += ["--nemesis-seed", str(nemesis.seed)]
    if nemesis.interval:
        flags += ["--nemesis-interval", str(nemesis.interval)]
    if nemesis.rounds != NemesisConfig.rounds:
        flags += ["--nemesis-rounds", str(nemesis.rounds)]
    return flags


def run_dir_name(scenario: str, seed: int, now: _dt.datetime | None = None) -> str:
    """reports/<scenario>-<UTC time>-<seed> directory name."""
    now = now or _dt.datetime.now(_dt.UTC)
    return f"{scenario}-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{seed}"


def execute(scenario: Scenario, config: HarnessConfig, out_dir: Path, *, plugins: Plugins = NO_PLUGINS,
            progress: Progress | None = None, command_flags: Sequence[str] = (),
            on_history: Callable[[History], None] | None = None, stop: StopRequest | None = None,
            judging: Callable[[int, int], None] | None = None) -> Verdict:
    """Run a scenario, check its history and judge it; only the history is written here, as it is made.

    ``command_flags`` are the caller's flags the reproduce command must repeat (a config
    file, plug-ins) beyond what the config itself says. ``stop`` ends the run early when a
    signal sets it; the verdict then judges what ran, and says so. ``judging`` is told
    (events judged, events in all) as the history is judged.
    """
    scenario.refuse_unhonoured(plugins)
    refuse_undeclared(scenario.name, config.nemesis.faults, scenario.faults)
    plugins = plugins.replaced(**{name: dataclasses.replace(plugin, product=scenario.needs[name])
                                  for name, plugin in plugins.given().items() if name in scenario.needs})
    started = _dt.datetime.now(_dt.UTC)
    run_id = out_dir.name
    make_dir(out_dir)
    with Journal(out_dir / HISTORY_FILE) as journal:
        context = ScenarioContext(config, out_dir, run_id, plugins, progress, on_history, stop, journal)
        outcome = guarded(scenario.run, context)
    trial = Trial((), (outcome,)) if isinstance(outcome, Evidence) else outcome
    areas = () if isinstance(outcome, Evidence) else scenario.areas
    extra = tuple(trial.extra)
    extra_gates: dict[str, Gate] = {**scenario.extra_gates, RUN_AREA: gate_run}
    if feed_ended(trial.events):  # a finite feed ran out: did it still give what was asked?
        extra += (check_feed_coverage(trial.events, config.run.until_feed_ends),)
        extra_gates[COVERAGE_AREA] = gate_feed_coverage
    if areas:  # what the run tried, and whether it took every transition it must
        extra += coverage_evidence(trial.events, config.gates.require_coverage, counts=True)
    total = len(trial.events)
    evidence = evaluate(trial.events, areas, extra, config.gates.require_areas, config.gates,
                        None if judging is None else lambda done: judging(done, total))
    gates = judge(evidence, config.gates, extra_gates)
    return Verdict(scenario, config, run_id, gates, evidence, trial.events,
                   started.strftime("%Y-%m-%d %H:%M:%S UTC"), reproduce_command(run_target(scenario), config, command_flags),
                   None if stop is None else stop.signal_name, journal.holds(trial.events), plugins.named())


def make_dir(path: Path) -> Path:
    """Create a report directory; an unusable path is bad input (ConfigError), not a crash."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the report directory: {exc.strerror or exc}") from None
    return path


HISTORY_FILE = "events.jsonl"


def load(name: str) -> Scenario:
    """A scenario by name (see ``available``) or from a ``.py`` file; anything else is a ConfigError."""
    if name.endswith(".py"):
        target = f"{name}:SCENARIO"
    else:
        target = available().get(name, "")
        if not target:
            raise ConfigError(f"unknown scenario {name!r} (available: {', '.join(available()) or 'none'})")
    scenario = import_target(target, what="scenario")
    if not isinstance(scenario, Scenario):
        raise ConfigError(f"{target}: SCENARIO is a {type(scenario).__name__}, not a harness.run.scenario.Scenario")
    return scenario
