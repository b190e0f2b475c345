"""Wire format of the lock broker: one JSON object per message, strictly validated.

A DEALER client sends a single frame holding a JSON object; the ROUTER broker sees it as
``[identity, body]`` and answers ``[identity, body]``. Every request carries ``op`` and
``req`` (client-unique id echoed in the reply) and ``client`` (the lock owner's id, which
survives a client recreating its socket). Per op:

    acquire  names [str, ..], ts (int ns, first attempt), lease_ms (int > 0), wait_ms (int >= 0)
    release  names, tokens {name: int}
    renew    names, tokens, lease_ms
    status   names (optional filter)

Client ids and names are non-empty strings of at most ``MAX_TEXT`` characters that encode
as UTF-8 (JSON admits lone surrogates such as ``"\\ud800"``; they are refused here, before
any reply or event has to encode them).

Replies carry ``req`` and ``ok`` (bool); a refusal adds ``reason`` and, for wait-or-die,
``holder_ts``; a grant adds ``tokens`` and ``lease_ms`` (cut to the broker's limit); a
status reply adds ``holders``, ``queues`` and ``tokens`` (tokens only of names the asking
connection holds). A request that fails validation raises ``WireError`` so the
broker can answer ``{"ok": false, "reason": "malformed: ..."}`` and keep serving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.errors import InputError

DEFAULT_MAX_BYTES = 64 * 1024
OPS = frozenset({"acquire", "release", "renew", "status"})
MAX_NAMES = 256
MAX_TEXT = 256  # longest client id or lock name, in characters

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_loads = json.loads  # accepts UTF-8 bytes directly: no intermediate str decode step


class WireError(InputError):
    """A message that is not a valid lock request or reply."""


@dataclass(frozen=True)
class Request:
    """A validated lock request."""

    op: str
    req: int
    client: str
    names: tuple[str, ...] = ()
    ts: int = 0
    lease_ms: int = 0
    wait_ms: int = 0
    tokens: dict[str, int] = field(default_factory=dict)


def encode(message: dict[str, Any]) -> bytes:
    """Serialise a message body as compact UTF-8 JSON."""
    return _ENCODER.encode(message).encode()


def decode_object(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Parse a body into a JSON object, refusing oversized or non-object input."""
    if len(body) > max_bytes:
        raise WireError(f"oversized: {len(body)} bytes > {max_bytes}")
    try:
        value = _loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"bad json: {exc}") from None
    if not isinstance(value, dict):
        raise WireError("body must be a JSON object")
    return value


def _int(raw: dict[str, Any], key: str, minimum: int = 0) -> int:
    value = raw.get(key)
    # bool is an int subclass; a true/false where a number belongs is a client bug.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise WireError(f"{key} must be an integer >= {minimum}")
    return value


def _text(value: Any) -> bool:
    """A non-empty, bounded string that encodes as UTF-8 (JSON admits lone surrogates)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not _text(value):
        raise WireError(f"{key} must be a non-empty UTF-8 string of at most {MAX_TEXT} characters")
    return str(value)


def _names(raw: dict[str, Any], required: bool) -> tuple[str, ...]:
    value = raw.get("names", [] if not required else None)
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise WireError(f"names must be a list of at most {MAX_NAMES} strings")
    if required and not value:
        raise WireError("names must not be empty")
    if not all(_text(n) for n in value):
        raise WireError(f"names must be non-empty UTF-8 strings of at most {MAX_TEXT} characters")
    if len(set(value)) != len(value):
        raise WireError("names must be distinct")
    return tuple(value)


def _tokens(raw: dict[str, Any], names: tuple[str, ...]) -> dict[str, int]:
    value = raw.get("tokens")
    if not isinstance(value, dict) or set(value) != set(names):
        raise WireError("tokens must map every name to its token")
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in value.values()):
        raise WireError("tokens must be integers")
    return value


def parse_request(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Request:
    """Validate one request body; raise WireError naming what is wrong."""
    raw = decode_object(body, max_bytes)
    op = raw.get("op")
    if op not in OPS:
        raise WireError(f"unknown op {op!r}")
    req, client = _int(raw, "req"), _str(raw, "client")
    if op == "status":
        return Request(op, req, client, _names(raw, required=False))
    names = _names(raw, required=True)
    if op == "acquire":
        return Request(
            op, req, client, names,
            ts=_int(raw, "ts"), lease_ms=_int(raw, "lease_ms", 1), wait_ms=_int(raw, "wait_ms"),
        )
    tokens = _tokens(raw, names)
    lease_ms = _int(raw, "lease_ms", 1) if op == "renew" else 0
    return Request(op, req, client, names, lease_ms=lease_ms, tokens=tokens)


def request_req(body: bytes) -> int | None:
    """Best-effort ``req`` of a rejected body, so its error reply can still be matched."""
    try:
        value = json.loads(body).get("req")
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
