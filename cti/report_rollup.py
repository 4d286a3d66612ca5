"""Report blocks: finished interactions folded into columns (cti/report_facts.py), and the reading
of facts for a report.

One node (a leased runner) folds finished interactions (ended or abandoned: nothing about them
changes any more) every ``[reports] rollup_seconds``: in one transaction it takes the next
*generation* number, appends each interaction to the block of its UTC day, channel, queue, agent
and direction, and marks the row ``rolled_gen``. A report reads the newest generation G first,
then the interactions not rolled by G (the open ones and the few finished since) from their rows,
then the blocks of the range's days, keeping only elements of generations up to G. Each statement
sees its own snapshot, and a fold that commits in between has a generation above G: its rows are
read as rows and its elements skipped, so nothing is counted twice or missed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import sqlalchemy as sa

from cti import models
from cti.report_engine import Key, Labeled
from cti.report_facts import FINISHED_STATES, ROW_COLUMNS, BlockKey, Facts, decode, encode, from_rows
from cti.storage.db import Database, Tx

log = logging.getLogger(__name__)
I, B = models.interactions, models.report_blocks
DAY = 86400
BATCH = 2000


def load(conn: Any, start: float, end: float) -> Labeled:
    """Every interaction that began in [start, end), as labelled facts."""
    newest = conn.execute(sa.select(sa.func.max(B.c.gen))).scalar() or 0
    rows = conn.execute(sa.select(*(I.c[c] for c in ROW_COLUMNS)).where(
        I.c.created_at >= start, I.c.created_at < end,
        sa.or_(I.c.rolled_gen.is_(None), I.c.rolled_gen > newest))).all()
    blocks = conn.execute(sa.select(B.c.channel, B.c.queue, B.c.agent_id, B.c.count.label("n"), B.c.data).where(
        B.c.day >= int(start // DAY), B.c.day <= int(end // DAY))).all()
    keys: dict[Key, int] = {}
    parts: list[Facts] = []
    indexes: list[np.ndarray] = []
    for block in blocks:
        facts = decode(block.data, block.n)
        keep = (facts.created >= start) & (facts.created < end) & (facts.gen <= newest)
        if keep.any():
            parts.append(facts.take(keep))
            code = keys.setdefault((block.channel, block.queue, block.agent_id), len(keys))
            indexes.append(np.full(int(keep.sum()), code, np.int32))
    if rows:
        parts.append(from_rows(rows))
        indexes.append(np.array([keys.setdefault((r.channel, r.queue, r.agent_id), len(keys)) for r in rows],
                                np.int32))
    return Labeled(facts=Facts.join(parts), keys=list(keys),
                   key_index=np.concatenate(indexes) if indexes else np.zeros(0, np.int32))


def roll(tx: Tx, batch: int = BATCH) -> int:
    """Fold up to ``batch`` finished interactions into their blocks; how many were folded."""
    rows = tx.conn.execute(sa.select(*(I.c[c] for c in ROW_COLUMNS)).where(
        I.c.rolled_gen.is_(None), I.c.state.in_(FINISHED_STATES)).order_by(I.c.created_at).limit(batch)).all()
    if not rows:
        return 0
    gen = (tx.conn.execute(sa.select(sa.func.max(B.c.gen))).scalar() or 0) + 1
    by_block: dict[BlockKey, list[Any]] = {}
    for row in rows:
        key = BlockKey(int(row.created_at // DAY), row.channel, row.queue, row.agent_id, row.direction)
        by_block.setdefault(key, []).append(row)
    for key, members in by_block.items():
        added = from_rows(members, gen)
        found = tx.conn.execute(sa.select(B.c.count.label("n"), B.c.data).where(B.c.id == key.id)).first()
        if found is None:
            tx.conn.execute(B.insert().values(id=key.id, day=key.day, channel=key.channel, queue=key.queue,
                                              agent_id=key.agent_id, direction=key.direction, gen=gen,
                                              count=len(members), data=encode(added)))
        else:
            joined = Facts.join([decode(found.data, found.n), added])
            tx.conn.execute(B.update().where(B.c.id == key.id).values(gen=gen, count=len(joined),
                                                                      data=encode(joined)))
    ids = [row.id for row in rows]
    for at in range(0, len(ids), 500):
        tx.conn.execute(I.update().where(I.c.id.in_(ids[at:at + 500])).values(rolled_gen=gen))
    return len(rows)


class ReportRollup:
    """Folds finished interactions every ``every`` seconds (all that wait, a batch at a time)."""

    def __init__(self, db: Database, every: float) -> None:
        self.db, self.every = db, every

    async def run(self) -> None:
        while True:
            try:
                while await self.db.write(roll) == BATCH:
                    pass
            except Exception:  # a busy database: fold them next time
                log.exception("folding interactions into report blocks failed")
            await asyncio.sleep(self.every)
