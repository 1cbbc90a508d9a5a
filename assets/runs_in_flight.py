"""Whether a job already has a run waiting or running, for sensors that should not stack runs.

A sensor that requests a run every tick while the last one still waits for a slot builds a queue
that only grows on a busy machine. The sensors that follow the chain head instead let the next run
take everything that arrived meanwhile (its cursor stays put), so work is batched under load.
"""

from __future__ import annotations

import dagster as dg

#: Run states that hold, or wait for, a run slot.
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]  # fmt: skip


def in_flight(instance: dg.DagsterInstance, job_name: str) -> bool:
    """A run of `job_name` is queued, starting or running."""
    return bool(instance.get_run_ids(dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT), limit=1))
