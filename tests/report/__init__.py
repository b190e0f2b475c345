"""Tests of report.html; ``Page`` reads back the elements a test looks for."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from harness.cli.main import main

PANEL_IDS = ("panel-pnl", "panel-latency", "panel-locks", "panel-exposure", "panel-persistence")


def real_run(out: Path) -> Path:
    """Run a default-sized 3-symbol multi_symbol_stress through the CLI into ``out``; return ``out``."""
    assert main(["run", "multi_symbol_stress", "--out", str(out)]) == 0
    return out


class Page(HTMLParser):
    """Every start tag of an HTML page with its attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def ids(self) -> set[str]:
        """Every element id."""
        return {attrs["id"] for _, attrs in self.tags if "id" in attrs}

    def with_class(self, *names: str) -> list[dict[str, str]]:
        """Attributes of the elements carrying every one of the CSS classes ``names``."""
        return [attrs for _, attrs in self.tags if set(names) <= set(attrs.get("class", "").split())]

    def gate_rows(self) -> dict[str, str]:
        """Gate name -> status class of each verdict-table row."""
        return {attrs["data-gate"]: attrs["class"].split()[1] for _, attrs in self.tags if "data-gate" in attrs}

    def skipped(self) -> set[str]:
        """Panel ids the page says it skipped for lack of data."""
        return {attrs["data-panel"] for _, attrs in self.tags if "data-panel" in attrs}
