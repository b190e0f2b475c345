"""Tests of the Guardian API against a real uvicorn server on loopback, through httpx."""

from __future__ import annotations

import argparse
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from harness.history.log import write_jsonl
from harness.serve.app import (
    MAX_PAGE,
    FileSource,
    GuardianSource,
    RunSource,
    add_serve_arguments,
    bind,
    create_app,
    guardian_json,
    is_loopback,
    run_serve,
)
from harness.system.engine import RunResult, run
from harness.system.guardian.risk import GuardianSnapshot
from harness.system.locks.local import LockTable
from harness.system.settings import RunConfig

TOKEN = "s3cret-token"
ROUTES = ("/health", "/guardian", "/metrics", "/alerts", "/audit")


@dataclass(frozen=True)
class FixedGuardian:
    """Stands in for a live guardian: always the snapshot the run ended with."""

    final: GuardianSnapshot

    def snapshot(self) -> GuardianSnapshot:
        return self.final


@pytest.fixture(scope="module")
def result() -> RunResult:
    """A short real run, plus the alerts a persistence layer would raise."""
    done = run(RunConfig(trades=5), LockTable())
    done.history.append("alert", worker="writer", level="P1", layer="cache", reason="redis connection lost")
    done.history.append("alert", worker="writer", level="P0", layer="history", reason="database and cache down")
    done.history.append("alert", worker="writer", level="P2", layer="history", reason="database back, drained")
    return done


