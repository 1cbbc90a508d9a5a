"""Which finished Dagster runs an instance may forget (pure; no Dagster, no I/O).

Deleting a run deletes its event-log records too, which is what keeps the event log from growing
without end. Two kinds of run are never chosen: runs still going (no end time), and runs that hold
the latest materialization of some asset, whose deletion would make the asset look never
materialized to the UI and to the automation that decides what to run next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    #: When the run ended (UTC-aware); None while it is queued or running.
    end_time: datetime | None


def runs_to_purge(runs: Iterable[RunRecord], cutoff: datetime, keep: Iterable[str] = ()) -> list[str]:
    """Ids of the runs that ended before `cutoff` and are not in `keep`, oldest first."""
    kept = set(keep)
    old = [r for r in runs if r.end_time is not None and r.end_time < cutoff and r.run_id not in kept]
    return [r.run_id for r in sorted(old, key=lambda r: r.end_time)]
