"""A small EDN reader for the subset Jepsen histories use, one regular-expression pass per text.

Values come out plain and hashable where they can be: keywords and symbols become their name
(``:invoke`` -> ``"invoke"``), vectors and lists become tuples, sets frozensets, maps dicts
(the caller flattens map values it keeps). Tagged literals (``#inst "..."``,
``#jepsen.history.Op{...}``) read as the value they tag; ``#_`` discards the next form;
``;`` comments run to the end of the line. Errors carry the line they were found on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.errors import InputError

MAX_DEPTH = 64

_TOKEN = re.compile(
    r"""(?P<ws>[\s,]+|;[^\n]*)
      |(?P<open>\#\{|[\[({])
      |(?P<close>[\])}])
      |(?P<str>"(?:[^"\\]|\\.)*")
      |(?P<discard>\#_)
      |(?P<tag>\#[A-Za-z][^\s,\[\](){}";]*)
      |(?P<atom>[^\s,\[\](){}";\#][^\s,\[\](){}";]*)
      |(?P<bad>.)""",
    re.VERBOSE | re.DOTALL,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


class EdnError(InputError):
    """Text that is not valid EDN; ``line`` is where the problem was found (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Form:
    """A top-level form and the line it starts on."""

    line: int
    value: Any
    item_lines: tuple[int, ...] = ()


def atom(text: str) -> Any:
    """One EDN scalar (nil, booleans, numbers, keywords, symbols, characters) as a Python value."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    first = text[0]
    if first == ":":
        return text[1:]
    if first.isdigit() or (first in "+-" and len(text) > 1 and text[1].isdigit()):
        if _INT.fullmatch(text):
            return int(text.rstrip("N"))
        if _FLOAT.fullmatch(text):
            return float(text.rstrip("M"))
        raise ValueError(f"bad number {text!r}")
    if first == "\\":
        return {"\\newline": "\n", "\\space": " ", "\\tab": "\t"}.get(text, text[1:])
    return text


def _string(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape, body)


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code[1:], 16)) if len(code) == 5 else _ESCAPES.get(code, code)


class _Frame:
    """An open collection: its opening token, items so far, and how many next forms to discard."""

    __slots__ = ("opener", "items", "starts", "discard", "line")

    def __init__(self, opener: str, line: int) -> None:
        self.opener, self.discard, self.line = opener, 0, line
        self.items: list[Any] = []
        self.starts: list[int] = []


def _close(frame: _Frame, line: int) -> Any:
    items = frame.items
    if frame.opener == "{":
        if len(items) % 2:
            raise EdnError("a map needs an even number of forms", line)
        return dict(zip(items[::2], items[1::2], strict=True))
    return frozenset(items) if frame.opener == "#{" else tuple(items)


def forms(text: str) -> Iterator[Form]:
    """Every top-level form of ``text`` in order, with its line; raise EdnError on bad input."""
    line = 1
    top = _Frame("", 1)
    stack = [top]
    pending_tag = False
    dangling = 1  # line of the latest tag or #_, which need a form after them
    starts: list[int] = []
    for match in _TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == "ws":
            line += token.count("\n")
            continue
        frame = stack[-1]
        try:
            if kind == "open":
                if len(stack) > MAX_DEPTH:
                    raise EdnError(f"nested deeper than {MAX_DEPTH} levels", line)
                stack.append(_Frame(token, line))
                pending_tag = False
                continue
            if kind == "tag":
                pending_tag, dangling = True, line
                continue
            if kind == "discard":
                frame.discard, dangling = frame.discard + 1, line
                continue
            if kind == "close":
                if frame is top or _CLOSERS[frame.opener] != token:
                    raise EdnError(f"unexpected {token!r}", line)
                stack.pop()
                value = _close(frame, line)
                start, starts, frame = frame.line, frame.starts, stack[-1]
            elif kind == "str":
                value, start = _string(token), line
                line += token.count("\n")
            elif kind == "atom":
                value, start = atom(token), line
            else:
                raise EdnError(f"unexpected {token!r}" if token != '"' else "unterminated string", line)
        except (ValueError, TypeError) as exc:
            raise (exc if isinstance(exc, EdnError) else EdnError(str(exc), line)) from None
        pending_tag = False
        if frame.discard:
            frame.discard -= 1
        elif frame is top:
            yield Form(start, value, tuple(starts) if kind == "close" else ())
        else:
            frame.items.append(value)
            frame.starts.append(start)
    if len(stack) > 1:
        # The line an unclosed collection opened on is where a reader should look.
        raise EdnError(f"unexpected end of input: {stack[-1].opener!r} never closed", stack[-1].line)
    if pending_tag or top.discard:
        raise EdnError("unexpected end of input (a tag or #_ without a form)", dangling)


def read_one(text: str) -> Any:
    """The first form of ``text`` (a Jepsen log field); the rest of the text is not read."""
    for form in forms(text):
        return form.value
    raise EdnError("no value", 1)
