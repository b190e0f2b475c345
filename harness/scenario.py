"""Scenarios: run the system, record a history, check it, judge it, report it.

A ``Scenario`` is data -- a name, a title, the run settings it starts from, the evidence
areas it is judged on -- plus one function that drives the system and returns a
``Trial`` (the history and any evidence computed outside it, such as what a database
holds). ``execute`` does the rest the same way for every scenario, so ``harness run NAME``
and the pytest items of ``harness/scenarios/`` share one definition.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import importlib.util
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checks.evidence import Evidence
from harness.config import ConcurrencyMode, ConfigError, HarnessConfig, harness_config
from harness.engine import RunResult
from harness.engine import run as reference_run
from harness.gates import GateResult, judge, unified
from harness.history import Event, History, new_sequence
from harness.judge import STANDARD_AREAS, evaluate
from harness.locks.protocol import LockProvider
from harness.run_error import AREA as RUN_AREA
from harness.run_error import gate_run, guarded

if TYPE_CHECKING:
    from harness.guardian.persistence import Persistence

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


@dataclass(frozen=True)
class Plugins:
    """User components replacing the reference ones, as ``module:factory`` callables."""

    engine: Callable[..., Any] | None = None
    locks: Callable[..., Any] | None = None
    aggregator: Callable[..., Any] | None = None
    guardian: Callable[..., Any] | None = None


@dataclass(frozen=True)
class ScenarioContext:
    """What a scenario's run function gets: config, where to write, plugins, progress."""

    config: HarnessConfig
    out_dir: Path
    run_id: str
    plugins: Plugins = Plugins()
    progress: Callable[[str], None] | None = None
    on_history: Callable[[History], None] | None = None  # e.g. the live Guardian API follows it

    def lock_service(self, history: History) -> contextlib.AbstractContextManager[LockProvider]:
        """The lock service of this run: a plugin's, or a ZeroMQ broker on loopback."""
        if self.plugins.locks is not None:
            return contextlib.nullcontext(self.plugins.locks(self.config.run, history))
        return broker_service(history, self.out_dir / "broker.state", self.config.run.seed)

    def run_engine(self, history: History | None = None, persistence: Persistence | None = None,
                   **kwargs: Any) -> RunResult:
        """Run the engine (a plugin's or the reference one) with this context's locks.

        With ``persistence``, every event also goes to its three layers and the guardian is
        flagged DEGRADED while a layer is down.
        """
        engine = self.plugins.engine or reference_run
        process = self.config.run.mode is ConcurrencyMode.PROCESS
        if persistence is not None:
            history, kwargs["on_guardian"] = persistence.start(process)
        elif history is None:
            history = History(self.run_id, new_sequence(process))
        if self.on_history is not None:
            self.on_history(history)
        if self.plugins.aggregator is not None and "aggregator" not in kwargs:
            kwargs["aggregator"] = self.plugins.aggregator(history)
        if self.plugins.guardian is not None:
            kwargs["guardian_factory"] = self.plugins.guardian
        with self.lock_service(history) as locks:
            return engine(self.config.run, locks, run_id=self.run_id, history=history,
                          progress=self.progress, **kwargs)


@contextlib.contextmanager
def broker_service(history: History, state_file: Path, seed: int) -> Iterator[LockProvider]:
    """A ZeroMQ lock broker in a thread on a free loopback port, for the run's duration."""
    from harness.locks.client import ZmqLockProvider
    from harness.locks.server import LockBroker

    state_file.parent.mkdir(parents=True, exist_ok=True)
    with LockBroker("tcp://127.0.0.1:0", state_file=state_file, history=history) as broker:
        yield ZmqLockProvider(broker.endpoint, seed=seed)


