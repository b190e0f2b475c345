"""The history: the contract every other part shares -- what happened in a run, as events.

Everything observable in a run is one ``Event`` in one ordered ``History``. This package
holds the event kinds and their typed payloads (``events``, the one source of the published
schema), the log itself and its JSONL form (``log``), the human ``STRESS_TEST.log`` format
(``stresslog``), validation of a file against the contract (``validate``), and the recorder
a user's own engine writes through (``record``). It imports nothing else of the harness:
producers (the system, the faults) and consumers (the judge, the reports) both stand on it.
"""

from harness.history.log import (
    Clock,
    Event,
    History,
    HistoryError,
    LocalSequence,
    SharedSequence,
    iter_jsonl,
    new_sequence,
    normalise,
    read_jsonl,
    utc_now,
    write_jsonl,
)

__all__ = [
    "Clock", "Event", "History", "HistoryError", "LocalSequence", "SharedSequence", "iter_jsonl", "new_sequence",
    "normalise", "read_jsonl", "utc_now", "write_jsonl",
]
