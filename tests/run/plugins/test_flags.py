"""Plug-ins: a user's own component is verified by pointing a scenario at it."""

import json

from harness.cli.main import main


def _gates(out):
    return {g["area"]: g["status"] for g in json.loads((out / "evidence.json").read_text())["gates"]}


def test_a_lossy_aggregator_plugin_fails_the_accuracy_gate_and_the_run(tmp_path, monkeypatch, capsys):
    """--aggregator swaps the component; its lost updates fail exactly the gates that watch them."""
    monkeypatch.chdir(tmp_path)  # the example imports from the package, whatever the directory
    out = tmp_path / "run"
    code = main(["run", "multi_symbol_stress", "--trades", "8", "--out", str(out),
                 "--aggregator", "harness.examples.lossy_aggregator:factory"])
    assert code == 1
    gates = _gates(out)
    assert gates["MetricsAggregator Accuracy"] == "FAIL"
    assert gates["Lock Atomicity"] == "PASS"
    assert "--aggregator harness.examples.lossy_aggregator:factory" in (out / "VERIFY_LOG.txt").read_text()


def test_the_reference_guardian_named_as_a_plugin_passes_in_process_mode(tmp_path):
    """A picklable --guardian factory reaches every worker process."""
    out = tmp_path / "run"
    code = main(["run", "multi_symbol_stress", "--trades", "5", "--mode", "process", "--out", str(out),
                 "--guardian", "harness.system.guardian.risk:Guardian"])
    assert code == 0
    assert set(_gates(out).values()) == {"PASS"}


def test_a_plugin_path_that_does_not_resolve_is_one_error_line(tmp_path, capsys):
    """Bad plug-in paths are bad input: exit 2, one line, nothing run."""
    code = main(["run", "multi_symbol_stress", "--out", str(tmp_path / "r"), "--locks", "nowhere.at.all:make"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("harness: error:") and "nowhere.at.all" in err
    assert not (tmp_path / "r").exists()
