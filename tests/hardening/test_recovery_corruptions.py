"""Recovery is exact or refuses with one line: every corruption kind, table-driven."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.history.log import Event, History
from harness.system.engine import run
from harness.system.guardian.checkpoint import (
    Checkpoint,
    CheckpointError,
    _checksum,
    encode_lines,
    read_log,
    replay_state,
    segments,
    snapshots,
)
from harness.system.guardian.recovery import recover
from harness.system.locks.local import LockTable
from harness.system.settings import RunConfig

CONFIG = RunConfig(trades=40, seed=5)
EXACT = "exact"


@pytest.fixture(scope="module")
def events() -> list[Event]:
    history = History("run-corrupt")
    history.append("test.start", worker="t")
    return run(CONFIG, LockTable(), run_id="run-corrupt", history=history).events()


def build(directory: Path, events: list[Event], keep: int = 2) -> None:
    layer = Checkpoint(directory, CONFIG.symbols, CONFIG.limits, every=len(events) // 6, keep=keep)
    for start in range(0, len(events), 29):
        layer.write(events[start:start + 29])


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, change: Callable[[list[Event]], list[Event]]) -> None:
    """Re-encode a segment after changing its events: every checksum valid, the content crafted."""
    path.write_bytes(encode_lines(change(list(read_log(path, repair=False).events)))[0])


def reseal(path: Path, change: Callable[[dict], None]) -> None:
    """Change a snapshot's body and recompute its checksum (a crafted, internally valid snapshot)."""
    body = json.loads(path.read_text())
    body.pop("checksum")
    change(body)
    path.write_text(json.dumps({**body, "checksum": _checksum(body)}))


def nonempty(directory: Path) -> list[Path]:
    return [p for p in segments(directory) if p.stat().st_size]


def unsnapshot(directory: Path) -> None:
    for path in snapshots(directory):
        path.unlink()


def alter_line(path: Path, index: int, old: bytes, new: bytes) -> None:
    lines = lines_of(path)
    target = next(i for i in range(index, len(lines)) if old in lines[i])
    lines[target] = lines[target].replace(old, new, 1)
    path.write_bytes(b"".join(lines))


def drop_line(path: Path, index: int) -> None:
    lines = lines_of(path)
    path.write_bytes(b"".join(lines[:index] + lines[index + 1:]))


