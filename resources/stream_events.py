"""The durable log behind the live stream: the warehouse table `stream_events`.

Assets append facts with `append_events`; the API reads what follows a cursor with `read_after` and
prunes what is older than the retention window with `prune`. `seq` is dense and commits in order:
each append takes max(seq) + 1 inside its transaction (on PostgreSQL under a transaction-scoped
advisory lock; two writers that still meet collide on the primary key and the loser retries), so a
reader that has seen seq N and reads seq > N never skips a row that commits later. A database
sequence would not give that: sequence values are handed out at insert and may commit out of order.
Pruning always keeps the newest row, so max(seq) never goes back and a cursor never means two events.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ops.stream.events import StreamEvent, validate
from resources.tables import STREAM_EVENTS
from resources.warehouse import Warehouse

log = logging.getLogger("resources.stream_events")

#: The advisory lock key appends take on PostgreSQL (any constant; "sxtstrm" in ASCII).
_PG_LOCK_KEY = 0x737874737472
_ATTEMPTS = 30


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    topic: str
    key: str
    client_id: str | None
    payload: str
    created_at: datetime  # UTC-aware

    def visible_to(self, client_id: str | None) -> bool:
        return self.client_id is None or self.client_id == client_id


def append_events(warehouse: Warehouse, events: Iterable[StreamEvent]) -> list[int]:
    """Store `events` (validated; InvalidEvent otherwise) in one transaction; their seqs, in order."""
    checked = [validate(event) for event in events]
    if not checked:
        return []
    table = warehouse.ensure_table(STREAM_EVENTS)
    payloads = [event.payload() for event in checked]
    for attempt in range(_ATTEMPTS):
        try:
            with warehouse.engine.begin() as conn:
                if warehouse.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                last = conn.execute(sa.select(sa.func.max(table.c.seq))).scalar_one() or 0
                now = datetime.now(UTC).replace(tzinfo=None)
                rows = [
                    {"seq": last + i, "topic": e.topic, "key": e.key, "client_id": e.client_id, "payload": p,
                     "created_at": now}
                    for i, (e, p) in enumerate(zip(checked, payloads, strict=True), start=1)
                ]
                conn.execute(sa.insert(table), rows)
            return [row["seq"] for row in rows]
        except (sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
            # Another writer took the same seq (primary key) or held SQLite's write lock past its timeout.
            if attempt == _ATTEMPTS - 1:
                raise
            log.debug("stream append collided (%s); retrying", exc.__class__.__name__)
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")


def _row(row: Sequence) -> StoredEvent:
    seq, topic, key, client_id, payload, created_at = row
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return StoredEvent(int(seq), topic, key, client_id, payload, created_at)


def read_after(
    warehouse: Warehouse,
    after: int,
    *,
    upto: int | None = None,
    topics: Iterable[str] | None = None,
    client_id: str | None = None,
    any_client: bool = False,
    limit: int = 500,
) -> list[StoredEvent]:
    """Events with after < seq (<= upto), in seq order, at most `limit`.

    `topics` filters by topic; the events of other clients are left out unless `any_client` (the
    fan-out reads every event and filters per connection).
    """
    table = warehouse.ensure_table(STREAM_EVENTS)  # created when missing; a cached lookup afterwards
    query = sa.select(table.c.seq, table.c.topic, table.c.key, table.c.client_id, table.c.payload,
                      table.c.created_at).where(table.c.seq > after)  # fmt: skip
    if upto is not None:
        query = query.where(table.c.seq <= upto)
    if topics is not None:
        query = query.where(table.c.topic.in_(list(topics)))
    if not any_client:
        query = query.where(sa.or_(table.c.client_id.is_(None), table.c.client_id == client_id))
    query = query.order_by(table.c.seq).limit(limit)
    with warehouse.engine.connect() as conn:
        return [_row(row) for row in conn.execute(query).all()]


def bounds(warehouse: Warehouse) -> tuple[int, int]:
    """(oldest seq kept, newest seq); (0, 0) while nothing was ever appended."""
    table = warehouse.ensure_table(STREAM_EVENTS)
    with warehouse.engine.connect() as conn:
        low, high = conn.execute(sa.select(sa.func.min(table.c.seq), sa.func.max(table.c.seq))).one()
    return int(low or 0), int(high or 0)


def prune(warehouse: Warehouse, retention_seconds: float, *, now: datetime | None = None) -> int:
    """Delete events older than the retention window, always keeping the newest; rows deleted."""
    table = warehouse.ensure_table(STREAM_EVENTS)
    cutoff = ((now or datetime.now(UTC)) - timedelta(seconds=retention_seconds)).astimezone(UTC).replace(tzinfo=None)
    newest = sa.select(sa.func.max(table.c.seq)).scalar_subquery()
    with warehouse.engine.begin() as conn:
        return conn.execute(sa.delete(table).where(table.c.created_at < cutoff, table.c.seq < newest)).rowcount


__all__ = ["StoredEvent", "append_events", "bounds", "prune", "read_after"]
