"""A user's file read within bounds: a regular file of at most so many bytes.

A FIFO given as a price file blocked the run forever, ``/dev/zero`` never ended, a large file
was read whole into memory: every reader of user input goes through ``read_bounded`` (or
``regular_file`` when it streams), and gets one ``InputError`` line naming the file instead.

This module imports nothing of the harness but ``harness.errors``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from harness.errors import InputError

MAX_INPUT_BYTES = 512 * 2**20  # far above any price file or settings file a run needs
MAX_LINE_BYTES = 16 * 2**20  # one history line: an event, never a whole gzip bomb


def regular_file(path: Path, what: str) -> os.stat_result:
    """``path``'s status when it is a regular file; InputError naming it otherwise (FIFO, device, missing)."""
    try:
        status = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(status.st_mode):
        raise InputError(f"{path}: not a regular file (a FIFO, device or directory is refused as {what})")
    return status


def read_bounded(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; InputError (one line naming it) otherwise."""
    if regular_file(path, what).st_size > limit:
        raise InputError(f"{path}: {what} larger than {limit} bytes: refused")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew while being read
        raise InputError(f"{path}: {what} larger than {limit} bytes: refused")
    return data
