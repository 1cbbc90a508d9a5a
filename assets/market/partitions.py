"""Market partitions: one per UTC day and symbol.

Symbols are dynamic (a landing file may bring a new one); days run from `MARKET_START_DATE` to
today (end_offset=1 keeps today's growing day a partition). The start is the first day of the data
a deployment holds, so the UI's "filled" share tells how much of it is materialized: by default
Bitcoin's first exchange price (2010-07-17), and `sextant up` pins it in a new home to the first day
it materializes. Runs usually cover a whole range of days for one symbol, so a file spanning years
is one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg

from resources.settings import get_settings

SYMBOLS = dg.DynamicPartitionsDefinition(name="market_symbols")
#: Read once, at import: every Dagster process of a deployment must see the same partitions.
DAYS = dg.DailyPartitionsDefinition(start_date=get_settings().market_start_date, end_offset=1)
MARKET_PARTITIONS = dg.MultiPartitionsDefinition({"date": DAYS, "symbol": SYMBOLS})


def partition_key(day: date | str, symbol: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": str(day), "symbol": symbol})


def range_tags(symbol: str, first_day: date | str, last_day: date | str) -> dict[str, str]:
    """Run tags that make one run cover days [first_day, last_day] of one symbol."""
    return {
        "dagster/asset_partition_range_start": str(partition_key(first_day, symbol)),
        "dagster/asset_partition_range_end": str(partition_key(last_day, symbol)),
    }


@dataclass(frozen=True)
class MarketSlice:
    """The days and symbols a run covers; open-ended at the partitions' own first and last day."""

    symbols: tuple[str, ...]
    first_day: date
    last_day: date
    open_start: bool
    open_end: bool

    @property
    def query_first_day(self) -> date | None:
        return None if self.open_start else self.first_day

    @property
    def query_last_day(self) -> date | None:
        return None if self.open_end else self.last_day

    @property
    def label(self) -> str:
        days = str(self.first_day) if self.first_day == self.last_day else f"{self.first_day}..{self.last_day}"
        return f"{','.join(self.symbols)} {days}"


def market_slice(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> MarketSlice:
    """What the current run covers, from its partition key range.

    The first and last partitions are open on their outer side, so a bar dated before the first
    day or after today (a clock error in a file) still reaches the cleaner and its rejects.
    """
    keys = [MARKET_PARTITIONS.get_partition_key_from_str(k) for k in context.partition_keys]
    days = sorted({k.keys_by_dimension["date"] for k in keys})
    symbols = tuple(sorted({k.keys_by_dimension["symbol"] for k in keys}))
    return MarketSlice(
        symbols=symbols,
        first_day=date.fromisoformat(days[0]),
        last_day=date.fromisoformat(days[-1]),
        open_start=days[0] == DAYS.get_first_partition_key(),
        open_end=days[-1] == DAYS.get_last_partition_key(),
    )
