"""Guardian API: health, guardian state, Prometheus metrics, alerts and the audit trail over HTTP.

The API reads a ``GuardianSource``: a live run (``RunSource``: a guardian and its history)
or a saved ``events.jsonl`` (``FileSource``, for ``harness serve --events FILE``). A saved
history has no live guardian, so its state is rebuilt from what the guardian recorded:
``risk.settle`` (position, mark), ``trade.closed`` (realised PnL, loss streak) and
``risk.trip`` (breakers).

Persistence layers report through ``alert`` events (payload ``level``, ``layer``,
``reason``). A layer is ``down`` while its newest alert is P0 or P1, and ``up`` again after
an alert of a lower level (a recovery notice) or if it never alerted. Health is the
guardian's own (HALTED beats DEGRADED beats HEALTHY), made at least DEGRADED while any
layer is down.

Every route needs ``Authorization: Bearer <token>``; there is no unauthenticated route
(the OpenAPI schema and docs pages are switched off for that reason).
"""

from __future__ import annotations

import argparse
import hmac
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.checks.replay import run_info
from harness.guardian.checkpoint import replay_state
from harness.guardian.risk import BreakerLimits, Guardian, GuardianSnapshot, Health, RiskLimits
from harness.history import Event, History, HistoryError, read_jsonl
from harness.model import SymbolSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

LAYERS = ("cache", "history", "checkpoint")
DOWN_LEVELS = ("P0", "P1")
ALERT_LEVELS = ("P0", "P1", "P2")
DEFAULT_PAGE = 100
MAX_PAGE = 1000
TOKEN_ENV = "HARNESS_API_TOKEN"


class SnapshotSource(Protocol):
    """Anything that gives a guardian snapshot (the live ``Guardian`` does)."""

    def snapshot(self) -> GuardianSnapshot:
        """A consistent frozen view of the guardian."""


class GuardianSource(Protocol):
    """What the API reads: the guardian's state and the run's events."""

    def snapshot(self) -> GuardianSnapshot:
        """A consistent frozen view of the guardian."""

    def events(self) -> Sequence[Event]:
        """All events so far, in sequence order."""


class RunSource:
    """A live run: the guardian's own snapshot and the history as it grows."""

    def __init__(self, guardian: SnapshotSource, history: History) -> None:
        self._guardian = guardian
        self._history = history

    def snapshot(self) -> GuardianSnapshot:
        """The live guardian's snapshot."""
        return self._guardian.snapshot()

    def events(self) -> Sequence[Event]:
        """The history's events so far."""
        return self._history.events()


class FileSource:
    """A saved ``events.jsonl``: read once; the guardian state is rebuilt from its events."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._events = tuple(read_jsonl(self.path))  # HistoryError names the file and line
        self._snapshot = snapshot_from_events(self._events)

    def snapshot(self) -> GuardianSnapshot:
        """The guardian state as of the file's last event."""
        return self._snapshot

    def events(self) -> Sequence[Event]:
        """The file's events, in sequence order."""
        return self._events


# -- state rebuilt from events --------------------------------------------------------------


def layer_status(events: Sequence[Event]) -> dict[str, str]:
    """``up`` or ``down`` for each persistence layer, from its newest alert."""
    status = dict.fromkeys(LAYERS, "up")
    for event in alerts(events):
        layer = str(event.payload.get("layer", "-"))
        status[layer] = "down" if event.payload.get("level") in DOWN_LEVELS else "up"
    return status


def alerts(events: Sequence[Event]) -> list[Event]:
    """The alert events, in order."""
    return [e for e in events if e.kind == "alert"]


def health_of(snapshot: GuardianSnapshot, layers: Mapping[str, str]) -> Health:
    """The guardian's health, at least DEGRADED while a persistence layer is down."""
    if snapshot.health is Health.HEALTHY and "down" in layers.values():
        return Health.DEGRADED
    return snapshot.health


def snapshot_from_events(events: Sequence[Event]) -> GuardianSnapshot:
    """The guardian snapshot a history implies: the checkpoint's replay, loaded into a guardian."""
    info = run_info(events)
    specs = [SymbolSpec(name, Decimal(1), *info.tick_lot(name), Decimal(0)) for name in info.symbols]
    limits = _limits(info.risk_limits) if info.risk_limits else RiskLimits(
        **({"equity": info.equity} if info.equity else {}))
    state, _ = replay_state(specs, limits, events)
    guardian = Guardian(specs, limits)
    guardian.load_state(state)
    return guardian.snapshot()


