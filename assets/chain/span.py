"""The indexed span of the chain tables and its holes, read from the warehouse.

One place answers "which blocks between the first range and the newest stored block are missing?"
for the whole-span check, the healing sensor's report and `sextant chain status`. Count, min and
max come first; the block numbers are read only when the count says something is missing.
"""

from dataclasses import dataclass

from ops.chain.ranges import BlockRange, missing_spans
from resources.tables import CHAIN_BLOCKS
from resources.warehouse import Warehouse


@dataclass(frozen=True)
class IndexedSpan:
    """Blocks ``start..end`` are the indexed span: from the first known range to the newest stored block."""

    start: int
    end: int
    stored: int
    gaps: tuple[BlockRange, ...]

    @property
    def missing(self) -> int:
        return sum(g.size for g in self.gaps)


def indexed_span(db: Warehouse, known: list[BlockRange]) -> IndexedSpan | None:
    """The span and its gaps; None while nothing is stored."""
    if not db.has_table(CHAIN_BLOCKS.name):
        return None
    stats = db.aggregate(CHAIN_BLOCKS.name, stored=("count", "number"), low=("min", "number"), high=("max", "number"))
    if not stats["stored"]:
        return None
    start = min([stats["low"], *(r.start for r in known)])
    end = stats["high"]
    if stats["stored"] == end - start + 1:
        return IndexedSpan(start, end, stats["stored"], ())
    numbers = db.read(CHAIN_BLOCKS.name, columns=["number"], order_by=["number"])["number"].to_list()
    return IndexedSpan(start, end, stats["stored"], tuple(missing_spans(numbers, start, end)))
