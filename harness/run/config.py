"""The configuration of a run: one typed object, built once, passed down.

``HarnessConfig`` pairs what the system is asked to do (``harness.system.settings.RunConfig``)
with how the run is judged (``harness.judge.thresholds.Thresholds``). Layers, later wins:
built-in defaults, ``[tool.harness]`` in ``pyproject.toml`` (or a TOML file given with
``--config``), then command-line flags. Every bad value raises ``ConfigError`` with one
line that names the key (the coercion is ``harness.settings``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.faults.lock_nemesis import NemesisConfig, nemesis_config
from harness.judge.thresholds import Thresholds, thresholds
from harness.settings import assignments, changed_fields, coerce, load_toml
from harness.system.feed import CsvFeed, FeedError, anchor_feed, fit_specs, parse_feed
from harness.system.model import SymbolSpec, symbol_specs
from harness.system.settings import ConcurrencyMode, RunConfig

__all__ = ["ConcurrencyMode", "HarnessConfig", "RunConfig", "assignments", "harness_config", "load_config",
           "load_toml", "run_config"]


def run_config(raw: Mapping[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Layer raw settings over ``base``: ``symbols`` as names, a comma list or a table of
    per-symbol settings; ``feed`` as ``csv:PATH`` or ``SYMBOL=FILE,...`` (see harness.system.feed)."""
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
    changed.update(changed_fields(base, raw, ""))
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
            changes[key] = coerce(f"symbols.{name}.{key}", raw, kind)
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


@dataclass(frozen=True)
class HarnessConfig:
    """The whole configuration: how to run, how to judge, and which faults to inject."""

    run: RunConfig = field(default_factory=RunConfig)
    gates: Thresholds = field(default_factory=Thresholds)
    nemesis: NemesisConfig = field(default_factory=NemesisConfig)


SECTIONS = ("gates", "nemesis", "run")


def harness_config(raw: Mapping[str, Any], base: HarnessConfig | None = None) -> HarnessConfig:
    """Layer a ``{"run": {...}, "gates": {...}, "nemesis": {...}}`` mapping over ``base``."""
    base = base or HarnessConfig()
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section (known: {', '.join(SECTIONS)})")
    for section in SECTIONS:
        if section in raw and not isinstance(raw[section], Mapping):
            raise ConfigError(f"{section}: expected a table of settings")
    gates = thresholds(raw["gates"], base.gates) if "gates" in raw else base.gates
    run = run_config(raw["run"], base.run) if "run" in raw else base.run
    nemesis = nemesis_config(raw["nemesis"], base.nemesis) if "nemesis" in raw else base.nemesis
    return HarnessConfig(run, gates, nemesis)


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