def _limits(raw: Mapping[str, Any]) -> RiskLimits:
    """The RiskLimits a ``run.start`` recorded."""

    def breaker(b: Mapping[str, Any]) -> BreakerLimits:
        dd, loss = b["max_drawdown"], b["loss_limit"]
        return BreakerLimits(None if dd is None else Decimal(str(dd)), None if loss is None else Decimal(str(loss)),
                             b["max_consecutive_losses"])

    return RiskLimits(Decimal(str(raw["equity"])), Decimal(str(raw["max_gross_exposure"])),
                      Decimal(str(raw["max_symbol_exposure"])), breaker(raw["symbol_breaker"]),
                      breaker(raw["global_breaker"]))


# -- JSON views -----------------------------------------------------------------------------


def event_json(event: Event) -> dict[str, Any]:
    """An event as a JSON object (the same fields as a line of events.jsonl)."""
    return {
        "seq": event.seq, "mono_ns": event.mono_ns, "wall": event.wall, "run_id": event.run_id,
        "worker": event.worker, "symbol": event.symbol, "kind": event.kind, "payload": dict(event.payload),
    }


def guardian_json(snapshot: GuardianSnapshot) -> dict[str, Any]:
    """The guardian state; Decimals as exact strings."""
    return {
        "health": snapshot.health.value,
        "gross_exposure": str(snapshot.gross_exposure),
        "exposure_ratio": str(snapshot.exposure_ratio),
        "realised_pnl": str(snapshot.realised),
        "tripped": snapshot.tripped,
        "trips": snapshot.trips,
        "symbols": {
            name: {
                "position": str(risk.position), "mark": str(risk.mark), "exposure": str(risk.exposure),
                "realised_pnl": str(risk.realised), "loss_streak": risk.streak, "tripped": risk.tripped,
            }
            for name, risk in snapshot.symbols.items()
        },
    }


def alert_json(event: Event) -> dict[str, Any]:
    """One alert: when, where, level, layer and reason."""
    p = event.payload
    return {
        "seq": event.seq, "wall": event.wall, "worker": event.worker, "symbol": event.symbol,
        "level": p.get("level"), "layer": p.get("layer"), "reason": p.get("reason"),
    }


# -- Prometheus text exposition -------------------------------------------------------------


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: Decimal | int) -> str:
    # Plain notation: Decimal's str may use exponents such as 0E-8.
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _family(name: str, kind: str, help_text: str, samples: Sequence[tuple[dict[str, str], Decimal | int]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        body = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{body}}} {_number(value)}" if body else f"{name} {_number(value)}")
    return lines


def metrics_text(snapshot: GuardianSnapshot, events: Sequence[Event]) -> str:
    """The guardian and run as Prometheus text exposition (format 0.0.4)."""
    layers = layer_status(events)
    health = health_of(snapshot, layers)
    syms = snapshot.symbols.items()
    levels = dict.fromkeys(ALERT_LEVELS, 0)
    for event in alerts(events):
        level = str(event.payload.get("level", "unknown"))
        levels[level] = levels.get(level, 0) + 1
    families = [
        _family("harness_guardian_health", "gauge", "1 for the guardian's current health state.",
                [({"state": h.value}, int(h is health)) for h in Health]),
        _family("harness_guardian_gross_exposure", "gauge", "Sum of |position notional| over symbols.",
                [({}, snapshot.gross_exposure)]),
        _family("harness_guardian_gross_exposure_ratio", "gauge", "Gross exposure divided by equity.",
                [({}, snapshot.exposure_ratio)]),
        _family("harness_guardian_global_realised_pnl", "gauge", "Realised PnL over all symbols.",
                [({}, snapshot.realised)]),
        _family("harness_guardian_breaker_trips_total", "counter", "Circuit breaker trips.", [({}, snapshot.trips)]),
        _family("harness_guardian_position", "gauge", "Position per symbol.",
                [({"symbol": n}, r.position) for n, r in syms]),
        _family("harness_guardian_exposure", "gauge", "|Position notional| per symbol.",
                [({"symbol": n}, r.exposure) for n, r in syms]),
        _family("harness_guardian_realised_pnl", "gauge", "Realised PnL per symbol.",
                [({"symbol": n}, r.realised) for n, r in syms]),
        _family("harness_guardian_loss_streak", "gauge", "Consecutive losing trades per symbol.",
                [({"symbol": n}, r.streak) for n, r in syms]),
        _family("harness_guardian_breaker_tripped", "gauge", "1 if the symbol's breaker tripped.",
                [({"symbol": n}, int(bool(r.tripped))) for n, r in syms]),
        _family("harness_persistence_layer_up", "gauge", "1 while a persistence layer is up.",
                [({"layer": name}, int(state == "up")) for name, state in layers.items()]),
        _family("harness_alerts_total", "counter", "Alerts raised, by level.",
                [({"level": level}, count) for level, count in levels.items()]),
        _family("harness_events_total", "counter", "Events recorded in the run's history.", [({}, len(events))]),
    ]
    return "\n".join(line for family in families for line in family) + "\n"


