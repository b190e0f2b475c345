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
    command = [HARNESS, "run", "multi_symbol_stress", "--duration", "1.5", "--serve", "0", "--token", TOKEN,
               "--out", str(tmp_path / "run")]
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
        assert run.stdout is not None
        line = run.stdout.readline()  # printed once the server answers: no sleep needed
        found = re.match(r"live: (http://\S+)", line)
        assert found, line
        url = found.group(1)
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
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
