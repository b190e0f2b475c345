"""Sweeps: many runs (scenarios x seeds x modes x schedule chunks), each one a ``harness run``.

A sweep case is exactly the command line a person would type, so its row's reproduce
command is the case itself and a case runs the same wherever it runs: in this process's
machine, or on another host that pytest-xdist reached through an execnet gateway. A
``--schedules N`` exploration is cut into chunks of schedule indices ``[first, first+count)``;
each schedule is a function of (strategy seed, index) alone, so the chunks of N schedules on K
workers run exactly the schedules one worker would, and a failure is shrunk where it was found.

Spec grammar (``--harness-sweep`` and ``harness sweep``)::

    SCENARIO[,SCENARIO...] [seeds=0-9|1,5,7] [modes=thread,process] [schedules=N chunk=K] [-- RUN FLAGS...]

Everything after ``--`` is passed to every ``harness run`` (plug-ins, ``--trades``, ``--set``...).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

MODES = ("thread", "process", "single")
DEFAULT_CHUNK = 50
_NAME = re.compile(r"^[A-Za-z_][\w.\-/]*$")


@dataclass(frozen=True)
class ScheduleChunk:
    """Schedule indices ``first .. first+count-1`` of a controlled exploration."""

    first: int
    count: int

    @property
    def label(self) -> str:
        """``s0-49``: the indices this chunk explores."""
        return f"s{self.first}-{self.first + self.count - 1}"


@dataclass(frozen=True)
class Case:
    """One run of a sweep: a scenario, a seed, a mode, maybe a schedule chunk, and the shared flags."""

    scenario: str
    seed: int
    mode: str | None = None
    chunk: ScheduleChunk | None = None
    flags: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """A stable name for the case: scenario, seed, mode and chunk (pytest item ids, report rows)."""
        parts = [self.scenario.rsplit("/", 1)[-1], f"seed{self.seed}"]
        parts += [self.mode] if self.mode else []
        parts += [self.chunk.label] if self.chunk else []
        return "-".join(parts)

    def argv(self, out: Path) -> list[str]:
        """The ``harness run`` arguments of this case, writing its run directory to ``out``."""
        words = ["run", self.scenario, "--seed", str(self.seed), "--out", str(out)]
        words += ["--mode", self.mode] if self.mode else []
        if self.chunk:
            words += ["--schedules", str(self.chunk.count), "--first-schedule", str(self.chunk.first)]
        return [*words, *self.flags]

    def command(self, out: Path) -> str:
        """The shell command that reproduces this case."""
        return shlex.join(["harness", *self.argv(out)])


@dataclass(frozen=True)
class Spec:
    """A parsed sweep: what to run, before expansion into cases."""

    scenarios: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    modes: tuple[str | None, ...] = (None,)
    schedules: int = 0
    chunk: int = DEFAULT_CHUNK
    flags: tuple[str, ...] = field(default=())


def parse_spec(text: str) -> Spec:
    """A ``Spec`` from its one-line form; ConfigError naming the bad word otherwise."""
    words = shlex.split(text)
    flags: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, flags = words[:cut], words[cut + 1:]
    if not words:
        raise ConfigError(f"sweep {text!r}: name at least one scenario")
    scenarios = tuple(s for s in words[0].split(",") if s)
    for name in scenarios:
        if not _NAME.match(name):
            raise ConfigError(f"sweep {text!r}: {name!r} is not a scenario name")
    values: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in ("seeds", "modes", "schedules", "chunk"):
            raise ConfigError(f"sweep {text!r}: {word!r} is not seeds=, modes=, schedules= or chunk= "
                              "(run flags go after --)")
        values[key] = value
    return Spec(scenarios, _seeds(values.get("seeds", "0"), text), _modes(values.get("modes"), text),
                _count(values.get("schedules", "0"), "schedules", text, 0),
                _count(values.get("chunk", str(DEFAULT_CHUNK)), "chunk", text, 1), tuple(flags))


def _seeds(value: str, text: str) -> tuple[int, ...]:
    seeds: list[int] = []
    for part in value.split(","):
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ConfigError(f"sweep {text!r}: seeds={value!r} is not a list of seeds or ranges (0-9,12)") from None
        if first < 0 or last < first:
            raise ConfigError(f"sweep {text!r}: seeds range {part!r} is empty or negative")
        seeds += range(first, last + 1)
    return tuple(dict.fromkeys(seeds))


def _modes(value: str | None, text: str) -> tuple[str | None, ...]:
    if value is None:
        return (None,)
    modes = tuple(m for m in value.split(",") if m)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ConfigError(f"sweep {text!r}: modes={value!r}: each mode is one of {', '.join(MODES)}")
    return modes


def _count(value: str, key: str, text: str, least: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = least - 1
    if number < least:
        raise ConfigError(f"sweep {text!r}: {key}={value!r} must be an integer >= {least}")
    return number


def chunks(schedules: int, size: int) -> tuple[ScheduleChunk, ...]:
    """Schedule indices 0..schedules-1 cut into consecutive chunks of at most ``size``."""
    return tuple(ScheduleChunk(first, min(size, schedules - first)) for first in range(0, schedules, size))


def expand(spec: Spec) -> Iterator[Case]:
    """Every case of a spec, in a stable order (scenario, seed, mode, chunk)."""
    parts: tuple[ScheduleChunk | None, ...] = chunks(spec.schedules, spec.chunk) if spec.schedules else (None,)
    for scenario in spec.scenarios:
        for seed in spec.seeds:
            for mode in spec.modes:
                for chunk in parts:
                    yield Case(scenario, seed, mode, chunk, spec.flags)


@dataclass(frozen=True)
class Row:
    """One case's outcome: its verdict, gate statuses, a few figures, where its report is, how to rerun it."""

    case: str
    status: str
    exit_code: int
    seconds: float
    report: str
    reproduce: str
    host: str
    gates: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """The row as sweep.json holds it."""
        return {"case": self.case, "status": self.status, "exit_code": self.exit_code, "seconds": self.seconds,
                "report": self.report, "reproduce": self.reproduce, "host": self.host, "gates": self.gates,
                "detail": self.detail}


