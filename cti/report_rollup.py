"""Report blocks: finished interactions folded into columns (cti/report_facts.py), and the reading
of facts for a report.

One node (a leased runner) folds finished interactions (ended or abandoned: nothing about them
changes any more) every ``[reports] rollup_seconds``: in one transaction it takes the next
*generation* number, appends each interaction to the block of the UTC day it began on (a block
keeps its channels, queues, agents and directions in a small codebook its elements point into),
and marks the row ``rolled_gen``. A report reads the newest generation G first,
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
from cti.report_facts import COMPONENTS, FINISHED_STATES, ROW_COLUMNS, Codebook, Facts, decode, encode, from_rows
from cti.storage.db import Database, Tx

log = logging.getLogger(__name__)
I, B = models.interactions, models.report_blocks
DAY = 86400
BATCH = 2000


def load(conn: Any, start: float, end: float) -> Labeled:
    """Every interaction that began in [start, end), as labelled facts."""
    newest = conn.execute(sa.select(sa.func.max(B.c.gen))).scalar() or 0
    columns = [I.c[c] for c in ROW_COLUMNS]
    # Two reads, each on the (rolled_gen, created_at) index: the rows not rolled yet, and the few
    # rolled after ``newest`` (a fold committing meanwhile). One OR would scan the whole range.
    rows = conn.execute(sa.select(*columns).where(I.c.rolled_gen.is_(None), I.c.created_at >= start,
                                                  I.c.created_at < end)).all()
    rows += [r for r in conn.execute(sa.select(*columns).where(I.c.rolled_gen > newest)).all()
             if start <= r.created_at < end]
    blocks = conn.execute(sa.select(B.c.count.label("n"), B.c["keys"].label("book"), B.c.data).where(
        B.c.day >= int(start // DAY), B.c.day <= int(end // DAY))).all()
    book = Codebook()
    parts: list[Facts] = []
    for block in blocks:
        facts = decode(block.data, block.n)
        if not (facts.created[0] >= start and facts.created[-1] < end and block.n and facts.gen.max() <= newest):
            facts = facts.take((facts.created >= start) & (facts.created < end) & (facts.gen <= newest))
        if not len(facts):
            continue
        for component in COMPONENTS:  # the block's codes -> this report's codes
            to_here = np.array([book.code(component, v) for v in block.book.get(component, [])], np.int32)
            setattr(facts, component, to_here[getattr(facts, component)])
        parts.append(facts)
    if rows:
        parts.append(from_rows(rows, book))
    return labeled(Facts.join(parts), book)


def labeled(facts: Facts, book: Codebook) -> Labeled:
    """Each element's (channel, queue, agent, direction) as one key index."""
    sizes = [max(len(book.values[c]), 1) for c in COMPONENTS]
    combined = np.zeros(len(facts), np.int64)
    for component, size in zip(COMPONENTS, sizes, strict=True):
        combined = combined * size + getattr(facts, component)
    found, index = np.unique(combined, return_inverse=True)
    values = [book.listed(c) for c in COMPONENTS]
    keys: list[Key] = []
    for number in found.tolist():
        parts = []
        for size in reversed(sizes):
            number, code = divmod(number, size)
            parts.append(code)
        channel, queue, agent, direction = (values[k][code] for k, code in enumerate(reversed(parts)))
        keys.append((channel or "", queue, agent, direction or ""))
    return Labeled(facts=facts, key_index=index.astype(np.int32), keys=keys)


def roll(tx: Tx, batch: int = BATCH) -> int:
    """Fold up to ``batch`` finished interactions into their days' blocks; how many were folded."""
    rows = tx.conn.execute(sa.select(*(I.c[c] for c in ROW_COLUMNS)).where(
        I.c.rolled_gen.is_(None), I.c.state.in_(FINISHED_STATES)).order_by(I.c.created_at).limit(batch)).all()
    if not rows:
        return 0
    gen = (tx.conn.execute(sa.select(sa.func.max(B.c.gen))).scalar() or 0) + 1
    by_day: dict[int, list[Any]] = {}
    for row in rows:
        by_day.setdefault(int(row.created_at // DAY), []).append(row)
    for day, members in by_day.items():
        found = tx.conn.execute(sa.select(B.c.count.label("n"), B.c["keys"].label("book"), B.c.data)
                                .where(B.c.day == day)).first()
        book = Codebook.load(found.book) if found else Codebook()
        added = from_rows(members, book, gen)
        joined = Facts.join([decode(found.data, found.n), added]) if found else added
        order = np.argsort(joined.created, kind="stable")  # (kept in time order: a report reads whole days fast)
        joined = joined.take(order)
        values = {"gen": gen, "count": len(joined), "keys": book.dump(), "data": encode(joined)}
        if found is None:
            tx.conn.execute(B.insert().values(day=day, **values))
        else:
            tx.conn.execute(B.update().where(B.c.day == day).values(**values))
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
