"""Lock services without fencing tokens (redis-py's Lock, filelock) are judged, never crash.

Correct: PASS with the fencing line "not provided". A redis-py lock held past its lease:
FAIL on Lock Atomicity, seen from the resources' writes. A token that is not an integer:
a worker error naming the lock service.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.system.guardian.services import skip_or_fail
from tests.judge.checks.test_lock_plugins import LOCK_AREA, _brokers  # noqa: F401 -- the fixture applies here too


@pytest.fixture
def redis_url(monkeypatch) -> str:
    """The real Redis the redis-py examples use (skips, or fails when services are required)."""
    url = skip_or_fail("redis").url
    monkeypatch.setenv("REDIS_URL", url)
    return url


def run(tmp_path, locks: str, mode: str):
    out = tmp_path / f"{locks.replace(':', '-')}-{mode}"
    code = main(["run", "multi_symbol_stress", "--trades", "3", "--mode", mode, "--out", str(out), "--locks", locks])
    evidence = json.loads((out / "evidence.json").read_text())
    gates = {g["area"]: g["status"] for g in evidence["gates"]}
    lines = (out / "VERIFY_LOG.txt").read_text().splitlines()
    return code, gates, lines, evidence


@pytest.mark.parametrize("mode", ["thread", "process"])
@pytest.mark.parametrize("provider", ["filelock_provider", "redis_lock_provider"])
def test_a_correct_lock_service_without_tokens_passes(tmp_path, request, provider, mode):
    if provider == "redis_lock_provider":
        request.getfixturevalue("redis_url")
    code, gates, lines, evidence = run(tmp_path, f"harness.examples.{provider}:factory", mode)
    assert (code, set(gates.values())) == (0, {"PASS"}), [line for line in lines if "❌" in line]
    assert any("Fencing: not provided" in line for line in lines)
    figures = evidence["evidence"][LOCK_AREA]["figures"]
    assert figures["fencing"] == "not provided" and figures["fence_accepts"] > 0


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_redis_lock_held_past_its_lease_fails_lock_atomicity(tmp_path, redis_url, mode):
    code, gates, lines, evidence = run(tmp_path, "tests.judge.checks.lock_doubles:redis_short_lease", mode)
    assert code == 1 and gates[LOCK_AREA] == "FAIL"
    assert any("❌ Mutual exclusion" in line and "resource 0)" not in line for line in lines), lines
    reasons = [v["reason"] for v in evidence["evidence"][LOCK_AREA]["violations"]["overlaps"]]
    assert any("after its lease ran out (resource view)" in reason for reason in reasons), reasons


def test_a_token_that_is_not_an_integer_is_an_error_naming_the_lock_service(tmp_path):
    code, gates, lines, evidence = run(tmp_path, "tests.judge.checks.lock_doubles:text_tokens", "thread")
    assert code == 1
    events = (tmp_path / "tests.judge.checks.lock_doubles-text_tokens-thread" / "events.jsonl").read_text().splitlines()
    errors = [json.loads(e)["payload"]["error"] for e in events if '"worker.error"' in e]
    assert errors and all("lock service harness.system.locks.local.LocalLockClient granted" in e
                          and "fencing token '1'" in e for e in errors), errors


def test_the_filelock_example_removes_only_the_directory_it_made(tmp_path):
    from harness.examples.filelock_provider import FileLockProvider, factory

    made = factory(None, None)
    assert Path(made.directory).is_dir()
    made.close()  # what the harness calls at the end of a run
    assert not Path(made.directory).exists()
    FileLockProvider(str(tmp_path)).close()
    assert tmp_path.is_dir(), "a directory the user gave is theirs"
