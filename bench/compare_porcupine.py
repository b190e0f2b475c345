"""The harness's linearizability checker beside porcupine's, same files, same semantics, one sitting.

``python -m bench.compare_porcupine --porcupine DIR [--sizes 10000,30000] [--repeat 3]``

DIR is a checkout of github.com/anishathalye/porcupine (nothing of it is shipped here). The
script builds ``bench/porcupine_check/main.go`` -- our driver: a parser for the two log
formats and porcupine's etcd and kv models, checked by porcupine's own ``CheckEventsTimeout``
-- against DIR with the local ``go`` (``apt-get install golang-go``), then runs both checkers
interleaved, each as a fresh process that parses and checks every file it is given:

- porcupine's 6 kv logs (``test_data/kv``), one file a run, model kv;
- porcupine's 102 etcd logs (``test_data/jepsen``), all in one run, model cas-register;
- cas-register histories generated here (``bench_linearizability.register_history``):
  concurrency 10, 2 % crashed ops, written as porcupine's etcd logs, one a run.

Semantics are the same on both sides: a failed cas compared and saw another value (the harness
with ``--fail-semantics porcupine``); a crashed op returns at the end of the history with an
unknown output (porcupine), which is the same as "may or may not have happened" (the harness):
placed last, it is seen by no one. Neither side has a step or time budget. Each row gives the
median over ``--repeat`` runs of the process's wall time and of the parse + check time it
reports, the peak resident memory of the process, and whether the verdicts agree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DRIVER = Path(__file__).with_name("porcupine_check")
GNU_TIME = "/usr/bin/time"
GO_MOD = """module porcupinecheck

go 1.16

require github.com/anishathalye/porcupine v0.0.0

replace github.com/anishathalye/porcupine => {porcupine}
"""


@dataclass(frozen=True)
class Run:
    """One process's figures: wall seconds, parse + check seconds it reported, peak RSS, verdicts."""

    wall_s: float
    check_s: float
    rss_mb: float
    verdicts: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    """Files checked by one process per side, under one model."""

    name: str
    model: str  # "kv" or "cas-register"
    files: tuple[Path, ...]


def build(porcupine: Path, go: str, workdir: Path) -> Path:
    """Build the porcupine driver against the checkout at ``porcupine``; the binary's path."""
    shutil.copy(DRIVER / "main.go", workdir / "main.go")
    (workdir / "go.mod").write_text(GO_MOD.format(porcupine=porcupine.resolve()), encoding="utf-8")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off"}  # porcupine needs no module but itself
    subprocess.run([go, "build", "-o", "porcupine-check", "."], cwd=workdir, env=env, check=True)
    return workdir / "porcupine-check"


def measure(argv: Sequence[str], workdir: Path) -> Run:
    """Run a checker process to the end: its wall time, reported times and verdicts, peak RSS.

    GNU time forks the checker from its own small process and reports that child's peak RSS;
    a child forked from this Python would inherit this process's peak (Linux keeps it across exec).
    """
    rss_file = workdir / "rss"
    began = time.perf_counter()
    done = subprocess.run([GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv], stdout=subprocess.PIPE, text=True,
                          check=True)
    wall = time.perf_counter() - began
    rows = [line.rsplit(" ", 2) for line in done.stdout.splitlines() if line.strip()]
    rss_mb = int(rss_file.read_text().split()[-1]) / 1024
    return Run(wall, sum(float(r[2]) for r in rows), rss_mb, tuple(r[1] for r in rows))


def harness_argv(dataset: Dataset) -> list[str]:
    return [sys.executable, "-m", "bench.compare_porcupine", "--check", dataset.model, *map(str, dataset.files)]


def porcupine_argv(binary: Path, dataset: Dataset) -> list[str]:
    return [str(binary), "kv" if dataset.model == "kv" else "etcd", *map(str, dataset.files)]


def compare(dataset: Dataset, binary: Path, repeat: int, workdir: Path) -> dict[str, object]:
    """Both checkers on one dataset, interleaved (the first to run alternates), medians of ``repeat``."""
    ours: list[Run] = []
    theirs: list[Run] = []
    for i in range(repeat):
        pair = [(ours, harness_argv(dataset)), (theirs, porcupine_argv(binary, dataset))]
        for runs, argv in pair if i % 2 == 0 else pair[::-1]:
            runs.append(measure(argv, workdir))
    row: dict[str, object] = {"dataset": dataset.name}
    for side, runs in (("harness", ours), ("porcupine", theirs)):
        row[f"{side}_wall_s"] = statistics.median(r.wall_s for r in runs)
        row[f"{side}_check_s"] = statistics.median(r.check_s for r in runs)
        row[f"{side}_rss_mb"] = max(r.rss_mb for r in runs)
        row[f"{side}_verdicts"] = _count(runs[-1].verdicts)
    row["agree"] = ours[-1].verdicts == theirs[-1].verdicts
    return row


