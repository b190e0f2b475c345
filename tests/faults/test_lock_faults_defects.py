"""Lock services wrong exactly where leases matter FAIL lock_faults on every seed; fenced ones PASS.

Under a pause past the lease: a broker that ignores fencing (one token for all), a client
that writes on without its token, and redis-py's ``Lock`` without fencing each FAIL Lock
Atomicity with a counterexample naming the stale writer; redis-py's ``Lock`` fenced by a
Redis INCR per acquire PASSes. The reference broker passes beside them (test_lock_faults.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import harness.testing as hb
from harness.judge.checks.locks import AREA as LOCK_AREA
from harness.run.plugins import Plugins
from harness.run.scenario import Verdict, execute, load
from harness.system.guardian.services import skip_or_fail
from tests.faults import lock_fault_doubles

SEEDS = (1, 2, 3)


@pytest.fixture(autouse=True)
def _brokers() -> Iterator[None]:
    yield
    lock_fault_doubles.stop_all()


def _run(tmp_path: Path, locks: Callable[..., Any], seed: int) -> Verdict:
    scenario = load("lock_faults")
    config = scenario.configure(hb.small_config(seed=seed), {"nemesis": {"rounds": 1}})
    return execute(scenario, config, tmp_path / f"seed-{seed}", plugins=Plugins.of(locks=locks))


def _lock_gate_failures(verdict: Verdict) -> tuple[list[str], dict[str, Any]]:
    gate = next(g for g in verdict.gates if g.area == LOCK_AREA)
    return hb.failing(gate), dict(gate.counterexamples)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_broker_that_ignores_fencing_fails(tmp_path: Path, seed: int) -> None:
    """One token for every grant: the woken holder's write is accepted although its lease expired."""
    failures, examples = _lock_gate_failures(_run(tmp_path, lock_fault_doubles.same_token, seed))
    assert any("stale writes accepted" in line for line in failures), failures
    assert any("its lease expired" in v["reason"] for v in examples["stale_accepted"])


@pytest.mark.parametrize("seed", SEEDS)
def test_a_client_writing_on_after_its_lease_fails(tmp_path: Path, seed: int) -> None:
    """Writes without tokens after the lease ended: the resource's view names both writers."""
    failures, examples = _lock_gate_failures(_run(tmp_path, lock_fault_doubles.unfenced, seed))
    assert any("Mutual exclusion" in line for line in failures), failures
    reasons = [v["reason"] for v in examples["overlaps"]]
    assert any("(resource view); " in r and "wrote under it before" in r for r in reasons), reasons


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """The real Redis the redis-py example uses (skips, or fails when services are required)."""
    url = skip_or_fail("redis").url
    monkeypatch.setenv("REDIS_URL", url)
    return url


@pytest.mark.services
@pytest.mark.parametrize("seed", SEEDS)
def test_redis_lock_without_fencing_fails_and_with_fencing_passes(tmp_path: Path, redis_url: str,
                                                                   seed: int) -> None:
    """The worked example of why fencing matters (README): same lock, same pause, only the token differs."""
    from harness.examples.redis_lock_provider import factory, fenced_factory

    failures, examples = _lock_gate_failures(_run(tmp_path / "plain", factory, seed))
    assert any("Mutual exclusion" in line for line in failures), failures
    assert any("(resource view); " in v["reason"] and "wrote under it before" in v["reason"]
               for v in examples["overlaps"]), examples["overlaps"]
    fenced = _run(tmp_path / "fenced", fenced_factory, seed)
    assert fenced.passed, [(g.area, hb.failing(g)) for g in fenced.gates if not g.passed]
    assert hb.evidence(fenced.events, "locks").figures.fence_rejects >= 1
