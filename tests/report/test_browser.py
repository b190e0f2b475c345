"""report.html of a real run as a browser shows it: headless Chromium, screenshot and DOM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread

from harness.system.guardian.services import REQUIRE_ENV, services_required

from .. import _history_builders as hb
from . import PANEL_IDS, Page, real_run

CHROMIUM = Path("/usr/bin/chromium")
# No network, no first-run work, no GPU: the page must render from the file alone.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0")


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The Chromium binary (skips, or fails under HARNESS_REQUIRE_SERVICES=1, when absent)."""
    if CHROMIUM.is_file():
        return CHROMIUM
    message = f"{CHROMIUM} not found (apt-get install -y chromium)"
    if services_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, chromium) -> Path:
    """A real default-sized run's report directory."""
    return real_run(tmp_path_factory.mktemp("browser") / "run")


def browse(chromium: Path, profile: Path, report: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Open ``report`` from disk in headless Chromium with one action (screenshot, dump-dom)."""
    command = [str(chromium), *FLAGS, f"--user-data-dir={profile}", *action, report.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def console_messages(stderr: str) -> list[str]:
    """Lines Chromium logged for the page's console (the report has no script: there must be none)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_screenshot_is_rendered_and_not_blank_without_console_errors(chromium, run_dir, tmp_path):
    png = tmp_path / "report.png"
    done = browse(chromium, tmp_path / "profile", run_dir / "report.html", f"--screenshot={png}",
                  "--window-size=1400,3000")
    assert console_messages(done.stderr) == []
    assert png.stat().st_size > 30_000
    pixels = imread(png)[..., :3]
    assert pixels.shape[:2] == (3000, 1400)
    assert pixels.std() > 0.05
    assert (pixels.min(axis=2) < 0.9).mean() > 0.02  # some ink: text, bars and lines, not a white page


def test_rendered_dom_has_the_verdict_table_and_every_panel(chromium, run_dir, tmp_path):
    done = browse(chromium, tmp_path / "profile", run_dir / "report.html", "--dump-dom")
    assert console_messages(done.stderr) == []
    dom = Page(done.stdout)
    assert dom.gate_rows() == {g["name"]: g["status"] for g in hb.evidence_json(run_dir)["gates"]}
    assert "verdict-table" in dom.ids()
    assert set(PANEL_IDS) - {"panel-persistence"} <= dom.ids()
    assert dom.skipped() == {"panel-persistence"}
    assert len(dom.with_class("hold")) > 0


def test_the_console_check_sees_a_script_error(chromium, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>", encoding="utf-8")
    done = browse(chromium, tmp_path / "profile", broken, "--dump-dom")
    assert any("Uncaught ReferenceError" in line for line in console_messages(done.stderr))


def test_a_fail_report_in_the_browser_shows_reproduce_counterexamples_and_the_offending_hold(chromium, tmp_path):
    from harness.cli.main import main
    from harness.faults.controls import Rendezvous, UnlockedProvider
    from harness.history.log import write_jsonl
    from harness.system.engine import run
    from harness.system.settings import RunConfig

    out = tmp_path / "fail"
    assert main(["run", "multi_symbol_stress", "--trades", "5", "--out", str(out),
                 "--aggregator", "harness.examples.lossy_aggregator:factory"]) == 1
    dom = Page(browse(chromium, tmp_path / "p1", out / "report.html", "--dump-dom").stdout)
    assert {"reproduce-command", "counterexamples", "configuration"} <= dom.ids()
    assert dom.with_class("counterexample")
    history = tmp_path / "no-lock" / "events.jsonl"
    history.parent.mkdir()
    write_jsonl(run(RunConfig(trades=5), UnlockedProvider(Rendezvous())).events(), history)
    assert main(["report", str(history)]) == 0
    dom = Page(browse(chromium, tmp_path / "p2", history.parent / "report.html", "--dump-dom").stdout)
    assert dom.with_class("hold", "offending") and dom.with_class("counterexample")
