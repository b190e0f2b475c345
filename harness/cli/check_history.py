"""``harness check-history FILE --model NAME``: check a recorded history for linearizability.

Exit codes: 0 linearizable, 1 not linearizable (counterexample printed), 2 unreadable input,
unknown model, or an op the model cannot judge (one error line on stderr), 3 unknown (a
budget ran out).

``--fail-semantics`` says what a ``:fail`` op means: ``knossos`` (default) -- it did not
happen and is dropped; ``porcupine`` -- a failed cas still compared and saw a value other than
the one it expected, so it is kept and checked (stricter; porcupine's etcd model).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.errors import worst
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.formats import FORMATS, HistoryFormatError, read_history
from harness.judge.linearizability.models import MODELS
from harness.judge.linearizability.operations import FAIL_SEMANTICS, Budget, MalformedHistory, Model, Result, operations

EXIT_TRUE, EXIT_FALSE, EXIT_BAD_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3
SHOWN_PREFIX = 10


def add_check_history_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the check-history arguments to a (sub)parser."""
    defaults = Budget()
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE",
                        help="history files (EDN, JSON, Jepsen log or events.jsonl), checked one by one; with "
                             "several, the exit code is 1 if any is not linearizable, else 2, 3, 0 as above")
    parser.add_argument("--model", required=True, help=f"sequential model: {', '.join(MODELS)}")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="history format (default: auto-detect)")
    parser.add_argument("--fail-semantics", default="knossos", choices=FAIL_SEMANTICS,
                        help="a :fail op did not happen (knossos) or a failed cas observed another value (porcupine)")
    parser.add_argument("--budget-steps", type=int, default=defaults.steps,
                        help="search steps each key gets at least before it is unknown")
    parser.add_argument("--budget-steps-per-op", type=int, default=defaults.steps_per_op,
                        help="search steps each key gets for each of its ops (0: just --budget-steps)")
    parser.add_argument("--budget-seconds", type=float, default=defaults.seconds,
                        help="seconds before answering unknown")


def run_check_history(args: argparse.Namespace) -> int:
    """Run check-history with parsed arguments on each file; return the exit code (``worst`` of several)."""
    model = MODELS.get(args.model)
    if model is None:
        return _error(f"unknown model {args.model!r} (choose from {', '.join(MODELS)})")
    return worst([_check_file(path, model, args) for path in args.files])


def _check_file(path: Path, model: Model, args: argparse.Namespace) -> int:
    started = time.monotonic()  # the seconds budget covers reading the file too
    try:
        ops = operations(read_history(path, args.format), args.fail_semantics)
    except (HistoryFormatError, MalformedHistory) as exc:
        return _error(f"{path}: {exc}" if isinstance(exc, MalformedHistory) else str(exc))
    seconds = None if args.budget_seconds is None else max(0.0, args.budget_seconds - (time.monotonic() - started))
    result = check(ops, model, Budget(args.budget_steps, seconds, args.budget_steps_per_op or None))
    if result.error is not None:
        return _error(f"{path}: {result.error}")
    print(f"{path}: {len(ops)} operations, model {model.name}: {result.summary()}", flush=True)
    if len(result.keys) > 1:
        print(keys_line(result))
    if result.verdict == "false":
        _print_counterexample(result)
    return {"true": EXIT_TRUE, "false": EXIT_FALSE, "unknown": EXIT_UNKNOWN}[result.verdict]


KEY_OUTCOMES = {"steps": "out of steps", "seconds": "out of time", "stopped": "stopped (another key refuted it)"}


def keys_line(result: Result) -> str:
    """Each key's verdict and steps on one line, grouped by outcome (the first few keys of each)."""
    groups: dict[str, list[str]] = {}
    for verdict in result.keys:
        outcome = KEY_OUTCOMES.get(verdict.exhausted or "", verdict.verdict)
        groups.setdefault(outcome, []).append(f"{verdict.key} ({verdict.steps:,} steps)")
    shown = (f"{outcome} {len(keys)}: {', '.join(keys[:SHOWN_PREFIX])}{', ...' if len(keys) > SHOWN_PREFIX else ''}"
             for outcome, keys in groups.items())
    return f"keys: {len(result.keys)}; " + "; ".join(shown)


def _print_counterexample(result: Result) -> None:
    assert result.failed_op is not None
    if result.key is not None:
        print(f"key: {result.key}")
    prefix = result.linearized_prefix
    print(f"longest linearizable prefix ({len(prefix)} operations, last {min(len(prefix), SHOWN_PREFIX)} shown):")
    for op in prefix[-SHOWN_PREFIX:]:
        print(f"  {op.describe()}")
    print(f"first operation that cannot be linearized:\n  {result.failed_op.describe()}")


def _error(message: str) -> int:
    print(f"harness check-history: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
