"""FeedPort: a deterministic zig-zag in whole ticks around the symbol's level.

    harness run multi_symbol_stress --feed harness.examples.ports.feed:zigzag
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.system.model import SymbolSpec, Tick


def zigzag(spec: SymbolSpec, seed: int) -> Iterator[Tick]:
    """Up ``1 + seed % 5`` ticks per step for 20 steps, then down, forever; every price is on the tick."""
    step = spec.tick * (1 + seed % 5)
    index = 0
    while True:
        leg = (index // 20) % 2
        offset = (index % 20) if leg == 0 else 20 - index % 20
        yield Tick(spec.name, index, spec.price + step * (offset - 10))
        index += 1
