"""Shared data of the linearizability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.judge.linearizability.formats import read_history
from harness.judge.linearizability.operations import Operation, operations

# Key "0" of porcupine's c50-bad kv log: ~200 concurrent appends, undecided after millions of
# steps; key "3": refuted in under 10k. Key "0" comes first in the file, as in the original.
C50_BAD = Path(__file__).parent / "data" / "kv_c50_bad_keys_0_3.edn"


@pytest.fixture(scope="module")
def c50_bad() -> list[Operation]:
    """The ops of keys "0" and "3" of porcupine's c50-bad kv log."""
    return operations(read_history(C50_BAD))