def swap_lines(path: Path) -> None:
    lines = lines_of(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_bytes(b"".join(lines))


# (name, corruption, expected: EXACT or a regex of the one-line refusal, keep snapshots)
CASES: list[tuple[str, Callable[[Path], None], str, int]] = [
    ("untouched", lambda d: None, EXACT, 2),
    ("newest snapshot deleted", lambda d: snapshots(d)[0].unlink(), EXACT, 2),
    ("newest snapshot torn", lambda d: snapshots(d)[0].write_bytes(snapshots(d)[0].read_bytes()[:50]), EXACT, 2),
    ("newest snapshot emptied", lambda d: snapshots(d)[0].write_bytes(b""), EXACT, 2),
    ("newest snapshot: state of strings (checksum valid)",
     lambda d: reseal(snapshots(d)[0], lambda b: b.update(state=[str(v) for v in b["state"]])), EXACT, 2),
    ("newest snapshot: seq a string (checksum valid)",
     lambda d: reseal(snapshots(d)[0], lambda b: b.update(seq="12")), EXACT, 2),
    ("newest snapshot: state too short (checksum valid)",
     lambda d: reseal(snapshots(d)[0], lambda b: b.update(state=b["state"][:3])), EXACT, 2),
    ("newest snapshot: reservations a list (checksum valid)",
     lambda d: reseal(snapshots(d)[0], lambda b: b.update(reservations=[1])), EXACT, 2),
    ("newest snapshot: unknown format", lambda d: reseal(snapshots(d)[0], lambda b: b.update(format=9)), EXACT, 2),
    ("newest snapshot names a segment that is not there",
     lambda d: reseal(snapshots(d)[0], lambda b: b.update(segment=999)), r"wal-\d+\.jsonl is missing", 2),
    ("every snapshot deleted, log pruned",
     lambda d: [p.unlink() for p in snapshots(d)], r"wal-00000001\.jsonl is missing", 2),
    ("every snapshot deleted, log complete", lambda d: [p.unlink() for p in snapshots(d)], EXACT, 50),
    ("every snapshot torn, log pruned",
     lambda d: [p.write_bytes(b"{") for p in snapshots(d)], r"wal-00000001\.jsonl is missing.*unreadable", 2),
    ("newest segment deleted", lambda d: segments(d)[-1].unlink(), r"wal-\d+\.jsonl is missing", 2),
    ("a segment no kept snapshot needs deleted", lambda d: segments(d)[1].unlink(), EXACT, 50),
    ("a middle segment deleted, no snapshot left",
     lambda d: unsnapshot(d) or segments(d)[1].unlink(), r"wal-00000002\.jsonl is missing", 50),
    ("every segment deleted", lambda d: [p.unlink() for p in segments(d)], r"wal-\d+\.jsonl is missing", 2),
    ("a line altered into other valid JSON",
     lambda d: alter_line(nonempty(d)[-1], 1, b'"kind":"', b'"kind":"x'), r":\d+: corrupt log line: checksum", 2),
    ("a seq altered", lambda d: alter_line(nonempty(d)[-1], 2, b'{"seq":', b'{"seq":1'), r"corrupt log line", 2),
    ("a middle line deleted", lambda d: drop_line(nonempty(d)[-1], 1), r"corrupt log line: checksum", 2),
    ("the first line of the newest segment deleted",
     lambda d: drop_line(nonempty(d)[-1], 0), r"wal-\d+\.jsonl:1: corrupt log line", 2),
    ("two lines swapped", lambda d: swap_lines(nonempty(d)[-1]), r"corrupt log line", 2),
    ("a line without its checksum",
     lambda d: alter_line(nonempty(d)[-1], 1, b"\t", b" "), r"corrupt log line: no checksum", 2),
    ("an older segment cut at a line boundary",
     lambda d: unsnapshot(d) or nonempty(d)[0].write_bytes(b"".join(lines_of(nonempty(d)[0])[:-3])),
     r"seq \d+ is missing from the log but later seqs are logged", 50),
    ("an older segment cut mid-line",
     lambda d: unsnapshot(d) or nonempty(d)[0].write_bytes(nonempty(d)[0].read_bytes()[:-7]),
     r"torn last line in a segment", 50),
    ("the segment before the newest emptied, no snapshot left",  # silently recovered an older state
     lambda d: unsnapshot(d) or nonempty(d)[-2].write_bytes(b""), r"empty, but later segments hold events", 50),
    ("the segment the newest snapshot closed emptied",
     lambda d: nonempty(d)[-2].write_bytes(b""), r"empty, but later segments hold events", 2),
    ("a seq logged twice (checksums valid)",
     lambda d: rewrite(nonempty(d)[-1], lambda evs: [*evs, evs[-1]]), r"seq \d+ is logged twice", 2),
]


@pytest.mark.parametrize(("name", "corrupt", "expected", "keep"), CASES, ids=[c[0] for c in CASES])
def test_recovery_is_exact_or_refuses_in_one_line(tmp_path: Path, events, name, corrupt, expected, keep) -> None:
    build(tmp_path, events, keep=keep)
    corrupt(tmp_path)
    if expected == EXACT:
        recovered = recover(tmp_path, CONFIG.symbols, CONFIG.limits)
        state, last = replay_state(CONFIG.symbols, CONFIG.limits, events)
        assert (list(recovered.state), recovered.last_seq) == (state, last)
        return
    with pytest.raises(CheckpointError, match=expected) as refused:
        recover(tmp_path, CONFIG.symbols, CONFIG.limits)
    assert "\n" not in str(refused.value)


def test_a_torn_tail_of_the_newest_segment_recovers_the_state_the_log_implies(tmp_path: Path, events) -> None:
    build(tmp_path, events)
    newest = nonempty(tmp_path)[-1]
    kept = lines_of(newest)[:-2]
    newest.write_bytes(b"".join(kept) + lines_of(newest)[-2][:20])
    last_kept = json.loads(kept[-1].rpartition(b"\t")[0])["seq"]
    recovered = recover(tmp_path, CONFIG.symbols, CONFIG.limits)
    expected = [e for e in events if e.seq <= last_kept]
    assert (list(recovered.state), recovered.last_seq) == replay_state(CONFIG.symbols, CONFIG.limits, expected)
    assert recovered.truncated_bytes == 20
