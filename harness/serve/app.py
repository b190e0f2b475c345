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

Every route needs ``Authorization: Bearer <token>``; there is no unauthenticated route.
The OpenAPI schema (``/openapi.json``) and a self-contained reference page (``/docs``) are
served behind the same token. ``/metrics`` is built with prometheus_client.
"""

from __future__ import annotations

import argparse
import hmac
import html
import ipaddress
import os
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.history.log import Event, History, HistoryError
from harness.history.validate import load as load_checked
from harness.judge.checks.replay import run_info
from harness.system.guardian.checkpoint import replay_state
from harness.system.guardian.risk import BreakerLimits, Guardian, GuardianSnapshot, Health, RiskLimits
from harness.system.model import SymbolSpec

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
        self._events = load_checked(self.path).events  # validated as `harness check` does: HistoryError, FILE:LINE
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
    if info.risk_limits:
        limits = _limits(info.risk_limits)
    else:
        limits = RiskLimits(equity=info.equity) if info.equity else RiskLimits()
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


# -- Prometheus exposition (prometheus_client) ---------------------------------------------


class _RunCollector:
    """A prometheus_client collector over one guardian snapshot and the run's events."""

    def __init__(self, snapshot: GuardianSnapshot, events: Sequence[Event]) -> None:
        self.snapshot, self.events = snapshot, events

    def collect(self) -> Iterator[Any]:
        """Every family, built fresh from the snapshot (the API is a view, not a store)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snapshot, layers = self.snapshot, layer_status(self.events)
        health = health_of(snapshot, layers)
        yield _gauge(GaugeMetricFamily, "harness_guardian_health", "1 for the guardian's current health state.",
                     ["state"], [([h.value], int(h is health)) for h in Health])
        for name, text, value in (
                ("harness_guardian_gross_exposure", "Sum of |position notional| over symbols.",
                 snapshot.gross_exposure),
                ("harness_guardian_gross_exposure_ratio", "Gross exposure divided by equity.", snapshot.exposure_ratio),
                ("harness_guardian_global_realised_pnl", "Realised PnL over all symbols.", snapshot.realised)):
            yield GaugeMetricFamily(name, text, value=float(value))
        yield CounterMetricFamily("harness_guardian_breaker_trips", "Circuit breaker trips.", value=snapshot.trips)
        syms = list(snapshot.symbols.items())
        for name, text, field_of in (
                ("harness_guardian_position", "Position per symbol.", lambda r: r.position),
                ("harness_guardian_exposure", "|Position notional| per symbol.", lambda r: r.exposure),
                ("harness_guardian_realised_pnl", "Realised PnL per symbol.", lambda r: r.realised),
                ("harness_guardian_loss_streak", "Consecutive losing trades per symbol.", lambda r: r.streak),
                ("harness_guardian_breaker_tripped", "1 if the symbol's breaker tripped.",
                 lambda r: int(bool(r.tripped)))):
            yield _gauge(GaugeMetricFamily, name, text, ["symbol"], [([n], field_of(r)) for n, r in syms])
        yield _gauge(GaugeMetricFamily, "harness_persistence_layer_up", "1 while a persistence layer is up.",
                     ["layer"], [([name], int(state == "up")) for name, state in layers.items()])
        levels = dict.fromkeys(ALERT_LEVELS, 0)
        for event in alerts(self.events):
            level = str(event.payload.get("level", "unknown"))
            levels[level] = levels.get(level, 0) + 1
        alerts_family = CounterMetricFamily("harness_alerts", "Alerts raised, by level.", labels=["level"])
        for level, count in levels.items():
            alerts_family.add_metric([level], count)
        yield alerts_family
        yield CounterMetricFamily("harness_events", "Events recorded in the run's history.", value=len(self.events))


def _gauge(family: Any, name: str, text: str, labels: list[str], samples: Sequence[tuple[list[str], Any]]) -> Any:
    gauge = family(name, text, labels=labels)
    for values, value in samples:
        gauge.add_metric(values, float(value))
    return gauge


def metrics_text(snapshot: GuardianSnapshot, events: Sequence[Event]) -> str:
    """The guardian and run in the Prometheus text exposition format (through prometheus_client)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunCollector(snapshot, events))
    return generate_latest(registry).decode("utf-8")


