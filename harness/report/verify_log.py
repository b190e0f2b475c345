"""VERIFY_LOG.txt and PHYSICAL_EVIDENCE.md in the layout of the seed's verify log.

Every figure on a line comes from the gates (which read the evidence); nothing here is a
literal but the layout itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness._version import __version__
from harness.judge.checks.delivery import check_delivery, delivery_lines
from harness.judge.gates import GateResult
from harness.run.scenario import Verdict

RULE = "=" * 80
TEXT_BLOCKS = ("timeline",)  # counterexamples of rows ({"row": text}) shown as text under their gate's lines


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def _banner(title: str) -> list[str]:
    return [RULE, title, RULE]


def verify_log(verdict: Verdict, artefacts: Sequence[str]) -> str:
    """The text of VERIFY_LOG.txt."""
    scenario = verdict.scenario
    run = verdict.config.run
    lines = _banner(f"{scenario.name.upper()} VERIFICATION LOG - {scenario.title}")
    lines += [
        f"Execution Date: {verdict.started}",
        f"Harness: v{__version__}",
        f"Run: {verdict.run_id} (seed {run.seed}, mode {run.mode.value}, symbols {', '.join(run.symbol_names)})",
        *(["Plug-ins: " + " ".join(f"--{port} {path}" for port, path in verdict.plugins.items())]
          if verdict.plugins else []),
        f"Status: {_mark(verdict.passed)} {verdict.status}",
        *_delivery(verdict),
        *([] if verdict.interruption is None else [f"Run: ❌ {verdict.interruption}"]),
        "",
    ]
    lines += _banner("VERIFICATION RESULTS") + [""]
    for gate in verdict.gates:
        lines.append(f"[PHYSICAL_EVIDENCE] {gate.area}" + ("" if gate.applicable else " -- N/A"))
        lines += [f"  {_mark(line.ok)} {line.text}" for line in gate.lines]
        lines += [f"    {item.get('row', '')}" for name in TEXT_BLOCKS for item in gate.counterexamples.get(name, ())]
        lines.append("")
    lines.append(f"[UnifiedGate] {scenario.name.upper()} {verdict.status}")
    failed = [g.area for g in verdict.gates if not g.passed]
    judged = [g for g in verdict.gates if g.applicable]
    not_applicable = [g.area for g in verdict.gates if not g.applicable]
    vacuous = [g.area for g in verdict.gates if g.vacuous]
    lines.append(
        f"[PHYSICAL_EVIDENCE] {len(judged) - len(failed)}/{len(judged)} gates passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; not applicable: {', '.join(not_applicable)}" if not_applicable else "")
        + (f"; nothing to judge: {', '.join(vacuous)}" if vacuous else "")
    )
    lines.append("")
    lines += _banner("ARTIFACTS GENERATED") + [""]
    lines += [f"✅ {name}" for name in artefacts]
    if not verdict.passed:
        lines += ["", _banner("REPRODUCE")[0], f"Reproduce: {verdict.command}", RULE]
    return "\n".join(lines) + "\n"


def _delivery(verdict: Verdict) -> list[str]:
    """The ask and what the run did not deliver (nothing for a history without run.start)."""
    delivery = check_delivery(verdict.events)
    return [] if delivery is None else delivery_lines(delivery)


def physical_evidence(verdict: Verdict) -> str:
    """The text of PHYSICAL_EVIDENCE.md: every gate's lines and its counterexamples."""
    out = [f"# Physical evidence: {verdict.scenario.title}", "",
           f"- Run: `{verdict.run_id}`", f"- Status: **{verdict.status}**",
           *([] if verdict.interruption is None else [f"- {verdict.interruption}"]),
           f"- Reproduce: `{verdict.command}`", ""]
    for gate in verdict.gates:
        out += _gate_section(gate)
    return "\n".join(out) + "\n"


def _gate_section(gate: GateResult) -> list[str]:
    out = [f"## {gate.area} — {gate.status}", ""]
    out += [f"- {_mark(line.ok)} {line.text}" for line in gate.lines]
    for name, items in gate.counterexamples.items():
        out += ["", f"### Counterexample: {name}", "", "```json"]
        out += [_json(item) for item in items]
        out += ["```"]
    out.append("")
    return out


def _json(item: object) -> str:
    import json

    return json.dumps(item, default=str, ensure_ascii=False)
