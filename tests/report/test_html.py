"""report.html of real runs, of saved and foreign histories, and of the no-lock control."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli.main import main
from harness.faults.controls import Rendezvous, UnlockedProvider
from harness.history.log import read_jsonl, write_jsonl
from harness.judge.checks.locks import HoldWindow as Hold
from harness.judge.checks.locks import check_locks
from harness.report import html as html_report
from harness.report.html import downsample, hold_bars, log_bins
from harness.system.engine import run
from harness.system.settings import RunConfig

from .. import _history_builders as hb
from . import PANEL_IDS, Page, real_run

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
TRADING_PANELS = set(PANEL_IDS) - {"panel-persistence"}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """The report directory of a real, default-sized 3-symbol multi_symbol_stress run."""
    return real_run(tmp_path_factory.mktemp("report") / "run")


@pytest.fixture(scope="module")
def no_lock(tmp_path_factory) -> Path:
    """A saved history of the race control whose workers take no lock at all."""
    path = tmp_path_factory.mktemp("no-lock") / "events.jsonl"
    write_jsonl(run(RunConfig(trades=5), UnlockedProvider(Rendezvous())).events(), path)
    return path


def page(path: Path) -> tuple[str, Page]:
    """The text of a report and its parsed elements."""
    text = path.read_text(encoding="utf-8")
    return text, Page(text)


def test_run_report_has_the_verdict_table_and_every_panel_with_data(default_run):
    text, parsed = page(default_run / "report.html")
    evidence = hb.evidence_json(default_run)
    assert parsed.gate_rows() == {g["name"]: g["status"] for g in evidence["gates"]}
    assert text.index('id="verdict-table"') < min(text.index(f'id="{panel}"') for panel in TRADING_PANELS)
    assert TRADING_PANELS <= parsed.ids()
    # No persistence events in a plain run: the panel is left out and the page says so.
    assert "panel-persistence" not in parsed.ids()
    assert parsed.skipped() == {"panel-persistence"}


def test_run_report_is_self_contained_and_small(default_run):
    text = (default_run / "report.html").read_text(encoding="utf-8")
    assert EXTERNAL.findall(text) == []
    assert "<script" not in text and "@import" not in text
    assert re.findall(r"url\((?!#)", text) == []  # only references inside the page (clip paths)
    ids = re.findall(r'\sid="([^"]+)"', text)
    assert len(ids) == len(set(ids))  # several inline SVGs, one id space
    assert set(re.findall(r'(?:url\(#|href="#)([^)"]+)', text)) <= set(ids)
    assert (default_run / "report.html").stat().st_size < 2_000_000


def test_latency_marks_and_lock_figures_come_from_the_evidence(default_run):
    text, _ = page(default_run / "report.html")
    metrics = hb.evidence_json(default_run)["metrics"]
    for key in ("order_latency", "lock_latency"):
        for mark, name in (("p50", "p50_ms"), ("p99", "p99_ms"), ("p99.9", "p99_9_ms")):
            assert f"{mark} {metrics[key][name]:g} ms" in text
    overlaps = hb.evidence_json(default_run)["evidence"]["Lock Atomicity"]["figures"]["overlaps"]
    assert f"the lock checker reports {overlaps} overlaps" in text


def test_down_sampling_changes_pictures_never_figures(default_run, tmp_path, monkeypatch):
    original = Page((default_run / "report.html").read_text(encoding="utf-8"))
    monkeypatch.setattr(html_report, "MAX_BARS", 20)
    monkeypatch.setattr(html_report, "MAX_POINTS", 10)
    assert main(["report", str(default_run), "--out", str(tmp_path / "small.html")]) == 0
    text, small = page(tmp_path / "small.html")
    assert small.gate_rows() == original.gate_rows()
    merged = [(int(m.group(1)), int(m.group(2))) for m in re.finditer(r"<li>\S+: (\d+) holds in (\d+) bars", text)]
    assert merged and all(bars <= 2 * 20 + 1 < holds for holds, bars in merged)
    assert len(small.with_class("hold")) < len(original.with_class("hold"))
    # Fewer bars, every hold still accounted for: each bar says how many holds it stands for.
    (caption,) = [a for a in small.with_class("caption") if "data-holds" in a]
    assert sum(int(a["data-holds"]) for a in small.with_class("hold")) == int(caption["data-holds"])
    assert sum(int(a["data-holds"]) for a in original.with_class("hold")) == int(caption["data-holds"])
    assert (tmp_path / "small.html").stat().st_size < (default_run / "report.html").stat().st_size


def test_report_command_rebuilds_from_the_run_directory_and_from_events(default_run, tmp_path, capsys):
    original = (default_run / "report.html").read_text(encoding="utf-8")
    (default_run / "report.html").unlink()
    assert main(["report", str(default_run)]) == 0
    assert (default_run / "report.html").read_text(encoding="utf-8") == original  # same evidence, same page
    copy = tmp_path / "events.jsonl"
    copy.write_bytes((default_run / "events.jsonl").read_bytes())
    assert main(["report", str(copy)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"report: {tmp_path / 'report.html'}"
    _, rebuilt = page(tmp_path / "report.html")
    # Re-judged from the events alone: the same gates and statuses as the run recorded.
    assert rebuilt.gate_rows() == Page(original).gate_rows()
    assert TRADING_PANELS <= rebuilt.ids()


def test_a_foreign_history_with_only_lock_events_gets_the_lock_panels_and_notes(default_run, tmp_path):
    locks_only = [e for e in read_jsonl(default_run / "events.jsonl") if e.kind.startswith("lock.")]
    write_jsonl(hb.renumber(locks_only), tmp_path / "foreign.jsonl")
    assert main(["report", str(tmp_path / "foreign.jsonl"), "--out", str(tmp_path / "foreign.html")]) == 0
    text, parsed = page(tmp_path / "foreign.html")
    assert {"panel-locks", "panel-latency"} <= parsed.ids()
    assert parsed.skipped() == {"panel-pnl", "panel-exposure", "panel-persistence"}
    assert "lock acquire (invoke -&gt; ok)" in text and "order (submit -&gt; settle)" not in text
    assert parsed.gate_rows()["locks"] == "PASS"


def test_the_no_lock_control_report_marks_every_overlapping_hold(no_lock, monkeypatch):
    monkeypatch.setattr(html_report, "MAX_BARS", 1)  # down-sampling must still keep every overlapping hold
    assert main(["report", str(no_lock)]) == 0
    text, parsed = page(no_lock.parent / "report.html")
    evidence = check_locks(read_jsonl(no_lock))
    assert parsed.gate_rows()["locks"] == "FAIL"
    marked = {int(attrs["data-seq"]) for attrs in parsed.with_class("hold", "overlap")}
    assert marked
    caption = next(attrs for attrs in parsed.with_class("caption") if "data-overlap-pairs" in attrs)
    assert int(caption["data-overlap-pairs"]) == evidence.figures.overlaps
    assert int(caption["data-overlap-holds"]) == len(parsed.with_class("hold", "overlap"))
    kept = {item[side]["seq"] for item in evidence.counterexample("overlaps") for side in ("event", "other")}
    assert kept <= marked
    assert "overlapping hold" in text


def test_a_persistence_history_gets_the_persistence_panel_with_faults_shaded(tmp_path):
    events = list(hb.clean_events())
    events = hb.append(events, "persistence.start", worker="persistence", layers=["redis", "sqlite"])
    events = hb.append(events, "fault.inject", worker="nemesis", row="Redis lost", layers=["cache"])
    events = hb.append(events, "alert", worker="persistence", level="P1", layer="cache", reason="redis lost")
    events = hb.append(events, "health", worker="persistence", state="DEGRADED")
    events = hb.append(events, "fault.heal", worker="nemesis", row="Redis lost")
    events = hb.append(events, "alert", worker="persistence", level="P2", layer="cache", reason="redis back")
    events = hb.append(events, "persistence.stats", worker="persistence", queue_high_water=7,
                       layers={"redis": {"written": 20}, "sqlite": {"written": 25}})
    write_jsonl(events, tmp_path / "events.jsonl")
    assert main(["report", str(tmp_path / "events.jsonl")]) == 0
    text, parsed = page(tmp_path / "report.html")
    assert set(PANEL_IDS) <= parsed.ids()
    assert "skipped-panels" not in parsed.ids()
    assert {attrs["data-what"] for attrs in parsed.with_class("fault")} == {"cache"}
    assert {attrs["data-what"] for attrs in parsed.with_class("injected")} == {"Redis lost"}
    assert "redis written" in text and "DEGRADED" in text


@pytest.mark.parametrize("content", [None, "not json\n", '{"seq": 1}\n'])
def test_a_bad_path_or_corrupt_history_is_one_error_line_and_exit_2(tmp_path, capsys, content):
    path = tmp_path / "events.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "report.html").exists()


def test_a_corrupt_evidence_document_is_exit_2(default_run, tmp_path, capsys):
    (tmp_path / "events.jsonl").write_bytes((default_run / "events.jsonl").read_bytes())
    (tmp_path / "evidence.json").write_text(json.dumps({"schema": "x"}), encoding="utf-8")
    assert main(["report", str(tmp_path)]) == 2
    assert "evidence.json: not an evidence document" in capsys.readouterr().err


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=500), st.integers(4, 60))
def test_downsample_is_bounded_ordered_and_keeps_the_extremes(ys, limit):
    xs = list(range(len(ys)))
    kept_x, kept_y = downsample(xs, ys, limit)
    assert len(kept_x) <= max(limit, 2) or len(ys) <= limit
    assert kept_x == sorted(set(kept_x))
    assert max(kept_y) == max(ys) and min(kept_y) == min(ys)
    assert kept_y == [ys[x] for x in kept_x]


@given(st.integers(1, 3000), st.integers(5, 300), st.sets(st.integers(0, 2999), max_size=8))
def test_hold_bars_account_for_every_hold_once_and_keep_overlaps_single(count, limit, flagged):
    holds = [Hold("L", f"c{i % 3}", i, i, i * 10, i * 10 + 5, i in flagged) for i in range(count)]
    bars = hold_bars(holds, limit)
    assert [h for bar in bars for h in bar.holds] == holds, "every hold in exactly one bar, in order"
    assert all(len(bar.holds) == 1 for bar in bars if bar.overlap)
    assert len(bars) <= 2 * limit + 2 * len(flagged) + 1
    assert hold_bars(holds, count + 1) == [type(bars[0])("L", (h,)) for h in holds], "room for all: one bar each"


def test_log_bins_span_the_samples_on_a_log_scale():
    edges = log_bins([0.05, 0.2, 3.0, 400.0], count=10)
    assert edges[0] == 0.05 and abs(edges[-1] - 400.0) < 1e-9 and len(edges) == 11
    ratios = {round(b / a, 9) for a, b in zip(edges, edges[1:], strict=False)}
    assert len(ratios) == 1


@pytest.fixture(scope="module")
def lossy_run(tmp_path_factory) -> Path:
    """A FAIL run: the lossy aggregator example plugged in (MetricsAggregator Accuracy fails)."""
    out = tmp_path_factory.mktemp("fail") / "run"
    code = main(["run", "multi_symbol_stress", "--trades", "6", "--seed", "3", "--out", str(out),
                 "--aggregator", "harness.examples.lossy_aggregator:factory"])
    assert code == 1
    return out


def test_a_fail_report_shows_the_reproduce_command_counterexamples_and_configuration(lossy_run):
    text, parsed = page(lossy_run / "report.html")
    evidence = hb.evidence_json(lossy_run)
    command = re.search(r'<code id="reproduce-command">(.*?)</code>', text)
    assert command and html.unescape(command.group(1)) == evidence["reproduce"]
    assert "--aggregator harness.examples.lossy_aggregator:factory" in evidence["reproduce"]
    failing = [g["area"] for g in evidence["gates"] if g["status"] == "FAIL"]
    checks = {(a["data-area"], a["data-check"]) for _, a in parsed.tags if "data-check" in a}
    assert any(area in failing for area, _ in checks), (failing, checks)
    assert parsed.with_class("counterexample"), "the offending events are on the page, not only in the .md"
    assert "configuration" in parsed.ids() and "run.seed" in text and "gates.max_pnl_difference" in text
    assert evidence["config"]["run.seed"] == 3


def test_a_pass_report_has_no_counterexample_section(default_run):
    _, parsed = page(default_run / "report.html")
    assert "counterexamples" not in parsed.ids() and "reproduce" in parsed.ids()


def test_holds_named_by_a_counterexample_are_outlined_on_the_lock_timeline(no_lock, tmp_path):
    assert main(["report", str(no_lock), "--out", str(tmp_path / "r.html")]) == 0
    _, parsed = page(tmp_path / "r.html")
    named = {int(s) for a in parsed.with_class("counterexample") for s in a["data-seqs"].split()}
    outlined = parsed.with_class("hold", "offending")
    assert outlined and {int(a["data-seq"]) for a in outlined} <= named
    assert all(int(a["data-holds"]) == 1 for a in outlined)


@pytest.mark.slow
def test_a_long_run_report_stays_small_and_accounts_for_every_hold(tmp_path):
    out = tmp_path / "long"
    assert main(["run", "multi_symbol_stress", "--trades", "2000", "--out", str(out)]) in (0, 1)
    report = out / "report.html"
    assert report.stat().st_size < 3_000_000
    _, parsed = page(report)
    (caption,) = [a for a in parsed.with_class("caption") if "data-holds" in a]
    assert sum(int(a["data-holds"]) for a in parsed.with_class("hold")) == int(caption["data-holds"]) > 10_000


def test_two_histories_in_one_folder_get_a_report_each(default_run, tmp_path):
    events = read_jsonl(default_run / "events.jsonl")
    write_jsonl(events, tmp_path / "a.jsonl")
    write_jsonl([e for e in events if e.kind.startswith("lock.")], tmp_path / "b.jsonl")
    assert main(["report", str(tmp_path / "a.jsonl")]) == 0
    assert main(["report", str(tmp_path / "b.jsonl")]) == 0
    _, a = page(tmp_path / "a.report.html")
    _, b = page(tmp_path / "b.report.html")
    assert "panel-pnl" in a.ids() and "panel-pnl" in b.skipped()
    assert not (tmp_path / "report.html").exists()


def test_a_skip_note_never_says_events_are_missing_when_they_are_there(default_run, tmp_path):
    events = read_jsonl(default_run / "events.jsonl")
    # A history without equity: its settles carry no exposure ratio.
    events = [e if e.kind != "risk.settle" else
              dataclasses.replace(e, payload={k: v for k, v in e.payload.items() if k != "exposure_ratio"})
              for e in events]
    write_jsonl(events, tmp_path / "events.jsonl")
    assert main(["report", str(tmp_path / "events.jsonl")]) == 0
    text, parsed = page(tmp_path / "report.html")
    assert "panel-exposure" in parsed.skipped()
    assert "the risk.settle events in this history hold no exposure_ratio" in text
    assert "no risk.settle events" not in text
