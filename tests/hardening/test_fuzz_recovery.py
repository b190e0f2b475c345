"""Fuzz checkpoint files: any damage -> the exact state of the log's intact prefix, or one CheckpointError line."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.history.log import History
from harness.system.engine import run
from harness.system.guardian.checkpoint import Checkpoint, CheckpointError, replay_state, segments
from harness.system.guardian.recovery import recover
from harness.system.locks.local import LockTable
from harness.system.settings import RunConfig

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"  # make fuzz
pytestmark = [pytest.mark.slow] if DEEP else []
CONFIG = RunConfig(trades=25, seed=21)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    history = History("run-fuzz-ckpt")
    history.append("test.start", worker="t")
    events = run(CONFIG, LockTable(), run_id="run-fuzz-ckpt", history=history).events()
    directory = tmp_path_factory.mktemp("ckpt")
    layer = Checkpoint(directory, CONFIG.symbols, CONFIG.limits, every=len(events) // 5, keep=2)
    for start in range(0, len(events), 23):
        layer.write(events[start:start + 23])
    return directory, events


DAMAGE = st.sampled_from(["flip", "truncate", "delete", "insert", "duplicate_line", "empty"])


@settings(max_examples=1000 if DEEP else 80, deadline=None, derandomize=not DEEP,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damages=st.lists(st.tuples(DAMAGE, st.integers(0, 10**9), st.integers(0, 10**9), st.binary(max_size=8)),
                        min_size=1, max_size=3))
def test_any_damage_recovers_exactly_or_refuses(built, damages, tmp_path_factory) -> None:
    source, events = built
    directory = tmp_path_factory.mktemp("damaged")
    shutil.copytree(source, directory, dirs_exist_ok=True)
    newest = [p for p in segments(directory) if p.stat().st_size][-1]
    touched_newest = False
    for kind, which, where, data in damages:
        files = sorted(p for p in directory.iterdir() if p.is_file())
        if not files:
            break
        path = files[which % len(files)]
        raw = path.read_bytes()
        at = where % (len(raw) + 1)
        touched_newest |= path == newest
        if kind == "flip" and raw:
            at = where % len(raw)
            raw = raw[:at] + bytes([raw[at] ^ (1 << which % 8)]) + raw[at + 1:]
        elif kind == "truncate":
            raw = raw[:at]
        elif kind == "insert":
            raw = raw[:at] + data + raw[at:]
        elif kind == "duplicate_line":
            lines = raw.splitlines(keepends=True)
            raw = b"".join(lines + lines[which % len(lines):][:1]) if lines else raw
        elif kind == "empty":
            raw = b""
        if kind == "delete":
            path.unlink()
        else:
            path.write_bytes(raw)
    try:
        recovered = recover(directory, CONFIG.symbols, CONFIG.limits)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
        return
    prefix = [e for e in events if e.seq <= recovered.last_seq]
    assert (list(recovered.state), recovered.last_seq) == replay_state(CONFIG.symbols, CONFIG.limits, prefix)
    if recovered.last_seq < events[-1].seq:
        assert touched_newest  # only a cut of the newest segment's tail (a crash's shape) gives an older state
