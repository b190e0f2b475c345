"""The run configuration: one typed object, built once, passed down.

Layers, later wins: built-in defaults, ``[tool.harness]`` in ``pyproject.toml`` (or a TOML
file given with ``--config``), then command-line flags. Every bad value raises
``ConfigError`` with one line that names the key.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from harness.aggregator import Mode
from harness.feed import CsvFeed, FeedError, anchor_feed, fit_specs, parse_feed
from harness.gates import Thresholds
from harness.guardian.risk import Discipline, RiskLimits
from harness.model import SymbolSpec, symbol_specs
from harness.strategy import StrategyParams, VenueParams


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class RunError(RuntimeError):
    """The run could not be made (a child that would not start, a service that went away)."""


class ConcurrencyMode(str, enum.Enum):
    """How symbol workers run."""

    THREAD = "thread"
    PROCESS = "process"
    SINGLE = "single"


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs: symbols, seed, size, concurrency, costs, limits."""

    symbols: tuple[SymbolSpec, ...] = field(default_factory=symbol_specs)
    seed: int = 127
    trades: int | None = 30
    duration: float | None = None
    mode: ConcurrencyMode = ConcurrencyMode.THREAD
    aggregation: Mode = Mode.INCREMENTAL
    lock_timeout: float = 10.0
    max_ticks: int = 1_000_000
    max_refusals: int = 2_000
    strategy: StrategyParams = StrategyParams()
    venue: VenueParams = VenueParams()
    limits: RiskLimits = RiskLimits()
    discipline: Discipline = Discipline.ATOMIC
    feed: CsvFeed | None = None  # price files per symbol (None: the seeded walk)
    until_feed_ends: bool = False  # trades is an upper bound: a feed that ends first is no failure

    def __post_init__(self) -> None:
        if (self.trades is None) == (self.duration is None):
            raise ConfigError("trades/duration: give exactly one of them")
        if self.trades is not None and self.trades < 1:
            raise ConfigError(f"trades: must be at least 1, got {self.trades}")
        if self.duration is not None and not 0 < self.duration < math.inf:
            raise ConfigError(f"duration: must be a positive number of seconds, got {self.duration}")
        if not self.symbols:
            raise ConfigError("symbols: at least one symbol is needed")
        if not 0 < self.lock_timeout < math.inf:
            raise ConfigError(f"lock_timeout: must be a positive number of seconds, got {self.lock_timeout}")
        for name in ("max_ticks", "max_refusals"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"seed: must be a non-negative integer, got {self.seed}")

    @property
    def symbol_names(self) -> tuple[str, ...]:
        """Names of the configured symbols, in order."""
        return tuple(s.name for s in self.symbols)


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Coerce one raw (TOML or flag) value to a field's declared type."""
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    if value is None and type(None) in options:
        return None
    kind = next(k for k in options if k is not type(None))
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name}: expected a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):  # a field's type, never an instance
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: expected a table of settings")
        return _build(kind, value, f"{name}.")
    try:
        if kind is Decimal and not isinstance(value, bool) and Decimal(str(value)).is_finite():
            return Decimal(str(value))
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return kind(value)
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is bool and isinstance(value, bool):
            return value
    except (InvalidOperation, ValueError):
        pass
    raise ConfigError(f"{name}: invalid value {value!r} (expected {getattr(kind, '__name__', kind)})")