# -- the app --------------------------------------------------------------------------------


def create_app(source: GuardianSource, token: str) -> FastAPI:
    """A FastAPI app serving ``source``; every route requires the bearer ``token``."""
    from fastapi import Depends, FastAPI, Header, HTTPException, Query
    from fastapi.responses import PlainTextResponse

    if not token:
        raise ValueError("the Guardian API needs a non-empty token")
    expected = token.encode("utf-8")

    # Annotations here must resolve from module globals (FastAPI reads them as strings),
    # which is why the fastapi names appear only as default values.
    def authorise(authorization: str = Header("")) -> None:
        scheme, _, given = authorization.partition(" ")
        # compare_digest on bytes: constant time, and no TypeError on non-ASCII input.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(
        title="harness Guardian API", dependencies=[Depends(authorise)],
        docs_url=None, redoc_url=None, openapi_url=None,
    )

    @app.get("/health")
    def health() -> dict[str, Any]:
        events = source.events()
        layers = layer_status(events)
        snapshot = source.snapshot()
        return {"status": health_of(snapshot, layers).value, "guardian": snapshot.health.value, "layers": layers}

    @app.get("/guardian")
    def guardian() -> dict[str, Any]:
        return guardian_json(source.snapshot())

    @app.get("/metrics", response_class=PlainTextResponse, response_model=None)
    def metrics() -> Any:
        body = metrics_text(source.snapshot(), source.events())
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/alerts")
    def alert_list() -> dict[str, Any]:
        found = [alert_json(e) for e in alerts(source.events())]
        return {"count": len(found), "alerts": found}

    @app.get("/audit")
    def audit(offset: int = Query(0, ge=0), limit: int = Query(DEFAULT_PAGE, ge=1)) -> dict[str, Any]:
        events = source.events()
        limit = min(limit, MAX_PAGE)
        page = events[offset:offset + limit]
        end = offset + len(page)
        return {
            "offset": offset, "limit": limit, "total": len(events),
            "next_offset": end if end < len(events) else None,
            "events": [event_json(e) for e in page],
        }

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; raises OSError (address in use, bad host) before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serve ``app`` with uvicorn until interrupted; OSError if the address cannot be bound."""
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    with sock:
        server.run(sockets=[sock])


# -- `harness serve` ------------------------------------------------------------------------


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``harness serve`` to a (sub)parser."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787)")
    parser.add_argument("--events", type=Path, help="a saved events.jsonl to serve")
    parser.add_argument("--token", help=f"bearer token clients must send (default: ${TOKEN_ENV})")


def run_serve(args: argparse.Namespace) -> int:
    """Serve the Guardian API over a saved history; 2 with one error line if it cannot start."""
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        return _fail(f"no API token: give --token or set {TOKEN_ENV}")
    if args.events is None:
        return _fail("nothing to serve: give --events FILE (a saved events.jsonl)")
    try:
        source = FileSource(args.events)
    except HistoryError as exc:
        return _fail(str(exc))
    try:
        serve(create_app(source, token), args.host, args.port)
    except ImportError as exc:
        return _fail(f"the API needs fastapi and uvicorn (pip install 'harness[api]'): {exc}")
    except (OSError, OverflowError) as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc}")
    return 0


def _fail(message: str) -> int:
    print(f"harness serve: {message}", file=sys.stderr)
    return 2
