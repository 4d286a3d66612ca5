"""``sla.breached``: told once per interaction, as soon as it has waited past its channel's
service-level threshold (``[reports] sla_seconds``; the same definition as the reports').

One node looks (a leased runner) every second at the interactions still open and not yet told:
a call or chat not answered within the threshold of entering the queue, a written message not
answered within the threshold of arriving (its first response). The row's ``sla_breached_at``
is set in the transaction that emits the event, and only if it was still empty, so two nodes
(a lease handed over mid-look) or a restart never tell twice. A wait that ends past the
threshold between two looks (answered late) is still told: the look also takes interactions
answered in the last minute. Only open interactions are read (the state index), so a look costs
the same with a million closed ones; a caller who hangs up within the second between crossing
the threshold and the next look is not told (the reports count that wait as a miss all the same).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.events import Event, EventType
from cti.report_engine import MetricRules
from cti.storage.db import Database, Tx

log = logging.getLogger(__name__)
I = models.interactions
OPEN_STATES = ("queued", "offered", "active", "held", "wrapup")
LOOK_EVERY_SECONDS = 1.0
RECENT_SECONDS = 60.0  # waits that ended this recently are still looked at
BATCH = 500


def breached(rules: MetricRules, channels: list[str], now: float, state: str) -> Any:
    """Interactions that waited (or still wait) past the threshold and have not been told
    (``channels``: every channel name known; any other counts as a chat, the routing default)."""
    written = [c for c in channels if not rules.answered(c)]
    answered = I.c.channel.not_in(written) if written else sa.true()
    threshold = sa.case({c: rules.threshold(c) for c in channels}, value=I.c.channel,
                        else_=rules.threshold("\x00unknown"))
    call_wait = sa.func.coalesce(I.c.accepted_at, I.c.ended_at, now) - I.c.queued_at
    written_wait = sa.func.coalesce(I.c.first_response_at, I.c.ended_at, now) - I.c.created_at
    recent = now - RECENT_SECONDS
    # (one state at a time: with table statistics SQLite judges "state IN (...)" unselective and scans)
    return sa.and_(I.c.state == state, I.c.sla_breached_at.is_(None), I.c.queued_at.is_not(None),
                   sa.case((answered, call_wait), else_=written_wait) > threshold,
                   sa.or_(~answered, I.c.accepted_at.is_(None), I.c.accepted_at >= recent),
                   sa.or_(answered, I.c.first_response_at.is_(None), I.c.first_response_at >= recent))


def tell(tx: Tx, rows: Sequence[Any], rules: MetricRules) -> int:
    """Mark each row breached (if no one did) and emit its sla.breached; how many were told."""
    told = 0
    for row in rows:
        done = tx.conn.execute(sa.update(I).where(I.c.id == row.id, I.c.sla_breached_at.is_(None))
                               .values(sla_breached_at=tx.now))
        if not done.rowcount:
            continue
        written = not rules.answered(row.channel)
        start = row.created_at if written else row.queued_at
        end = (row.first_response_at if written else row.accepted_at) or row.ended_at or tx.now
        tx.emit(Event.make(EventType.SLA_BREACHED, case_id=row.case_id, interaction_id=row.id,
                           agent_id=row.agent_id, queue=row.queue,
                           data={"channel": row.channel, "threshold_seconds": rules.threshold(row.channel),
                                 "waited_seconds": round(end - start, 3), "state": row.state}))
        told += 1
    return told


class SlaWatch:
    """Looks for breaches every second; ``rules`` gives the definitions in force (they can change live)
    and the channels known."""

    def __init__(self, db: Database, rules: Callable[[], tuple[MetricRules, list[str]]],
                 every: float = LOOK_EVERY_SECONDS) -> None:
        self.db, self.rules, self.every = db, rules, every

    async def look(self, now: float | None = None) -> int:
        (rules, channels), now = self.rules(), time.time() if now is None else now
        columns = (I.c.id, I.c.case_id, I.c.agent_id, I.c.queue, I.c.channel, I.c.state, I.c.created_at,
                   I.c.queued_at, I.c.accepted_at, I.c.first_response_at, I.c.ended_at)
        queries = [sa.select(*columns).where(breached(rules, channels, now, state)).limit(BATCH)
                   for state in OPEN_STATES]
        rows = await self.db.read(lambda conn: [row for query in queries for row in conn.execute(query).all()])
        return await self.db.write(lambda tx: tell(tx, rows, rules)) if rows else 0

    async def run(self) -> None:
        while True:
            try:
                await self.look()
            except Exception:  # a busy database: look again next time
                log.exception("looking for SLA breaches failed")
            await asyncio.sleep(self.every)
