"""`harness run --serve`: the Guardian API over a run while it happens, scraped by Prometheus' parser."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import _history_builders as hb

HARNESS = str(Path(sys.executable).with_name("harness"))
TOKEN = "live-token"


def _events_total(url: str) -> float:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    return families["harness_events"].samples[0].value


def test_a_live_run_is_scraped_while_it_trades(tmp_path):
    command = [HARNESS, "run", "multi_symbol_stress", "--duration", "3", "--serve", "0", "--token", TOKEN,
               "--out", str(tmp_path / "run")]
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
        assert run.stdout is not None
        line = run.stdout.readline()  # printed once the server answers: no sleep needed
        found = re.match(r"live: (http://\S+)", line)
        assert found, line
        url = found.group(1)
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
        first = 0.0
        while first == 0 and run.poll() is None:  # until the journal's first flush reaches the file
            first = _events_total(url)
        later = first
        # The run trades for seconds; each scrape sees the history so far, which only grows.
        while later == first and run.poll() is None:
            later = _events_total(url)
        assert later > first > 0
        health = httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
        assert health["status"] in ("HEALTHY", "DEGRADED", "HALTED")
        rest = run.stdout.read()
    assert run.returncode == 0, rest
    assert "[UnifiedGate] MULTI_SYMBOL_STRESS PASS" in rest


@pytest.mark.usefixtures("in_empty_dir")
def test_serve_without_a_token_is_one_error_line_before_the_run(capsys, monkeypatch):
    monkeypatch.delenv("HARNESS_API_TOKEN", raising=False)
    code, out, err = hb.cli(capsys, "run", "multi_symbol_stress", "--trades", "2", "--serve", "0")
    assert code == 2 and err.count("\n") == 1 and "--token" in err and not out


def test_a_flood_of_idle_connections_leaves_the_run_its_verdict_and_report(tmp_path):
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip(f"this test holds 1,100 sockets; the file limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # The usual soft file limit of 1,024: 1,100 connections to an API inside the run ran it out of descriptors.
    command = ["prlimit", f"--nofile=1024:{hard}", HARNESS, "run", "multi_symbol_stress", "--duration", "2", "--serve",
               "0", "--token", TOKEN, "--out", str(tmp_path / "run")]
    flood: list[socket.socket] = []
    try:
        with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as run:
            assert run.stdout is not None
            found = re.match(r"live: http://([\d.]+):(\d+)", run.stdout.readline())
            assert found
            address = (found.group(1), int(found.group(2)))
            for _ in range(1100):
                flood.append(socket.create_connection(address, timeout=10))  # connected, never a request
            answer = httpx.get(f"http://{address[0]}:{address[1]}/health", timeout=10,
                               headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code in (200, 503)  # answered at once: served, or refused within its bounds
            rest = run.stdout.read()
    finally:
        for sock in flood:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert run.returncode == 0, rest
    assert "[UnifiedGate] MULTI_SYMBOL_STRESS PASS" in rest
    assert "PASS" in (tmp_path / "run" / "VERIFY_LOG.txt").read_text(encoding="utf-8")


def test_a_connection_that_sends_no_request_is_closed_by_the_server(monkeypatch):
    import socket
    import threading

    import uvicorn

    from harness.serve import live

    monkeypatch.setattr(live, "HEAD_TIMEOUT_S", 0.2)

    async def app(scope, receive, send):  # never reached: no request is sent
        raise AssertionError(scope)

    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=live._bounded_protocol(), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        idle = socket.create_connection(sock.getsockname()[:2], timeout=30)
        half = socket.create_connection(sock.getsockname()[:2], timeout=30)
        half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # a head that never ends (slowloris)
        assert idle.recv(1) == b"" and half.recv(1) == b""  # closed by the server, not by this timeout
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
