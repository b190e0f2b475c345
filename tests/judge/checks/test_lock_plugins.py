"""Defective lock services plugged in through --locks fail the Lock gate, for the right reason.

Three seeds each, thread and process mode; the reference broker plugged in the same way passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.main import main
from tests.judge.checks import lock_doubles

ROOT = Path(__file__).resolve().parents[3]
LOCK_AREA = "Lock Atomicity"


@pytest.fixture(autouse=True)
def _brokers(monkeypatch) -> Iterator[None]:
    """Plug-ins load from the project root; the brokers the factories started are stopped."""
    monkeypatch.chdir(ROOT)
    yield
    lock_doubles.stop_all()


def run_with_scenario(tmp_path: Path, scenario: str, factory: str, seed: int, mode: str,
                      ) -> tuple[dict[str, str], list[str]]:
    """Run a scenario with a --locks plug-in; each gate's status and the log's failing lines."""
    out = tmp_path / f"{scenario}-{factory}-{mode}-{seed}"
    code = main(["run", scenario, "--trades", "3", "--seed", str(seed), "--mode", mode,
                 "--out", str(out), "--locks", f"tests.judge.checks.lock_doubles:{factory}"])
    gates = {g["area"]: g["status"] for g in json.loads((out / "evidence.json").read_text())["gates"]}
    assert code == (0 if set(gates.values()) == {"PASS"} else 1)
    log = (out / "VERIFY_LOG.txt").read_text().splitlines()
    return gates, [line for line in log if "❌" in line]


def run_with_locks(tmp_path: Path, factory: str, seed: int, mode: str) -> tuple[int, dict, list[str]]:
    """multi_symbol_stress with a --locks plug-in: the exit code, the lock gate's status, failing lines."""
    gates, failing = run_with_scenario(tmp_path, "multi_symbol_stress", factory, seed, mode)
    return (0 if set(gates.values()) == {"PASS"} else 1), {"status": gates[LOCK_AREA]}, failing


@pytest.mark.parametrize("mode", ["thread", "process"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_double_granting_broker_fails_on_overlaps_seen_by_the_broker(tmp_path, seed, mode):
    code, gate, failing = run_with_locks(tmp_path, "double_granting", seed, mode)
    assert code == 1 and gate["status"] == "FAIL"
    assert any("Mutual exclusion" in line and "broker 0)" not in line for line in failing), failing


@pytest.mark.parametrize("mode", ["thread", "process"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_client_treating_refusals_as_grants_fails_as_refused_acquires_held(tmp_path, seed, mode):
    code, gate, failing = run_with_locks(tmp_path, "misreading", seed, mode)
    assert code == 1 and gate["status"] == "FAIL"
    assert any("Refused acquires treated as held" in line for line in failing), failing


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_reference_broker_plugged_in_the_same_way_passes(tmp_path, mode):
    code, gate, failing = run_with_locks(tmp_path, "reference", 1, mode)
    assert (code, gate["status"], failing) == (0, "PASS", [])
