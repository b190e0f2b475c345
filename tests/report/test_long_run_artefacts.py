"""A long run's history and log are written gzipped, the sizes printed, and every reader takes them."""

from __future__ import annotations

from harness.cli.main import main
from harness.history.log import read_jsonl
from harness.report import writer


def test_large_artefacts_are_gzipped_and_still_judged_and_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(writer, "COMPRESS_ABOVE_BYTES", 4096)  # this small run counts as "long"
    out = tmp_path / "run"
    assert main(["run", "multi_symbol_stress", "--trades", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "artefacts: events.jsonl.gz" in printed and "STRESS_TEST.log.gz" in printed and "total" in printed
    assert not (out / "events.jsonl").exists() and not (out / "STRESS_TEST.log").exists()
    assert "events.jsonl.gz" in (out / "VERIFY_LOG.txt").read_text()
    events = read_jsonl(out / "events.jsonl.gz")
    assert events[0].kind == "run.start" and any(e.kind == "trade.closed" for e in events)
    assert main(["check", str(out)]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "again.html")]) == 0


def test_small_artefacts_stay_plain(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("x\n")
    assert writer.compress_if_large(path) == path and path.exists()


def test_a_corrupt_gzip_history_is_one_clear_error(tmp_path, capsys):
    bad = tmp_path / "events.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt gzip history" in err


def test_the_readme_says_when_the_history_is_written_compressed():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"above {writer.COMPRESS_ABOVE_BYTES // 2**20} MB" in readme
    assert "`events.jsonl.gz`" in readme and "`STRESS_TEST.log.gz`" in readme
