"""Each port's example plug-in passes; a defective one is caught by the gate that watches that part."""

from __future__ import annotations

import importlib.metadata
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.run.catalog import SCENARIO_GROUP
from harness.testing import run_scenario

ROOT = Path(__file__).resolve().parents[3]  # examples/ is importable from the project root


@pytest.fixture(autouse=True)
def _from_project_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _gates(out: Path) -> dict[str, str]:
    return {g["area"]: g["status"] for g in json.loads((out / "evidence.json").read_text())["gates"]}


EXAMPLES = {
    "aggregator": "harness.examples.ports.aggregator:factory",
    "ledger": "harness.examples.ports.ledger:factory",
    "feed": "harness.examples.ports.feed:zigzag",
    "guardian": "harness.examples.ports.guardian:cautious",
    "engine": "harness.examples.ports.engine:run",
    "locks": "harness.examples.ports.locks:own_broker",
}


@pytest.mark.parametrize("port", sorted(EXAMPLES))
def test_each_port_example_passes_the_stress_run(port, tmp_path):
    out = tmp_path / "run"
    code = main(["run", "multi_symbol_stress", "--trades", "5", "--out", str(out), f"--{port}", EXAMPLES[port]])
    assert code == 0, _gates(out)
    assert f"--{port} {EXAMPLES[port]}" in json.loads((out / "evidence.json").read_text())["reproduce"]


def test_examples_reach_process_mode_workers(tmp_path):
    """Plug-ins that workers build (ledger, guardian) pickle to spawned processes; the locks one serves them."""
    out = tmp_path / "run"
    code = main(["run", "multi_symbol_stress", "--trades", "5", "--mode", "process", "--out", str(out),
                 "--ledger", EXAMPLES["ledger"], "--guardian", EXAMPLES["guardian"], "--locks", EXAMPLES["locks"]])
    assert code == 0, _gates(out)


def test_a_fee_blind_ledger_fails_the_pnl_gate(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "multi_symbol_stress", "--trades", "8", "--out", str(out),
                 "--ledger", "harness.examples.ports.ledger:fee_blind"]) == 1
    gates = _gates(out)
    assert gates["MetricsAggregator Accuracy"] == "FAIL"
    assert gates["Lock Atomicity"] == "PASS"


@pytest.mark.parametrize(("path", "expected"), [("harness.examples.ports.aggregator:factory", 0),
                                                ("harness.examples.lossy_aggregator:factory", 1)])
def test_aggregator_plugin_reaches_pnl_consistency(path, expected, tmp_path):
    """pnl_consistency's aggregators are the plug-in's: a lossy one fails the accuracy gate, a correct one passes."""
    out = tmp_path / "run"
    assert main(["run", "pnl_consistency", "--trades", "12", "--out", str(out), "--aggregator", path]) == expected
    gates = _gates(out)
    assert gates["MetricsAggregator Accuracy"] == ("PASS" if expected == 0 else "FAIL")
    if expected == 0:
        assert gates["MetricsAggregator Accuracy (REPLACE mode)"] == "PASS"


@pytest.mark.parametrize(("store", "expected"), [("memory", "PASS"), ("lossy", "FAIL")])
def test_store_and_cache_plugins_replace_the_servers(store, expected, tmp_path):
    """--store/--cache layers are the ones written and read back; a store that loses batches fails persistence."""
    out = tmp_path / "run"
    main(["run", "guardian_persistence", "--trades", "8", "--out", str(out),
          "--store", f"harness.examples.ports.store:{store}", "--cache", "harness.examples.ports.store:cache"])
    figures = json.loads((out / "evidence.json").read_text())["evidence"]["Guardian Persistence"]["figures"]
    assert figures["layers"]["memory"]["persisted"] > 0
    assert (figures["layers"]["memory"]["lost"] > 0) == (expected == "FAIL")
    assert _gates(out)["Guardian Persistence"] == expected