def _build(cls: type, raw: Mapping[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from raw settings, refusing unknown keys."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(known))})")
        values[key] = _coerce(prefix + key, value, hints[key])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError; all name their field
        raise ConfigError(f"{prefix}{exc}") from None


def _fields(base: Any, raw: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The fields ``raw`` names in dataclass instance ``base``, coerced; a nested table layers
    over what ``base`` already holds there, as the top level does. Unknown keys are refused."""
    hints = typing.get_type_hints(type(base))
    known = {f.name for f in dataclasses.fields(base)}
    changed = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(known))})")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            changed[key] = _layer(current, value, f"{prefix}{key}.")
        else:
            changed[key] = _coerce(prefix + key, value, hints[key])
    return changed


def _layer(base: Any, raw: Mapping[str, Any], prefix: str) -> Any:
    """Replace the fields ``raw`` names in dataclass instance ``base``, coerced and checked."""
    changed = _fields(base, raw, prefix)
    try:
        return dataclasses.replace(base, **changed)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def run_config(raw: Mapping[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Layer raw settings over ``base``: ``symbols`` as names, a comma list or a table of
    per-symbol settings; ``feed`` as ``csv:PATH`` or ``SYMBOL=FILE,...`` (see harness.feed)."""
    raw = dict(raw)
    base = base or RunConfig()
    changed: dict[str, Any] = {}
    table: Mapping[str, Any] = {}
    if "symbols" in raw:
        changed["symbols"], table = _symbols(raw.pop("symbols"))
    if "feed" in raw:
        changed["feed"] = _feed(raw.pop("feed"), changed.get("symbols", base.symbols), "symbols" in changed)
        if "symbols" not in changed and changed["feed"] is not None:
            changed["symbols"] = _specs([name for name, _ in changed["feed"].files])
    # trades and duration are alternatives: setting one clears the other.
    if "trades" in raw and "duration" not in raw:
        raw["duration"] = None
    if "duration" in raw and "trades" not in raw:
        raw["trades"] = None
    changed.update(_fields(base, raw, ""))
    feed = changed.get("feed", base.feed)
    if feed is not None and ("feed" in changed or "symbols" in changed):
        try:
            changed["symbols"] = fit_specs(changed.get("symbols", base.symbols), feed, table)
        except FeedError as exc:
            raise ConfigError(str(exc)) from None
    try:
        return dataclasses.replace(base, **changed)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


SYMBOL_SETTINGS = ("tick", "lot", "price", "fee", "volatility", "max_lots")


def _specs(names: list[str]) -> tuple[SymbolSpec, ...]:
    try:
        return symbol_specs(names)
    except ValueError as exc:
        raise ConfigError(f"symbols: {exc}") from None


def _symbols(value: Any) -> tuple[tuple[SymbolSpec, ...], Mapping[str, Any]]:
    """Specs from names, a comma list, or ``{NAME: {tick, lot, price, fee, ...}}``; and that table."""
    if isinstance(value, str):
        value = [s.strip() for s in value.split(",")]
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            raise ConfigError("symbols: expected a list of names or a comma-separated string")
        return _specs(value), {}
    if not isinstance(value, Mapping):
        raise ConfigError("symbols: expected a list of names, a comma-separated string or a table per symbol")
    specs = []
    for spec, (name, settings) in zip(_specs(list(value)), value.items(), strict=True):
        if not isinstance(settings, Mapping):
            raise ConfigError(f"symbols.{name}: expected a table of settings ({', '.join(SYMBOL_SETTINGS)})")
        changes = {}
        for key, raw in settings.items():
            if key not in SYMBOL_SETTINGS:
                raise ConfigError(f"symbols.{name}.{key}: unknown setting (known: {', '.join(SYMBOL_SETTINGS)})")
            kind = int if key == "max_lots" else Decimal
            changes[key] = _coerce(f"symbols.{name}.{key}", raw, kind)
            if changes[key] <= 0:
                raise ConfigError(f"symbols.{name}.{key}: must be positive, got {raw!r}")
        specs.append(dataclasses.replace(spec, **changes))
    return tuple(specs), value


def _feed(value: Any, specs: tuple[SymbolSpec, ...], symbols_given: bool) -> CsvFeed | None:
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        value = ",".join(f"{name}={path}" for name, path in value.items())
    if not isinstance(value, str):
        raise ConfigError(f"feed: expected csv:PATH or SYMBOL=FILE,... got {value!r}")
    try:
        feed = parse_feed(value, [s.name for s in specs])
    except FeedError as exc:
        raise ConfigError(str(exc)) from None
    if symbols_given:
        missing = [s.name for s in specs if s.name not in dict(feed.files)]
        if missing:
            raise ConfigError(f"feed: no price file for symbol {missing[0]} (the feed has: "
                              f"{', '.join(n for n, _ in feed.files)})")
    return feed


def load_toml(path: Path, table: str | None = None) -> dict[str, Any]:
    """Read a TOML file (optionally one dotted table of it); errors name the file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for part in (table or "").split("."):
        if part:
            data = data.get(part, {})
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: [{table}] must be a table")
    return data




@dataclass(frozen=True)
class HarnessConfig:
    """The whole configuration: how to run, and how to judge."""

    run: RunConfig = field(default_factory=RunConfig)
    gates: Thresholds = field(default_factory=Thresholds)


def harness_config(raw: Mapping[str, Any], base: HarnessConfig | None = None) -> HarnessConfig:
    """Layer a ``{"run": {...}, "gates": {...}}`` mapping over ``base``."""
    base = base or HarnessConfig()
    unknown = set(raw) - {"run", "gates"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section (known: gates, run)")
    for section in ("run", "gates"):
        if section in raw and not isinstance(raw[section], Mapping):
            raise ConfigError(f"{section}: expected a table of settings")
    gates = base.gates
    if "gates" in raw:
        changed = _fields(base.gates, raw["gates"], "gates.")
        for key, value in changed.items():
            if not isinstance(value, bool) and isinstance(value, (int, float, Decimal)) and value < 0:
                raise ConfigError(f"gates.{key}: a threshold cannot be negative, got {raw['gates'][key]!r}")
        gates = dataclasses.replace(base.gates, **changed)
    run = run_config(raw["run"], base.run) if "run" in raw else base.run
    return HarnessConfig(run, gates)


def load_config(config_file: Path | None = None, project_dir: Path = Path(".")) -> HarnessConfig:
    """Defaults, then ``[tool.harness]`` of pyproject.toml (or ``config_file``)."""
    if config_file is not None:
        return harness_config(anchored(load_toml(config_file), Path(config_file).parent))
    pyproject = project_dir / "pyproject.toml"
    if not pyproject.is_file():
        return HarnessConfig()
    return harness_config(anchored(load_toml(pyproject, "tool.harness"), project_dir))


def anchored(raw: dict[str, Any], directory: Path) -> dict[str, Any]:
    """``raw`` with a relative price-file path in ``run.feed`` taken from ``directory`` (the config's own)."""
    run = raw.get("run")
    if not isinstance(run, Mapping) or not isinstance(run.get("feed"), (str, Mapping)):
        return raw
    return {**raw, "run": {**run, "feed": anchor_feed(run["feed"], directory)}}


def assignments(lines: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` lines (values in TOML syntax, bare words as strings)."""
    parsed: dict[str, Any] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{line!r}: expected KEY=VALUE")
        try:
            parsed[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[key.strip()] = value.strip()
    return parsed