@pytest.fixture(scope="module")
def events_file(result: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "events.jsonl"
    write_jsonl(result.events(), path)
    return path


@pytest.fixture(scope="module", params=["run", "file"])
def source(request: pytest.FixtureRequest, result: RunResult, events_file: Path) -> GuardianSource:
    if request.param == "run":
        return RunSource(FixedGuardian(result.guardian), result.history)
    return FileSource(events_file)


@pytest.fixture(scope="module")
def base_url(source: GuardianSource) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread, for the module."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(source, TOKEN), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):  # at most ~10 s: each round waits up to 20 ms on the thread
        if server.started or not thread.is_alive():
            break
        thread.join(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    assert not thread.is_alive()


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
        yield c


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", TOKEN, "Bearer tökén".encode()]
)
def test_unauthorised_without_the_right_bearer_token(base_url: str, route: str, header: str | bytes | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(base_url + route, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_with_the_token(client: httpx.Client, route: str) -> None:
    assert client.get(route).status_code == 200


def test_docs_and_schema_are_served_only_behind_the_token(base_url: str, client: httpx.Client) -> None:
    for route in ("/docs", "/openapi.json"):
        assert httpx.get(base_url + route, timeout=10).status_code == 401
    schema = client.get("/openapi.json").json()
    assert set(ROUTES) <= set(schema["paths"])
    page = client.get("/docs")
    assert page.status_code == 200 and all(route in page.text for route in ROUTES)
    assert "<script" not in page.text, "the reference page opens offline: no CDN script"


def test_health_reports_layers_and_degrades_while_one_is_down(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["layers"] == {"cache": "down", "history": "up", "checkpoint": "up"}
    assert (body["guardian"], body["status"]) == ("HEALTHY", "DEGRADED")


def test_guardian_state_has_decimals_as_strings(client: httpx.Client, result: RunResult) -> None:
    body = client.get("/guardian").json()
    assert body == guardian_json(result.guardian)
    assert set(body["symbols"]) == set(result.config.symbol_names)
    for risk in body["symbols"].values():
        assert all(isinstance(risk[k], str) for k in ("position", "mark", "exposure", "realised_pnl"))


def scrape(client: httpx.Client) -> dict[str, float]:
    """/metrics parsed by prometheus_client's own parser: ``name{labels}`` -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_parse_as_prometheus_exposition(client: httpx.Client, result: RunResult) -> None:
    samples = scrape(client)
    assert samples["harness_events_total"] == len(result.events())
    assert samples['harness_alerts_total{level="P0"}'] == 1
    assert samples['harness_alerts_total{level="P1"}'] == 1
    assert samples['harness_guardian_health{state="DEGRADED"}'] == 1
    assert samples['harness_guardian_health{state="HEALTHY"}'] == 0
    for symbol, risk in result.guardian.symbols.items():
        assert samples[f'harness_guardian_realised_pnl{{symbol="{symbol}"}}'] == float(risk.realised)
    assert "harness_guardian_gross_exposure_ratio" in samples


def test_audit_pages_return_every_event_exactly_once(client: httpx.Client, result: RunResult) -> None:
    seen, offset, pages = [], 0, 0
    while offset is not None:
        page = client.get("/audit", params={"offset": offset, "limit": 37}).json()
        assert len(page["events"]) <= 37
        seen.extend(e["seq"] for e in page["events"])
        offset, pages = page["next_offset"], pages + 1
        assert pages <= len(result.events())
    assert seen == [e.seq for e in result.events()]


def test_audit_caps_the_limit_and_rejects_bad_values(client: httpx.Client, result: RunResult) -> None:
    page = client.get("/audit", params={"limit": 10**9}).json()
    assert page["limit"] == MAX_PAGE
    assert len(page["events"]) == min(MAX_PAGE, len(result.events()))
    assert client.get("/audit", params={"offset": len(result.events())}).json()["events"] == []
    assert client.get("/audit", params={"offset": -1}).status_code == 422
    assert client.get("/audit", params={"limit": 0}).status_code == 422


def test_audit_events_match_the_jsonl_fields(client: httpx.Client, result: RunResult) -> None:
    first = client.get("/audit", params={"limit": 1}).json()["events"][0]
    event = result.events()[0]
    assert (first["seq"], first["kind"], first["run_id"], first["payload"]) == (
        event.seq, event.kind, event.run_id, dict(event.payload)
    )


def test_alerts_returns_only_alert_events(client: httpx.Client, result: RunResult) -> None:
    body = client.get("/alerts").json()
    expected = [e.seq for e in result.events() if e.kind == "alert"]
    assert [a["seq"] for a in body["alerts"]] == expected and body["count"] == 3
    assert [(a["level"], a["layer"]) for a in body["alerts"]] == [("P1", "cache"), ("P0", "history"), ("P2", "history")]


def test_file_source_rebuilds_the_live_guardian_state(events_file: Path, result: RunResult) -> None:
    assert FileSource(events_file).snapshot() == result.guardian


def test_create_app_refuses_an_empty_token(result: RunResult) -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        create_app(RunSource(FixedGuardian(result.guardian), result.history), "")


# -- harness serve ---------------------------------------------------------------------------


def _serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="harness serve")
    add_serve_arguments(parser)
    return parser.parse_args(argv)


def _one_error_line(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_serve_without_a_token_is_one_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, events_file: Path
) -> None:
    monkeypatch.delenv("HARNESS_API_TOKEN", raising=False)
    assert run_serve(_serve_args("--events", str(events_file))) == 2
    _one_error_line(capsys, "HARNESS_API_TOKEN")


@pytest.mark.parametrize("content", [None, "not json\n", '{"seq": 1}\n'])
def test_serve_with_an_unreadable_events_file_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "events.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert run_serve(_serve_args("--events", str(path), "--token", TOKEN)) == 2
    _one_error_line(capsys, str(path))


def test_serve_on_a_busy_port_is_one_error_line(capsys: pytest.CaptureFixture[str], events_file: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        args = _serve_args("--events", str(events_file), "--token", TOKEN, "--port", str(port))
        assert run_serve(args) == 2
    _one_error_line(capsys, f"127.0.0.1:{port}")


@pytest.mark.parametrize("content", ['{"seq": 1, "mono_ns": 0, "wall": "x", "run_id": "r", "worker": "w", '
                                     '"symbol": null, "kind": "order.teleport", "payload": {}}\n'])
def test_serve_validates_the_history_as_check_does(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   content: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(content, encoding="utf-8")  # valid JSON, but an unknown kind: check refuses it, so does serve
    assert run_serve(_serve_args("--events", str(path), "--token", TOKEN)) == 2
    _one_error_line(capsys, f"{path}:1", "unknown event kind")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org"])
def test_a_bind_beyond_loopback_needs_tls_or_insecure(capsys: pytest.CaptureFixture[str], events_file: Path,
                                                      host: str) -> None:
    assert run_serve(_serve_args("--events", str(events_file), "--token", TOKEN, "--host", host)) == 2
    _one_error_line(capsys, f"--host {host} is beyond loopback", "--tls-cert", "--insecure")


def test_half_a_tls_pair_is_one_error_line(capsys: pytest.CaptureFixture[str], events_file: Path) -> None:
    assert run_serve(_serve_args("--events", str(events_file), "--token", TOKEN, "--tls-cert", "c.pem")) == 2
    _one_error_line(capsys, "both --tls-cert and --tls-key")


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("10.0.0.1", False)])
def test_loopback_is_told_apart(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
