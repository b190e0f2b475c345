"""The command line's input boundary: what is refused before any work starts, and how errors read.

Every input error leaves the CLI as one line (``--flag: what`` or ``FILE:LINE: what``) and
exit code 2. These checks run before a scenario starts, so a run that cannot finish well
(a report path that cannot be written, an argument that cannot be printed, a run
directory that already holds a run) is refused in a second, not after minutes of trading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.errors import ConfigError

ENDPOINT_RE = re.compile(r"^tcp://(?P<host>[^:/]+|\[[0-9a-fA-F:]+\]):(?P<port>\*|\d+)$")
MAX_PORT = 65_535


def one_line(message: str) -> str:
    """``message`` on one printable line: newlines folded, text that cannot be encoded escaped."""
    text = " ".join(str(message).split())
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_utf8(argv: Sequence[str]) -> None:
    """Refuse an argument that is not valid UTF-8 (the OS handed over bytes Python could not decode)."""
    for index, arg in enumerate(argv):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            flag = _flag_of(argv, index)
            shown = arg.encode("utf-8", "surrogateescape")
            raise ConfigError(f"{flag}: not valid UTF-8: {shown!r}") from None


def _flag_of(argv: Sequence[str], index: int) -> str:
    arg = argv[index]
    if arg.startswith("--") and "=" in arg:
        return arg.partition("=")[0]
    if index > 0 and argv[index - 1].startswith("-") and not arg.startswith("-"):
        return argv[index - 1]
    return f"argument {index + 1}"


def check_new_run_dir(out: Path, flag: str = "--out") -> None:
    """A run never overwrites another: refuse a run directory that exists and is not empty."""
    try:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"{flag}: {out} already exists and is not an empty directory; "
                              f"a run never overwrites another -- give a new directory")
    except OSError as exc:
        raise ConfigError(f"{flag}: {out}: {exc.strerror or exc}") from None


def check_port(flag: str, port: int) -> None:
    """A TCP port number a socket can bind (0 lets the OS pick)."""
    if not 0 <= port <= MAX_PORT:
        raise ConfigError(f"{flag}: port must be 0..{MAX_PORT}, got {port}")


def check_endpoint(flag: str, endpoint: str) -> None:
    """A ZeroMQ tcp endpoint with a real port (ZeroMQ itself would silently bind another one)."""
    if not endpoint.startswith("tcp://"):
        return  # ipc:// and inproc:// have no port; the broker judges the scheme
    match = ENDPOINT_RE.match(endpoint)
    if match is None:
        raise ConfigError(f"{flag}: expected tcp://HOST:PORT, got {endpoint!r}")
    if match["port"] != "*":
        check_port(flag, int(match["port"]))