@dataclass(frozen=True)
class Trial:
    """What a scenario's run produced: its history and evidence computed outside it."""

    events: Sequence[Event]
    extra: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A named, reproducible way to stress the system and the areas it is judged on."""

    name: str
    title: str
    description: str
    run: Callable[[ScenarioContext], Trial]
    areas: tuple[str, ...] = STANDARD_AREAS
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra_gates: Mapping[str, Callable[..., GateResult]] = field(default_factory=dict)
    workload: Callable[[HarnessConfig, Plugins], Any] | None = None  # controlled runs (default: the engine's)

    def configure(self, config: HarnessConfig, explicit: Mapping[str, Any] | None = None) -> HarnessConfig:
        """The scenario's own settings over ``config``, then the caller's explicit ones."""
        return harness_config(explicit or {}, harness_config(self.settings, config))


@dataclass(frozen=True)
class Verdict:
    """The judged outcome of one scenario run."""

    scenario: Scenario
    config: HarnessConfig
    run_id: str
    gates: tuple[GateResult, ...]
    evidence: tuple[Evidence, ...]
    events: Sequence[Event]
    started: str
    command: str

    @property
    def passed(self) -> bool:
        """UnifiedGate."""
        return unified(self.gates)

    @property
    def status(self) -> str:
        """"PASS" or "FAIL"."""
        return "PASS" if self.passed else "FAIL"

    @property
    def exit_code(self) -> int:
        """0 PASS, 1 FAIL."""
        return 0 if self.passed else 1


def reproduce_command(scenario: str, config: HarnessConfig, extra: Sequence[str] = ()) -> str:
    """The command line that reruns a scenario with the same seed and size (plus ``extra`` flags)."""
    run = config.run
    words = ["harness", "run", scenario, "--seed", str(run.seed), "--symbols", ",".join(run.symbol_names),
             "--mode", run.mode.value]
    words += ["--trades", str(run.trades)] if run.trades is not None else ["--duration", str(run.duration)]
    return shlex.join([*words, *extra])


def run_dir_name(scenario: str, seed: int, now: _dt.datetime | None = None) -> str:
    """reports/<scenario>-<UTC time>-<seed> directory name."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{scenario}-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{seed}"


def execute(scenario: Scenario, config: HarnessConfig, out_dir: Path, *, plugins: Plugins = Plugins(),
            progress: Callable[[str], None] | None = None, command_flags: Sequence[str] = (),
            on_history: Callable[[History], None] | None = None) -> Verdict:
    """Run a scenario, check its history and judge it; nothing is written here.

    ``command_flags`` are the caller's flags the reproduce command must repeat (a config
    file, plug-ins) beyond what the config itself says.
    """
    started = _dt.datetime.now(_dt.timezone.utc)
    run_id = out_dir.name
    make_dir(out_dir)
    context = ScenarioContext(config, out_dir, run_id, plugins, progress, on_history)
    outcome = guarded(scenario.run, context)
    trial = Trial((), (outcome,)) if isinstance(outcome, Evidence) else outcome
    areas = () if isinstance(outcome, Evidence) else scenario.areas
    evidence = evaluate(trial.events, areas, trial.extra, config.gates.require_areas)
    gates = judge(evidence, config.gates, {**scenario.extra_gates, RUN_AREA: gate_run})
    return Verdict(scenario, config, run_id, gates, evidence, trial.events,
                   started.strftime("%Y-%m-%d %H:%M:%S UTC"), reproduce_command(scenario.name, config, command_flags))


def make_dir(path: Path) -> Path:
    """Create a report directory; an unusable path is bad input (ConfigError), not a crash."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the report directory: {exc.strerror or exc}") from None
    return path


def available() -> dict[str, Path]:
    """Scenario files by name."""
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.py")) if not p.stem.startswith("_")}


def load(name: str) -> Scenario:
    """The ``SCENARIO`` object of ``harness/scenarios/<name>.py``; unknown names raise ConfigError."""
    path = available().get(name)
    if path is None:
        raise ConfigError(f"unknown scenario {name!r} (available: {', '.join(available()) or 'none'})")
    spec = importlib.util.spec_from_file_location(f"harness_scenarios.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SCENARIO


def load_object(path: str) -> Any:
    """Resolve ``module:attribute`` (a plug-in factory); ConfigError when it cannot."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{path!r}: expected module:factory")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # a user's plug-in lives in the project they run from
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{path!r}: cannot import {module_name}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{path!r}: {module_name} has no {attr}") from None