STATUS_OF_EXIT = {0: "PASS", 1: "FAIL", 2: "ERROR", 130: "INTERRUPTED", 143: "INTERRUPTED"}


def run_case(case: Case, root: Path, host: str, timeout_s: float = 1800.0) -> Row:
    """Run one case as ``python -m harness run ...`` in a child process and read its verdict back."""
    out = root / case.id
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "harness", *case.argv(out)], capture_output=True,
                              text=True, timeout=timeout_s, check=False)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, output = 124, f"timed out after {timeout_s:.0f} s"
    seconds = round(time.perf_counter() - started, 2)
    status, gates = _verdict(out, code)
    detail = "" if status == "PASS" else _last_lines(output)
    return Row(case.id, status, code, seconds, str(out), case.command(out), host, gates, detail)


def _verdict(out: Path, code: int) -> tuple[str, dict[str, str]]:
    """The status and gate statuses evidence.json holds; the exit code's meaning when there is none."""
    try:
        evidence = json.loads((out / "evidence.json").read_text(encoding="utf-8"))
        gates = {str(g["name"]): str(g["status"]) for g in evidence.get("gates", ())}
        return str(evidence["status"]), gates
    except (OSError, ValueError, KeyError, TypeError):
        return STATUS_OF_EXIT.get(code, "ERROR"), {}


def _last_lines(output: str, count: int = 6) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def summary(rows: Sequence[Row]) -> dict[str, Any]:
    """The merged sweep document: counts by status and every row, ordered by case."""
    ordered = sorted(rows, key=lambda r: r.case)
    counts: dict[str, int] = {}
    for row in ordered:
        counts[row.status] = counts.get(row.status, 0) + 1
    return {"format": "harness.sweep/1", "cases": len(ordered), "counts": counts,
            "hosts": sorted({r.host for r in ordered}), "rows": [r.to_json() for r in ordered]}


def headline(document: dict[str, Any]) -> str:
    """``3 cases (2 PASS, 1 FAIL) on host-a, host-b``."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(document["counts"].items()))
    cases = document["cases"]
    return f"{cases} case{'s' * (cases != 1)} ({counts}) on {', '.join(document['hosts'])}"


def markdown(document: dict[str, Any]) -> str:
    """SWEEP.md: one table row per case, failures first with their reproduce command."""
    lines = [f"# Sweep: {headline(document)}", "",
             "| case | status | s | gates | report |", "| --- | --- | ---: | --- | --- |"]
    rows = sorted(document["rows"], key=lambda r: (r["status"] == "PASS", r["case"]))
    for row in rows:
        gates = " ".join(f"{name}={status}" for name, status in row["gates"].items())
        lines.append(f"| {row['case']} | {row['status']} | {row['seconds']} | {gates} | {row['report']} |")
    failed = [r for r in rows if r["status"] != "PASS"]
    if failed:
        lines += ["", "## Reproduce"] + [f"- {r['case']}: `{r['reproduce']}`" for r in failed]
    return "\n".join(lines) + "\n"
