"""What a person sees while a history is judged: events judged, events/s, and the time left by bytes read.

Quiet when the stream is not a terminal or when ``CI`` is set, like the run's bars. Drawn on
stderr, so the verdict lines on stdout stay clean when they are piped.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeRemainingColumn

from harness.clock import Clock, monotonic_ns, seconds


def interactive(stream: TextIO | None = None) -> bool:
    """True when progress display helps: ``stream`` (stdout) is a terminal, and not under CI."""
    return (stream or sys.stdout).isatty() and not os.environ.get("CI")


class JudgeBar:
    """The judge's progress callback: ``bar(events, bytes_read, bytes_in_file)``."""

    def __init__(self, progress: Progress, clock: Clock = monotonic_ns) -> None:
        self._progress, self._clock = progress, clock
        self._started = seconds(clock)
        self._task: TaskID = progress.add_task("judging", total=None, events=0, rate=0.0)

    def __call__(self, events: int, read: int, size: int) -> None:
        elapsed = seconds(self._clock) - self._started
        rate = events / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, completed=read, total=size or None, events=events, rate=rate)


@contextlib.contextmanager
def judge_progress(*, force: bool = False, console: Console | None = None,
                   clock: Clock = monotonic_ns) -> Iterator[JudgeBar | None]:
    """A progress callback for ``judge_history`` (None when quiet: off a terminal, or under CI)."""
    if not (force or interactive(sys.stderr)):
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[events]:>12,} events  {task.fields[rate]:>9,.0f} events/s  ETA"),
               TimeRemainingColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as progress:
        yield JudgeBar(progress, clock)
