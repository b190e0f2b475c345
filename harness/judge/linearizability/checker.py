"""Checking a history against a model: each key (P-compositionality) searched on its own.

The operation and model types are ``operations``; the Wing-Gong-Lowe search of one key is
``search``; a model may give a fast path (``Model.fast``) that decides a key without it.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager

from harness.judge.linearizability.operations import Budget, Model, Operation, Result, StepMeter, invalid
from harness.judge.linearizability.search import search

DEFAULT_BUDGET = Budget()  # 1 M steps, 10 s


def check(ops: Sequence[Operation], model: Model, budget: Budget = DEFAULT_BUDGET) -> Result:
    """Check a history against a model, each key on its own; the budget is shared by all keys."""
    error = invalid(ops, model)
    if error is not None:
        return Result("unknown", error=error)
    by_key: dict[Hashable, list[Operation]] = defaultdict(list)
    dropped = model.unobservable
    for op in ops:
        if not (dropped and op.complete_index is None and op.f in dropped):
            by_key[op.key].append(op)
    meter = StepMeter(budget)
    with _collector_paused():
        for key, key_ops in by_key.items():
            if model.unseen is not None:
                drop = model.unseen(key_ops)
                key_ops = [op for i, op in enumerate(key_ops) if i not in drop]
            result = model.fast(key_ops, model, meter, key) if model.fast is not None else None
            if result is None:
                result = search(key_ops, model, meter, key)
            # An exhausted budget is shared, so the keys not yet checked could only be unknown too.
            if result.verdict != "true":
                return result
    return Result("true", steps=meter.steps)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a check builds millions of small acyclic tuples
    (frames, memo keys, holds) that it would otherwise rescan over and over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
