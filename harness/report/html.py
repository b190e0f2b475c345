"""report.html: one self-contained page per run -- the verdict table, then one panel per view.

Plotting choice: matplotlib (already a dependency), bare ``Figure`` objects (no pyplot state)
saved as SVG with ``svg.fonttype = 'none'`` and inlined into the page. Inline SVG needs no script, no network
and no CDN, so the file opens the same from disk and from a CI artefact; text stays text
(small files, searchable); and every drawn hold keeps an ``id``, a ``class`` and a
``<title>`` (hover shows holder, lock and fencing token), which tests and users can find.
A JavaScript charting library would have to be inlined (megabytes) or fetched (network);
PNG images would lose the ids and the hover text.

Every figure in the verdict table and every marked percentile comes from the evidence;
the plotted series are down-sampled (``MAX_POINTS`` per series, ``MAX_BARS`` holds per
lock, overlapping holds always kept), which changes pictures, never figures.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from harness.history.events import (
    FAULT_HEAL,
    FAULT_INJECT,
    PERSISTENCE_START,
    PERSISTENCE_STATS,
    RISK_SETTLE,
    RISK_TRIP,
    TRADE_CLOSED,
)
from harness.history.log import Event, HistoryError
from harness.judge.checks.locks import AREA as LOCK_AREA
from harness.judge.checks.locks import HoldWindow as Hold
from harness.judge.checks.locks import LockFigures, hold_windows
from harness.judge.checks.perf import AREA as PERF_AREA

# The checker's own sample definitions, so the histograms show exactly what was measured.
from harness.judge.checks.perf import PerfFigures, latency_summary, lock_latencies, order_latencies
from harness.judge.checks.replay import run_info
from harness.judge.evidence import F, figures_of
from harness.judge.gates import GateResult, Line
from harness.report.records import from_json

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

    from harness.run.scenario import Verdict

REPORT_NAME = "report.html"
MAX_POINTS = 1000
MAX_BARS = 300
MS = 1_000_000
OVERLAP_COLOUR = "#d62728"
HATCHES = ("//", "\\\\", "xx", "..")
PERSISTENCE_KINDS = ("alert", "health", PERSISTENCE_START, PERSISTENCE_STATS, FAULT_INJECT)
# A fixed hash salt keeps matplotlib's generated ids stable, so rebuilding a report gives the same bytes.
SVG_STYLE: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "harness-report", "font.size": 9}
PAGE_STYLE = """
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:1.5em auto;max-width:1300px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
.PASS .status{background:#d9f2d9;font-weight:bold}.FAIL .status{background:#f8d0d0;font-weight:bold}.NOTHING_JUDGED .status{background:#eee;font-weight:bold}
.facts{margin:0;padding:0;list-style:none;font-size:.9em}.bad{color:#b00}
.panel svg{max-width:100%;height:auto}.caption,.skipped{font-size:.9em;color:#555}
.hold.overlap path{stroke:#7a0000}
.counterexamples{font-size:.85em}pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}
"""


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows: the verdict (from evidence) and the history (for plots)."""

    title: str
    run_id: str
    status: str
    gates: tuple[GateResult, ...]
    performance: PerfFigures | None  # the figures the page marks (None: not judged, or unreadable)
    locks: LockFigures | None
    events: Sequence[Event]
    command: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    violations: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Panel:
    """One view of the history; ``draw`` returns its HTML body, or None without data."""

    id: str
    title: str
    needs: str
    draw: Callable[[ReportData], str | None]
    # What the needed events must also hold to be drawn, for the skip note when they are present.
    holding: str = "anything to draw"

    def skip_note(self, kinds: set[str]) -> str:
        """Why the panel is not drawn: its events are absent, or present without what it draws."""
        if any(kind in self.needs for kind in kinds):
            return f"skipped, the {self.needs} events in this history hold no {self.holding}"
        return f"skipped, no {self.needs} events in this history"


@dataclass
class _SvgMarks:
    """Classes and hover titles to attach to SVG groups by id after matplotlib wrote them."""

    marks: dict[str, str] = field(default_factory=dict)

    def add(self, gid: str, css_class: str, title: str, **data: Any) -> None:
        """Remember one group's class, hover title and ``data-*`` attributes."""
        attributes = "".join(f' data-{name}="{html.escape(str(value))}"' for name, value in data.items())
        self.marks[gid] = f'<g id="{gid}" class="{css_class}"{attributes}><title>{html.escape(title)}</title>'

    def apply(self, svg: str) -> str:
        """Rewrite ``<g id="gid">`` openings to carry the class, attributes and a <title> child."""
        return re.sub(r'<g id="([^"]+)">', lambda m: self.marks.get(m.group(1), m.group(0)), svg)


# -- where the data comes from ------------------------------------------------------------


def from_verdict(verdict: Verdict) -> ReportData:
    """Report data of a judged run (a ``harness.run.scenario.Verdict``)."""
    from harness.report.settings import run_settings

    violations = {ev.area: ev.violations for ev in verdict.evidence}
    return ReportData(verdict.scenario.name, verdict.run_id, verdict.status, verdict.gates,
                      figures_of(verdict.evidence, PERF_AREA, PerfFigures),
                      figures_of(verdict.evidence, LOCK_AREA, LockFigures), verdict.events,
                      verdict.command, run_settings(verdict.config, verdict.plugins), violations)


def from_saved(path: Path) -> ReportData:
    """Report data of a saved run directory (its evidence.json) or a bare history (re-judged)."""
    from harness.judge.rejudge import read_history

    events, _ = read_history(path)
    document = path / "evidence.json" if path.is_dir() else None
    if document is not None and document.is_file():
        return _from_document(json.loads(document.read_text(encoding="utf-8")), events, document)
    return _rejudged(events)


def _from_document(doc: Mapping[str, Any], events: Sequence[Event], origin: Path) -> ReportData:
    """Verdict and figures exactly as the run recorded them in evidence.json."""
    try:
        gates = tuple(GateResult(g["name"], g["area"], tuple(Line(f["ok"], f["text"]) for f in g["facts"]))
                      for g in doc["gates"])
        violations = {area: body.get("violations", {}) for area, body in doc["evidence"].items()}
        return ReportData(doc["scenario"], doc["run_id"], doc["status"], gates,
                          _recorded(doc["evidence"], PERF_AREA, PerfFigures),
                          _recorded(doc["evidence"], LOCK_AREA, LockFigures), events,
                          doc.get("reproduce"), doc.get("config", {}), violations)
    except (KeyError, TypeError) as exc:
        raise HistoryError(f"{origin}: not an evidence document (missing {exc})") from None


def _recorded(evidence: Mapping[str, Any], area: str, record: type[F]) -> F | None:
    """An area's figures as evidence.json recorded them (None: absent, not applicable, or an older layout)."""
    try:
        return from_json(record, evidence[area]["figures"])
    except (KeyError, TypeError):
        return None


def _rejudged(events: Sequence[Event]) -> ReportData:
    """A history without its evidence: judge it with the default gates on the areas it has events for."""
    from harness.judge.areas import STANDARD_AREAS, evaluate, judge
    from harness.judge.checks.coverage import coverage_evidence
    from harness.judge.gates import outcome
    from harness.run.config import load_config

    limits = load_config(None).gates
    evidence = evaluate(events, STANDARD_AREAS, coverage_evidence(events, limits.require_coverage))
    gates = tuple(judge(evidence, limits))
    status = outcome(gates)
    return ReportData("history", events[0].run_id, status, gates, figures_of(evidence, PERF_AREA, PerfFigures),
                      figures_of(evidence, LOCK_AREA, LockFigures), events,
                      violations={ev.area: ev.violations for ev in evidence})


# -- series helpers -----------------------------------------------------------------------


def downsample(xs: Sequence[float], ys: Sequence[float], limit: int) -> tuple[list[float], list[float]]:
    """At most ``limit`` points: per bucket its lowest and highest point, in order (peaks survive)."""
    if len(xs) <= limit:
        return list(xs), list(ys)
    size = math.ceil(len(xs) / max(1, limit // 2))
    keep: list[int] = []
    for start in range(0, len(xs), size):
        bucket = range(start, min(start + size, len(xs)))
        keep.extend(sorted({min(bucket, key=ys.__getitem__), max(bucket, key=ys.__getitem__)}))
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _seconds(events: Sequence[Event]) -> Callable[[int], float]:
    """Monotonic ns -> seconds since the history's first event."""
    origin = events[0].mono_ns if events else 0
    return lambda ns: (ns - origin) / 1e9


def _number(value: Any) -> float:
    """A recorded figure (Decimal, its string, or a float) as a float, for plotting only."""
    return float(Decimal(str(value)))


def _svg(fig: Figure, marks: _SvgMarks | None = None) -> str:
    """The figure as an inline <svg> element (no XML prologue, no metadata)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(SVG_STYLE):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)
    return marks.apply(text) if marks else text


def _figure(rows: int, columns: int, height: float, share: bool = True) -> tuple[Figure, list[Any]]:
    """A figure of rows x columns axes (stacked ones share the time axis)."""
    # A bare Figure, not pyplot: no global figure registry, no backend to choose, thread-safe.
    with matplotlib.rc_context(SVG_STYLE):
        fig = Figure(figsize=(12, height))
        axes = fig.subplots(rows, columns, sharex=share, squeeze=False)
    return fig, list(axes.flat)


# -- panels -------------------------------------------------------------------------------


def draw_pnl(data: ReportData) -> str | None:
    """Cumulative realised PnL per symbol over time, from ``trade.closed``."""
    closed = [e for e in data.events if e.kind == TRADE_CLOSED]
    if not closed:
        return None
    at = _seconds(data.events)
    fig, (ax,) = _figure(1, 1, 3.6)
    for symbol in sorted({str(e.symbol) for e in closed}):
        xs, ys, total = [], [], Decimal(0)
        for event in (e for e in closed if str(e.symbol) == symbol):
            total += Decimal(str(event.payload["pnl"]))
            xs.append(at(event.mono_ns))
            ys.append(float(total))
        ax.step(*downsample(xs, ys, MAX_POINTS), where="post", label=f"{symbol} ({len(xs)} trades, {total})")
    ax.axhline(0, color="#888", linewidth=0.8)
    marks = _SvgMarks()
    _shade_faults((ax,), data.events, at, max(at(data.events[-1].mono_ns), 1e-6), marks)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("cumulative realised PnL")
    ax.legend(loc="upper left", fontsize=8)
    return _svg(fig, marks)


def draw_latency(data: ReportData) -> str | None:
    """Order and lock-acquire latency histograms with p50/p99/p99.9 marked."""
    perf = data.performance
    order, lock = (None, None) if perf is None else (perf.order_latency, perf.lock_latency)
    views = [(label, recorded, samples) for label, recorded, samples in (
        ("order (submit -> settle)", order, order_latencies(data.events)),
        ("lock acquire (invoke -> ok)", lock, lock_latencies(data.events))) if samples]
    if not views:
        return None
    fig, axes = _figure(1, len(views), 3.4, share=False)
    for ax, (label, recorded, samples) in zip(axes, views, strict=False):
        ms = [ns / MS for ns in samples]
        # Log-spaced bins: latencies span decades, and linear bins put a long run's body in one bar.
        ax.hist(ms, bins=log_bins(ms), color="#4c72b0")
        ax.set_xscale("log")
        # The run's recorded figures; the checker's own summary for a history without them.
        summary = recorded or latency_summary(samples)
        for name, value, style in (("p50", summary.p50_ms, ":"), ("p99", summary.p99_ms, "--"),
                                   ("p99.9", summary.p99_9_ms, "-")):
            ax.axvline(value, color="#c44e52", linestyle=style, label=f"{name} {value:g} ms")
        ax.set_title(f"{label}: {len(ms)} samples")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("count")
        ax.legend(fontsize=8)
    return _svg(fig)


def log_bins(values: Sequence[float], count: int = 60) -> list[float]:
    """``count`` bin edges spaced evenly on a log scale from the smallest to the largest value."""
    positive = [v for v in values if v > 0] or [1e-3]
    low, high = min(positive), max(positive)
    if high <= low:
        high = low * 10
    ratio = (high / low) ** (1 / count)
    return [low * ratio ** k for k in range(count + 1)]


@dataclass(frozen=True)
class HoldBar:
    """One drawn bar of the lock timeline: a single hold, or consecutive plain holds merged."""

    lock: str
    holds: tuple[Hold, ...]

    @property
    def start_ns(self) -> int:
        """Start of the first hold."""
        return self.holds[0].start_ns

    @property
    def end_ns(self) -> int:
        """End of the last hold."""
        return max(h.end_ns for h in self.holds)

    @property
    def overlap(self) -> bool:
        """True when this bar is a hold the checker found overlapping another."""
        return any(h.overlap for h in self.holds)


def hold_bars(holds: Sequence[Hold], limit: int, keep: frozenset[int] = frozenset()) -> list[HoldBar]:
    """At most about ``limit`` bars for one lock, every hold in exactly one of them.

    Overlapping holds and holds named by a counterexample (``keep``, by seq) stay single bars;
    the plain ones between them merge into runs of equal size, so a long run still accounts
    for every hold (each bar says how many it stands for) without drawing thousands.
    """
    single = [h.overlap or h.seq in keep for h in holds]
    room = max(1, limit - sum(single))
    size = max(1, math.ceil((len(holds) - sum(single)) / room))
    bars: list[HoldBar] = []
    run: list[Hold] = []
    for hold, alone in zip(holds, single, strict=True):
        if alone or len(run) == size:
            if run:
                bars.append(HoldBar(hold.lock, tuple(run)))
            run = []
        if alone:
            bars.append(HoldBar(hold.lock, (hold,)))
        else:
            run.append(hold)
    if run:
        bars.append(HoldBar(run[0].lock, tuple(run)))
    return bars


def seqs_in(item: Any) -> set[int]:
    """Event seqs a counterexample names: integer ``*seq`` fields at any depth (events nest)."""
    found: set[int] = set()
    if isinstance(item, Mapping):
        for key, value in item.items():
            if str(key).endswith("seq") and type(value) is int:
                found.add(value)
            else:
                found |= seqs_in(value)
    elif isinstance(item, (list, tuple)):
        for value in item:
            found |= seqs_in(value)
    return found


def offending_seqs(data: ReportData, area: str) -> frozenset[int]:
    """Every event seq that an area's counterexamples name."""
    return frozenset(seq for items in data.violations.get(area, {}).values() for seq in seqs_in(items))


def _hold_bars(ax: Any, rows: Sequence[tuple[int, HoldBar]], clients: Sequence[str],
               at: Callable[[int], float], marks: _SvgMarks, offending: frozenset[int]) -> None:
    """One rectangle per bar, each with its own SVG id, class, hover title and hold count."""
    colours = matplotlib.colormaps["tab10"]
    for index, (row, bar) in enumerate(rows):
        first = bar.holds[0]
        single = len(bar.holds) == 1
        colour: str | tuple[float, float, float, float]  # a name, or an RGBA from the colormap
        if bar.overlap:
            colour = OVERLAP_COLOUR
        else:
            colour = colours(clients.index(first.client) % 10) if single else "#9a9a9a"
        flagged = any(h.seq in offending for h in bar.holds)
        gid = f"hold-{index}"
        # add_artist, not barh: no per-bar data-limit update (several times faster); limits are set below.
        ax.add_artist(Rectangle((at(bar.start_ns), row - 0.35), max(at(bar.end_ns) - at(bar.start_ns), 0.0), 0.7,
                                facecolor=colour, edgecolor="#000" if flagged else colour,
                                linewidth=2.5 if flagged else 1.5 if bar.overlap else 0.3, gid=gid))
        css = "hold" + (" overlap" if bar.overlap else "") + (" offending" if flagged else "")
        if single:
            title = (f"{first.lock} held by {first.client}, token {first.token}, "
                     f"{at(first.start_ns):.6f}-{at(first.end_ns):.6f} s")
        else:
            holders = ", ".join(sorted({h.client for h in bar.holds}))
            title = (f"{len(bar.holds)} holds of {first.lock} by {holders}, "
                     f"{at(bar.start_ns):.6f}-{at(bar.end_ns):.6f} s")
        marks.add(gid, css, title, seq=first.seq, holds=len(bar.holds))


def draw_locks(data: ReportData) -> str | None:
    """Per lock, who held it when (Gantt); overlapping holds in red, counterexample holds outlined."""
    timeline = hold_windows(data.events)
    holds, pairs = timeline.windows, timeline.overlapping_pairs
    if not holds:
        return None
    offending = offending_seqs(data, LOCK_AREA)
    locks = sorted({h.lock for h in holds})
    clients = sorted({h.client for h in holds})
    at = _seconds(data.events)
    rows: list[tuple[int, HoldBar]] = []
    notes = []
    for row, lock in enumerate(locks):
        of_lock = [h for h in holds if h.lock == lock]
        bars = hold_bars(of_lock, MAX_BARS, offending)
        rows.extend((row, bar) for bar in bars)
        if len(bars) < len(of_lock):
            notes.append(f"<li>{html.escape(lock)}: {len(of_lock)} holds in {len(bars)} bars "
                         "(grey bars merge consecutive holds; hover for how many)</li>")
    fig, (ax,) = _figure(1, 1, 1.2 + 0.45 * len(locks))
    marks = _SvgMarks()
    _hold_bars(ax, rows, clients, at, marks, offending)
    _shade_faults((ax,), data.events, at, max(at(data.events[-1].mono_ns), 1e-6), marks)
    ax.set_xlim(0, max(at(data.events[-1].mono_ns), 1e-6))
    ax.set_ylim(len(locks) - 0.5, -0.5)
    ax.set_yticks(range(len(locks)), locks)
    ax.set_xlabel("time since start (s)")
    if pairs:
        ax.legend(handles=[Patch(color=OVERLAP_COLOUR, label="overlapping hold")], loc="upper right")
    elif ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)  # the injected faults' windows
    checker = None if data.locks is None else data.locks.overlaps
    overlapping = sum(h.overlap for h in holds)
    summary = (f"{len(holds)} holds of {len(locks)} locks by {len(clients)} clients; "
               f"{overlapping} overlapping holds ({pairs} overlapping pairs)"
               + ("" if checker is None else f"; the lock checker reports {checker} overlaps") + ". "
               "Colour = holder; black outline = named by a counterexample; hover a bar for holder and token.")
    return (f'<p class="caption" data-overlap-holds="{overlapping}" data-overlap-pairs="{pairs}" '
            f'data-holds="{len(holds)}">{html.escape(summary)}</p>{_svg(fig, marks)}'
            + (f'<ul class="caption">{"".join(notes)}</ul>' if notes else ""))


def draw_exposure(data: ReportData) -> str | None:
    """Global exposure ratio at every settle against the limit, breaker trips marked."""
    settles = [e for e in data.events if e.kind == RISK_SETTLE and "exposure_ratio" in e.payload]
    if not settles:
        return None
    at = _seconds(data.events)
    fig, (ax,) = _figure(1, 1, 3.4)
    xs = [at(e.mono_ns) for e in settles]
    ys = [_number(e.payload["exposure_ratio"]) for e in settles]
    ax.step(*downsample(xs, ys, MAX_POINTS), where="post", color="#4c72b0", label="gross exposure / equity")
    limit = run_info(data.events).max_gross_exposure
    if limit is not None:
        ax.axhline(float(limit), color=OVERLAP_COLOUR, linestyle="--", label=f"limit {limit}")
    marks = _SvgMarks()
    _shade_faults((ax,), data.events, at, max(at(data.events[-1].mono_ns), 1e-6), marks)
    for n, trip in enumerate(e for e in data.events if e.kind == RISK_TRIP):
        ax.axvline(at(trip.mono_ns), color="#8c564b", linewidth=1, label="breaker trip" if n == 0 else None,
                   gid=f"trip-{n}")
        marks.add(f"trip-{n}", "trip", f"breaker trip: {trip.symbol} {trip.payload.get('scope')} "
                  f"{trip.payload.get('reason')} {trip.payload.get('value')} >= {trip.payload.get('threshold')}")
        ax.annotate(f"{trip.symbol} {trip.payload.get('reason')}", (at(trip.mono_ns), 1), xycoords=("data", "axes fraction"),
                    rotation=90, va="top", fontsize=7)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("exposure ratio")
    ax.legend(loc="upper left", fontsize=8)
    return _svg(fig, marks)


def _windows(events: Sequence[Event], key: Callable[[Event], str], opens: Callable[[Event], bool],
             closes: Callable[[Event], bool]) -> list[tuple[str, int, int | None]]:
    """(key, opened at, closed at or None) of the spans that events open and close."""
    open_: dict[str, int] = {}
    windows: list[tuple[str, int, int | None]] = []
    for event in events:
        if opens(event):
            open_.setdefault(key(event), event.mono_ns)
        elif closes(event) and key(event) in open_:
            windows.append((key(event), open_.pop(key(event)), event.mono_ns))
    return windows + [(name, start, None) for name, start in open_.items()]


def fault_windows(events: Sequence[Event]) -> list[tuple[str, int, int | None]]:
    """(layer, down at, up at or None) from the failure policy's alerts (P0/P1 down, P2 up)."""
    return _windows(events, lambda e: str(e.payload.get("layer")),
                    lambda e: e.kind == "alert" and e.payload.get("level") in ("P0", "P1"),
                    lambda e: e.kind == "alert" and e.payload.get("level") == "P2")


def injected_faults(events: Sequence[Event]) -> list[tuple[str, int, int | None]]:
    """(what, injected at, healed at or None) from a nemesis's fault.inject / fault.heal events."""
    return _windows(events, lambda e: " of ".join(str(e.payload[k]) for k in ("row", "target") if e.payload.get(k)),
                    lambda e: e.kind == FAULT_INJECT, lambda e: e.kind == FAULT_HEAL)


def _stats_series(events: Sequence[Event], at: Callable[[int], float]) -> dict[str, list[tuple[float, float]]]:
    """Queue depth and per-layer written counts at each stats event (zero at persistence.start)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for event in events:
        if event.kind == PERSISTENCE_START:
            for layer in event.payload.get("layers", ()):
                series.setdefault(f"{layer} written", []).append((at(event.mono_ns), 0))
        elif event.kind == PERSISTENCE_STATS:
            depth = event.payload.get("queue_depth", event.payload.get("queue_high_water"))
            if depth is not None:
                series.setdefault("queue", []).append((at(event.mono_ns), depth))
            for layer, row in event.payload.get("layers", {}).items():
                series.setdefault(f"{layer} written", []).append((at(event.mono_ns), row.get("written", 0)))
    return series


def _shade_faults(axes: Sequence[Any], events: Sequence[Event], at: Callable[[int], float], end: float,
                  marks: _SvgMarks) -> None:
    """Shade each layer's down window (alert P0/P1 to its P2) and hatch each injected fault, on every axis."""
    down = fault_windows(events)
    layers = sorted({layer for layer, _, _ in down})
    shades = matplotlib.colormaps["Set2"]
    spans = [("fault", layer, start, stop, {"color": shades(layers.index(layer) % 8), "alpha": 0.4}, f"{layer} down")
             for layer, start, stop in down]
    spans += [("injected", row, start, stop, {"facecolor": "none", "edgecolor": "#555", "hatch": HATCHES[n % 4]},
               f"injected: {row}") for n, (row, start, stop) in enumerate(injected_faults(events))]
    labelled: set[str] = set()
    for n, (css_class, what, start, stop, style, label) in enumerate(spans):
        first = label not in labelled  # one legend entry per layer or fault, however often it recurs
        labelled.add(label)
        for k, ax in enumerate(axes):
            gid = f"{css_class}-{n}-{k}"
            ax.axvspan(at(start), end if stop is None else at(stop), label=label if k == 0 and first else None,
                       gid=gid, **style)
            marks.add(gid, css_class, f"{label} from {at(start):.3f} s"
                      + (" to the end" if stop is None else f" to {at(stop):.3f} s"), what=what)


def draw_persistence(data: ReportData) -> str | None:
    """Writer queue depth and per-layer persisted counts over time, faults shaded."""
    if not any(e.kind in PERSISTENCE_KINDS for e in data.events):
        return None
    at = _seconds(data.events)
    end = max(at(data.events[-1].mono_ns), 1e-6)
    fig, (queue_ax, layer_ax) = _figure(2, 1, 4.6)
    for name, points in _stats_series(data.events, at).items():
        ax = queue_ax if name == "queue" else layer_ax
        ax.step(*zip(*points, strict=False), where="post", marker="o", label="queue depth (high water)" if name == "queue" else name)
    marks = _SvgMarks()
    _shade_faults((queue_ax, layer_ax), data.events, at, end, marks)
    for event in (e for e in data.events if e.kind == "health"):
        queue_ax.annotate(str(event.payload.get("state")), (at(event.mono_ns), 1), xycoords=("data", "axes fraction"),
                          rotation=90, va="top", fontsize=7)
    queue_ax.set_ylabel("queue depth")
    layer_ax.set_ylabel("events persisted")
    layer_ax.set_xlabel("time since start (s)")
    layer_ax.set_xlim(0, end * 1.02)  # room for the final stats markers
    for ax in (queue_ax, layer_ax):
        ax.set_ylim(bottom=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # beside: spans fill the plot
    return _svg(fig, marks)


PANELS = (
    Panel("panel-pnl", "Equity: cumulative realised PnL per symbol", TRADE_CLOSED, draw_pnl),
    Panel("panel-latency", "Latency: order and lock acquire", "order.submit/risk.settle or lock.invoke/lock.ok",
          draw_latency, "request matched with its answer"),
    Panel("panel-locks", "Lock timeline", "lock.invoke/lock.ok", draw_locks, "complete hold (a grant with its release)"),
    Panel("panel-exposure", "Global exposure against the limit", RISK_SETTLE, draw_exposure,
          "exposure_ratio (run.start gives no equity)"),
    Panel("panel-persistence", "Persistence: queue depth, persisted counts, faults", "alert, health, fault.inject or persistence.*",
          draw_persistence),
)


# -- the page -----------------------------------------------------------------------------


def verdict_table(data: ReportData) -> str:
    """The verdict table: one row per gate with its status and judged facts."""
    rows = []
    for gate in data.gates:
        facts = "".join(f'<li class="{"ok" if line.ok else "bad"}">{"✓" if line.ok else "✗"} {html.escape(line.text)}</li>'
                        for line in gate.lines)
        rows.append(f'<tr class="gate {gate.status}" data-gate="{html.escape(gate.name)}"><td>{html.escape(gate.name)}</td>'
                    f'<td>{html.escape(gate.area)}</td><td class="status">{gate.status}</td>'
                    f'<td><ul class="facts">{facts}</ul></td></tr>')
    return ('<table id="verdict-table"><thead><tr><th>gate</th><th>area</th><th>status</th><th>facts</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


MAX_COUNTEREXAMPLES = 50
# Which panel shows an area's defects (areas are named as their checkers name them).
AREA_PANELS = {LOCK_AREA: "panel-locks", "Risk Management": "panel-exposure", PERF_AREA: "panel-latency",
               "MetricsAggregator Accuracy": "panel-pnl"}


def reproduce_section(data: ReportData) -> str:
    """The exact command that reruns this run (seed, size, overrides, plug-ins)."""
    if not data.command:
        return ""
    return (f'<section id="reproduce"><h2>Reproduce</h2><pre><code id="reproduce-command">'
            f"{html.escape(data.command)}</code></pre></section>")


def _cell(value: Any) -> str:
    if isinstance(value, Mapping) and {"seq", "kind"} <= value.keys():
        # A recorded event: what a person needs to find it, the rest is in events.jsonl.
        payload = value.get("payload") or {}
        names = payload.get("names") or payload.get("name") or ""
        return html.escape(f"#{value['seq']} {value['kind']} by {value.get('worker')} {_short(names)}".rstrip())
    return html.escape(_short(value))


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (Mapping, list, tuple)) else str(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _violation_table(area: str, check: str, items: Sequence[Any]) -> str:
    shown = list(items[:MAX_COUNTEREXAMPLES])
    columns: list[str] = []
    for item in shown:
        for key in item if isinstance(item, Mapping) else ("value",):
            if key not in columns:
                columns.append(str(key))
    panel = AREA_PANELS.get(area)
    rows = []
    for item in shown:
        row = item if isinstance(item, Mapping) else {"value": item}
        seqs = " ".join(str(seq) for seq in sorted(seqs_in(row)))
        link = f'<td><a href="#{panel}">view</a></td>' if panel else "<td></td>"
        rows.append(f'<tr class="counterexample" data-seqs="{seqs}">{link}'
                    + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>")
    more = len(items) - len(shown)
    note = f'<p class="caption">{more} more not shown (all in evidence.json)</p>' if more > 0 else ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return (f'<h3 data-area="{html.escape(area)}" data-check="{html.escape(check)}">{html.escape(area)}: '
            f"{html.escape(check)} ({len(items)})</h3><table class='counterexamples'><thead><tr><th></th>{head}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{note}")


def counterexample_section(data: ReportData) -> str:
    """Every defect a checker found, with the offending events, for each area that failed."""
    failed = {g.area for g in data.gates if g.status != "PASS"}
    tables = [_violation_table(area, check, items)
              for area, checks in data.violations.items() if area in failed
              for check, items in checks.items() if items]
    if not tables:
        return ""
    return f'<section id="counterexamples"><h2>Counterexamples</h2>{"".join(tables)}</section>'


def settings_section(data: ReportData) -> str:
    """The configuration the run used, one row per setting (collapsed)."""
    if not data.settings:
        return ""
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_cell(v)}</td></tr>" for k, v in data.settings.items())
    return (f'<details id="configuration"><summary>Configuration ({len(data.settings)} settings)</summary>'
            f"<table><tbody>{rows}</tbody></table></details>")


def _scoped(body: str, prefix: str) -> str:
    """Prefix every id (and reference to one) of a panel, so ids stay unique across the page's SVGs."""
    body = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', body)
    return re.sub(r'(url\(#|href="#)([^)"]+)', rf"\1{prefix}-\2", body)


def render(data: ReportData) -> str:
    """The whole page as one HTML string (no external resources)."""
    sections, skipped = [], []
    kinds = {e.kind for e in data.events}
    for panel in PANELS:
        body = panel.draw(data)
        if body is None:
            skipped.append(f'<li data-panel="{panel.id}">{html.escape(panel.title)}: '
                           f"{html.escape(panel.skip_note(kinds))}</li>")
        else:
            sections.append(f'<section class="panel" id="{panel.id}"><h2>{html.escape(panel.title)}</h2>'
                            f"{_scoped(body, panel.id)}</section>")
    notes = f'<ul id="skipped-panels" class="skipped">{"".join(skipped)}</ul>' if skipped else ""
    title = f"{data.title} {data.status}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{PAGE_STYLE}</style></head><body>"
            f'<h1 id="verdict" class="{data.status.replace(" ", "_")}">{html.escape(data.title)}: '
            f'<span class="status">{data.status}</span></h1>'
            f"<p class=\"caption\">run {html.escape(data.run_id)}, {len(data.events)} events</p>"
            f"{verdict_table(data)}{reproduce_section(data)}{counterexample_section(data)}{settings_section(data)}"
            f"{notes}{''.join(sections)}</body></html>\n")


def write_html(data: ReportData, path: Path) -> Path:
    """Write the page to ``path`` and return it."""
    path.write_text(render(data), encoding="utf-8")
    return path


def default_target(path: Path) -> Path:
    """Where a rebuilt report goes: report.html for a run (its directory or its events.jsonl), else
    ``<history>.report.html`` beside the file -- two histories in one folder never share a report."""
    if path.is_dir():
        return path / REPORT_NAME
    stem = Path(path.name.removesuffix(".gz")).stem
    return path.parent / (REPORT_NAME if stem == "events" else f"{stem}.{REPORT_NAME}")


def rebuild(path: Path, out: Path | None = None) -> Path:
    """(Re)build report.html from a saved run directory or history; written into it or beside the file."""
    data = from_saved(path)
    target = out or default_target(path)
    try:
        return write_html(data, target)
    except OSError as exc:
        raise HistoryError(f"{target}: cannot write the report: {exc.strerror or exc}") from None
