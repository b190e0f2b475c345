"""The curated public API (``harness.__all__``): lazy, complete, and what the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import harness


def _modules_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_importing_harness_loads_nothing_else_of_it():
    loaded = {m for m in _modules_after("import harness") if m.startswith("harness")}
    assert loaded == {"harness", "harness._version"}


def test_every_public_name_resolves():
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    assert harness.Recorder is harness.record.Recorder
    assert harness.FakeClock is harness.testing.FakeClock
    assert "GuardianPort" in harness.ports.__all__


def test_the_old_import_paths_still_work():
    from harness.ports import PORTS, LockProvider  # noqa: F401
    from harness.record import Recorder  # noqa: F401
    from harness.testing import FakeClock, clean_events  # noqa: F401


def test_run_a_scenario_then_check_its_history(tmp_path: Path):
    verdict = harness.run_scenario("multi_symbol_stress", out=tmp_path / "run", trades=3)
    assert verdict.passed and (tmp_path / "run" / "VERIFY_LOG.txt").is_file()
    gates = harness.check(tmp_path / "run")
    assert harness.unified(gates)
    only_locks = harness.check(tmp_path / "run" / "events.jsonl", areas=("locks",))
    assert [g.area for g in only_locks if g.applicable] == ["Lock Atomicity"]


def test_python_dash_m_harness_is_the_command():
    done = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, f"harness {harness.__version__}")


def test_all_lists_exactly_the_exports():
    assert set(harness.__all__) == {*harness._EXPORTS, *harness._MODULES, "__version__", "check", "run_scenario"}


def test_a_history_with_nothing_to_judge_is_nothing_judged_through_the_api(tmp_path: Path):
    from harness.testing import append, clean_events, first

    events = append([first(clean_events(trades=2), "run.start")], "broker.grant", worker="broker", client="c1",
                    req=1, names=["book:ABC"])
    harness.write_jsonl(events, tmp_path / "broker.jsonl")
    gates = harness.check(tmp_path / "broker.jsonl")
    assert harness.outcome(gates) == "NOTHING JUDGED" and not harness.unified(gates)