def test_a_plugin_flag_the_scenario_cannot_honour_is_refused(tmp_path, capsys):
    code = main(["run", "multi_symbol_stress", "--out", str(tmp_path / "r"), "--store", "harness.examples.ports.store:memory"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--store harness.examples.ports.store:memory: scenario multi_symbol_stress has no store" in err


def test_the_harness_closes_the_locks_provider_it_started(tmp_path):
    """A --locks provider that is a context manager is entered before the run and exited after it."""
    from harness.examples.ports.locks import OwnBroker

    made: list[OwnBroker] = []

    def provider(config, history):
        made.append(OwnBroker(history))
        return made[-1]

    verdict = run_scenario(tmp_path / "run", trades=3, components={"locks": provider})
    assert verdict.passed
    assert len(made) == 1 and made[0].closed


def test_a_scenario_file_runs_from_its_path(tmp_path, capsys):
    scenario_file = tmp_path / "my_check.py"
    scenario_file.write_text(
        "from harness.run.scenario import Scenario, Trial\n"
        "SCENARIO = Scenario('my_check', 'Mine', 'mine', run=lambda ctx: Trial(ctx.run_engine().events()))\n")
    out = tmp_path / "run"
    assert main(["run", str(scenario_file), "--trades", "3", "--out", str(out)]) == 0
    assert "[UnifiedGate] MY_CHECK PASS" in (out / "VERIFY_LOG.txt").read_text()


def test_a_scenario_file_without_a_scenario_is_one_line(tmp_path, capsys):
    bad = tmp_path / "nothing.py"
    bad.write_text("SCENARIO = 42\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SCENARIO is a int, not a harness.run.scenario.Scenario" in err


def test_scenarios_registered_by_another_package_are_listed_and_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "their_pkg.py").write_text(
        "from harness.run.scenario import Scenario, Trial\n"
        "SCENARIO = Scenario('theirs', 'Their check', 'x', run=lambda ctx: Trial(ctx.run_engine().events()))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    theirs = importlib.metadata.EntryPoint("theirs", "their_pkg:SCENARIO", SCENARIO_GROUP)
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [*real(group=group), theirs] if group == SCENARIO_GROUP else real(group=group))
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "theirs" in listed and "multi_symbol_stress" in listed
    assert main(["run", "theirs", "--trades", "3", "--out", str(tmp_path / "run")]) == 0


def test_plugins_from_files_reach_process_mode_workers(tmp_path, monkeypatch):
    """path/to/file.py:factory plug-ins are loaded again by path in each spawned worker."""
    (tmp_path / "mine.py").write_text(
        "from harness.system.guardian.risk import Guardian\n"
        "from harness.system.ledger import Ledger\n"
        "def guardian(specs, limits, **kw):\n    return Guardian(specs, limits, **kw)\n"
        "def ledger(spec):\n    return Ledger(spec)\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["run", "multi_symbol_stress", "--trades", "3", "--mode", "process", "--out", str(out),
                 "--guardian", "mine.py:guardian", "--ledger", "mine.py:ledger"]) == 0


MY_LOCKS = """
import dataclasses, tempfile
from harness.examples.filelock_provider import FileLockProvider


@dataclasses.dataclass(frozen=True)
class MyLocks(FileLockProvider):
    \"\"\"Defined in the user's file: a spawned worker unpickles it, so it must import the file too.\"\"\"


def factory(run, history):
    return MyLocks(tempfile.mkdtemp(prefix="harness-mylocks-"))
"""


def test_a_class_from_a_plugin_file_reaches_process_mode_workers_and_is_named_by_the_file(tmp_path, monkeypatch):
    (tmp_path / "my").mkdir()
    (tmp_path / "my" / "locks.py").write_text(MY_LOCKS)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["run", "multi_symbol_stress", "--trades", "3", "--mode", "process", "--out", str(out),
                 "--locks", "my/locks.py:factory"]) == 0
    log = (out / "VERIFY_LOG.txt").read_text(encoding="utf-8")
    assert "Lock service: my/locks.py:MyLocks" in log
    assert "Plug-ins: --locks my/locks.py:factory" in log.splitlines()
    config = json.loads((out / "evidence.json").read_text(encoding="utf-8"))["config"]
    assert config["plugins.locks"] == "my/locks.py:factory"


def test_a_plugin_files_module_name_is_its_path_so_any_process_imports_it(tmp_path):
    from harness import userfiles

    (tmp_path / "mine.py").write_text("class Thing:\n    pass\n")
    module = userfiles.load(tmp_path / "mine.py")
    assert userfiles.file_of(module.__name__) == (tmp_path / "mine.py").resolve()
    assert userfiles.qualified(module.Thing) == f"{(tmp_path / 'mine.py').resolve()}:Thing"
    probe = f"import pickle; print(pickle.loads({pickle.dumps(module.Thing)!r}).__name__)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "Thing", done.stderr


GUARDIAN_WITHOUT_PERSISTENCE_HOOKS = '''
from harness.system.guardian.risk import Guardian


class Minimal:
    """Exactly GuardianPort: no set_degraded, no load_state."""

    def __init__(self, specs, limits, **options):
        self._inner = Guardian(specs, limits, **options)

    def reserve(self, order, worst_price, worker):
        return self._inner.reserve(order, worst_price, worker)

    def cancel(self, res, worker):
        return self._inner.cancel(res, worker)

    def settle(self, res, fill, closed, worker, token):
        return self._inner.settle(res, fill, closed, worker, token)

    def snapshot(self):
        return self._inner.snapshot()
'''


def test_a_scenario_that_needs_more_of_a_port_says_so_at_load(tmp_path, monkeypatch, capsys):
    """GuardianPort is enough for the stress run; the persistence scenario also needs set_degraded/load_state."""
    (tmp_path / "minimal_guardian.py").write_text(GUARDIAN_WITHOUT_PERSISTENCE_HOOKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = ["--guardian", "minimal_guardian:Minimal"]
    assert main(["run", "multi_symbol_stress", "--trades", "3", "--out", str(tmp_path / "a"), *plugin]) == 0
    capsys.readouterr()
    code = main(["run", "guardian_persistence", "--trades", "3", "--out", str(tmp_path / "b"), *plugin,
                 "--store", "harness.examples.ports.store:memory", "--cache", "harness.examples.ports.store:cache"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--guardian minimal_guardian:Minimal: returned a Minimal that has no 'set_degraded'" in err
