"""Reports of a judged run: VERIFY_LOG.txt, PHYSICAL_EVIDENCE.md, evidence.json, logs."""

from harness.report.writer import ARTEFACTS, write_reports

__all__ = ["ARTEFACTS", "write_reports"]
