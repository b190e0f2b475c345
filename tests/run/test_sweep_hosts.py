"""A sweep spread by pytest-xdist: local workers and namespace hosts reach the same verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.run.hosts import available, namespace_hosts

# Two passing runs and one that fails its performance gate on purpose: equal verdicts must
# mean equal judgements, not "everything passed everywhere".
SPECS = ("race_detection seeds=0-1 -- --trades 1",
         "race_detection seeds=5 -- --trades 1 --gate min_throughput_trades_per_s=1000000000")


def _sweep(out: Path, *spread: str) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "harness", "sweep", *SPECS, "--out", str(out), *spread],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 1, done.stdout + done.stderr  # the planted case fails the sweep
    document = json.loads((out / "sweep.json").read_text())
    return {row["case"]: row["status"] for row in document["rows"]} | {"hosts": ",".join(document["hosts"])}


def test_a_sweep_over_two_namespace_hosts_gives_the_verdicts_of_two_local_workers(tmp_path):
    reason = available()
    if reason:
        pytest.skip(reason)
    local = _sweep(tmp_path / "local", "-n", "2")
    with namespace_hosts(2) as hosts:
        remote = _sweep(tmp_path / "remote", *[w for h in hosts for w in ("--tx", h.tx)])
        names = {h.name for h in hosts}
    assert set(remote.pop("hosts").split(",")) == names  # the cases really ran in both namespaces
    local.pop("hosts")
    assert local == remote == {"race_detection-seed0": "PASS", "race_detection-seed1": "PASS",
                               "race_detection-seed5": "FAIL"}
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert not any(name in left for name in names)


def test_namespace_hosts_are_removed_when_the_body_fails():
    reason = available()
    if reason:
        pytest.skip(reason)
    with pytest.raises(RuntimeError), namespace_hosts(1) as hosts:
        name = hosts[0].name
        raise RuntimeError("the test body failed")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    links = subprocess.run(["ip", "link"], capture_output=True, text=True, check=False).stdout
    assert name not in listed and f"{name}h" not in links
