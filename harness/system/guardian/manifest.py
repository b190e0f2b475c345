"""Where a run's persistence layers lived, written next to its spill so ``harness drain`` can finish the job.

Passwords are left out of the URLs written here; ``harness drain`` takes the full URL again
from its flags (or the environment) when the server needs one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness.errors import ConfigError

MANIFEST = "layers.json"
CLEANUP_FILE = "cleanup-pending.txt"  # what a run could not remove from the shared servers


@dataclass(frozen=True)
class Manifest:
    """One run's layer addresses: enough to reopen its history store and cache later."""

    run_id: str
    database_url: str | None
    sqlite_path: str
    schema: str
    redis_url: str | None
    key_prefix: str


def redact(url: str | None) -> str | None:
    """``url`` without its password (None stays None)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{host}"))


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write ``layers.json`` into a run's persistence directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1), encoding="utf-8")


def read_manifest(directory: Path) -> Manifest:
    """The manifest of a persistence directory; ConfigError naming the file when it is missing or wrong."""
    path = directory / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (not a run's persistence directory)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable: {exc}") from None
    names = {f.name for f in fields(Manifest)}
    if not isinstance(raw, dict) or set(raw) != names:
        raise ConfigError(f"{path}: expected the fields {', '.join(sorted(names))}")
    for name in ("run_id", "sqlite_path", "schema", "key_prefix"):
        if not isinstance(raw[name], str):
            raise ConfigError(f"{path}: {name} must be a string")
    for name in ("database_url", "redis_url"):
        if raw[name] is not None and not isinstance(raw[name], str):
            raise ConfigError(f"{path}: {name} must be a string or null")
    return Manifest(**raw)