def docs_page(spec: Mapping[str, Any]) -> str:
    """The API reference as one self-contained HTML page (no CDN script: it opens offline)."""
    rows = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = ", ".join(p.get("name", "") for p in op.get("parameters", []) if p.get("in") == "query")
            rows.append(f"<tr><td>{html.escape(method.upper())}</td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(params)}</td></tr>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(spec['info']['title'])}</title>"
            f"</head><body><h1>{html.escape(spec['info']['title'])}</h1><p>Every route needs "
            "<code>Authorization: Bearer &lt;token&gt;</code>. Machine-readable: <code>/openapi.json</code>.</p>"
            "<table border='1'><tr><th>method</th><th>path</th><th>what</th><th>query</th></tr>"
            f"{''.join(rows)}</table></body></html>")


# -- the app --------------------------------------------------------------------------------


def create_app(source: GuardianSource, token: str) -> FastAPI:
    """A FastAPI app serving ``source``; every route requires the bearer ``token``."""
    from fastapi import Depends, FastAPI, Header, HTTPException, Query
    from fastapi.responses import HTMLResponse, PlainTextResponse

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

    # FastAPI's own docs routes ignore app dependencies: serve the schema and docs ourselves,
    # behind the same token as everything else.
    app = FastAPI(
        title="harness Guardian API", dependencies=[Depends(authorise)],
        docs_url=None, redoc_url=None, openapi_url=None,
    )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> Any:
        return HTMLResponse(docs_page(app.openapi()))

    @app.get("/health", summary="Overall health, the guardian's own state and each persistence layer")
    def health() -> dict[str, Any]:
        events = source.events()
        layers = layer_status(events)
        snapshot = source.snapshot()
        return {"status": health_of(snapshot, layers).value, "guardian": snapshot.health.value, "layers": layers}

    @app.get("/guardian", summary="Exposure, realised PnL, breakers, per-symbol positions")
    def guardian() -> dict[str, Any]:
        return guardian_json(source.snapshot())

    @app.get("/metrics", response_class=PlainTextResponse, response_model=None, summary="Prometheus metrics")
    def metrics() -> Any:
        body = metrics_text(source.snapshot(), source.events())
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/alerts", summary="Every alert raised so far")
    def alert_list() -> dict[str, Any]:
        found = [alert_json(e) for e in alerts(source.events())]
        return {"count": len(found), "alerts": found}

    @app.get("/audit", summary="The run's events, a page at a time")
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


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8787, tls: tuple[Path, Path] | None = None) -> None:
    """Serve ``app`` with uvicorn until interrupted (HTTPS with ``tls``: certificate and key files);
    OSError if the address cannot be bound."""
    import uvicorn

    sock = bind(host, port)
    certificate, key = tls or (None, None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ssl_certfile=certificate, ssl_keyfile=key))
    with sock:
        server.run(sockets=[sock])


# -- `harness serve` ------------------------------------------------------------------------


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``harness serve`` to a (sub)parser."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787)")
    parser.add_argument("--events", type=Path, help="a saved events.jsonl to serve")
    parser.add_argument("--token", help=f"bearer token clients must send (default: ${TOKEN_ENV})")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow plain HTTP on an address beyond loopback (the token travels in clear)")


def run_serve(args: argparse.Namespace) -> int:
    """Serve the Guardian API over a saved history; 2 with one error line if it cannot start."""
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        return _fail(f"no API token: give --token or set {TOKEN_ENV}")
    if args.events is None:
        return _fail("nothing to serve: give --events FILE (a saved events.jsonl)")
    if (args.tls_cert is None) != (args.tls_key is None):
        return _fail("give both --tls-cert and --tls-key, or neither")
    tls = None if args.tls_cert is None else (args.tls_cert, args.tls_key)
    if tls is None and not args.insecure and not is_loopback(args.host):
        return _fail(f"--host {args.host} is beyond loopback: the bearer token would cross the network in clear; "
                     f"give --tls-cert and --tls-key, or --insecure to allow it")
    try:
        source = FileSource(args.events)
    except HistoryError as exc:
        return _fail(str(exc))
    try:
        serve(create_app(source, token), args.host, args.port, tls)
    except ImportError as exc:
        return _fail(f"the API needs fastapi and uvicorn (pip install 'trading-harness[api]'): {exc}")
    except (OSError, OverflowError) as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc}")
    return 0


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere: not loopback


def _fail(message: str) -> int:
    print(f"harness serve: {message}", file=sys.stderr)
    return 2