def _count(verdicts: Sequence[str]) -> str:
    return ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts)))


def datasets(porcupine: Path, sizes: Sequence[int], workdir: Path) -> list[Dataset]:
    """porcupine's kv and etcd logs, and the generated cas-register histories (written to ``workdir``)."""
    from bench.bench_linearizability import Shape, etcd_log, register_history

    data = porcupine / "test_data"
    out = [Dataset(f"kv {p.stem}", "kv", (p,)) for p in sorted((data / "kv").glob("*.txt"))]
    # One of the 103 etcd logs is empty; porcupine's tests check the other 102.
    etcd = tuple(p for p in sorted((data / "jepsen").glob("etcd_*.log")) if p.stat().st_size)
    out.append(Dataset(f"{len(etcd)} etcd logs", "cas-register", etcd))
    for size in sizes:
        path = workdir / f"cas_c10_{size}.log"
        path.write_text(etcd_log(register_history(Shape(size, 10, 0.02), seed=size)), encoding="utf-8")
        out.append(Dataset(f"cas-register c10, {size:,} ops", "cas-register", (path,)))
    return out


def check_files(model_name: str, paths: Sequence[str]) -> None:
    """The harness side: parse and check each file, print "<file> <verdict> <seconds>" per file."""
    from harness.judge.linearizability.checker import check
    from harness.judge.linearizability.formats import read_history
    from harness.judge.linearizability.models import MODELS
    from harness.judge.linearizability.operations import Budget, operations

    unlimited = Budget(steps=None, seconds=None, steps_per_op=None)
    for path in paths:
        began = time.perf_counter()
        result = check(operations(read_history(path), "porcupine"), MODELS[model_name], unlimited)
        print(f"{path} {result.verdict} {time.perf_counter() - began:.4f}", flush=True)


def table(rows: Sequence[dict[str, object]]) -> str:
    """The rows as a markdown table."""
    lines = ["| history | harness: wall / parse+check / peak RSS | porcupine: wall / parse+check / peak RSS "
             "| harness / porcupine (wall) | verdicts |", "|---|---|---|---|---|"]
    for r in rows:
        ours = f"{r['harness_wall_s']:.2f} s / {r['harness_check_s']:.2f} s / {r['harness_rss_mb']:.0f} MB"
        theirs = f"{r['porcupine_wall_s']:.2f} s / {r['porcupine_check_s']:.2f} s / {r['porcupine_rss_mb']:.0f} MB"
        ratio = float(str(r["harness_wall_s"])) / max(float(str(r["porcupine_wall_s"])), 1e-9)
        agree = r["harness_verdicts"] if r["agree"] else f"DISAGREE: {r['harness_verdicts']} vs {r['porcupine_verdicts']}"
        lines.append(f"| {r['dataset']} | {ours} | {theirs} | {ratio:.2f}x | {agree} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Build porcupine's checker, run both sides, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare_porcupine", description=__doc__.split("\n")[0])
    parser.add_argument("--porcupine", type=Path, help="a checkout of github.com/anishathalye/porcupine")
    parser.add_argument("--go", default="go", help="the go command")
    parser.add_argument("--sizes", default="10000,30000", help="cas-register history sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run the datasets whose name contains this")
    parser.add_argument("--check", nargs="+", metavar=("MODEL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        check_files(args.check[0], args.check[1:])
        return 0
    if args.porcupine is None or not (args.porcupine / "checker.go").is_file():
        parser.error("--porcupine must name a checkout of github.com/anishathalye/porcupine")
    if shutil.which(args.go) is None:
        parser.error(f"no {args.go!r} command: install Go (apt-get install golang-go)")
    if not Path(GNU_TIME).is_file():
        parser.error(f"no {GNU_TIME} (GNU time, for the peak memory of each run): apt-get install time")
    with tempfile.TemporaryDirectory(prefix="porcupine-") as tmp:
        workdir = Path(tmp)
        binary = build(args.porcupine, args.go, workdir)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        chosen = [d for d in datasets(args.porcupine, sizes, workdir) if not args.only or args.only in d.name]
        rows = []
        for dataset in chosen:
            rows.append(compare(dataset, binary, args.repeat, workdir))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
