"""Visitors who left: a chat that waits for an agent after its visitor has gone is abandoned, and
visitor tokens past their life are forgotten.

Every node says once a minute which visitors it holds a widget socket for (one UPDATE of their
``last_seen_at``; the HTTP routes mark their visitor seen too). One node (the lease
``webchat-sweep``) looks every 30 s for chats still queued or offered whose visitor has not been
seen for ``[channels.webchat] abandon_after_seconds``: they are abandoned with the reason
``customer_left``, as a caller who hangs up in the queue is, so no agent is offered a conversation
with nobody and the wallboard does not count a ghost as waiting. Chats an agent has are left to the
agent. Expired visitors' rows are deleted (their identity stays on the contact with its history).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

import sqlalchemy as sa

from cti import models
from cti.routing.policy import RoutingPolicy
from cti.services.actors import SYSTEM
from cti.services.interactions import CommandParams, apply_command
from cti.state import Command
from cti.storage.db import Database, Tx
from webchat.hub import Hub

log = logging.getLogger(__name__)
I, VISITORS = models.interactions, models.chat_visitors
PRESENCE_EVERY = 60.0
SWEEP_EVERY = 30.0
BATCH = 200


class Presence:
    """This node's visitors with an open widget: seen, once a minute."""

    def __init__(self, db: Database, hub: Hub) -> None:
        self.db, self.hub = db, hub

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_EVERY)
            try:
                await self.mark()
            except Exception:  # (the next minute tries again)
                log.exception("web chat presence failed")

    async def mark(self) -> None:
        """One UPDATE per thousand visitors with a socket here."""
        ids = self.hub.visitor_ids()
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            await self.db.write(lambda tx, chunk=chunk: tx.conn.execute(  # type: ignore[misc]
                sa.update(VISITORS).where(VISITORS.c.id.in_(chunk)).values(last_seen_at=tx.now)))


def sweep(tx: Tx, channel: str, abandon_after: float, policy: RoutingPolicy) -> tuple[int, int]:
    """Abandon waiting chats whose visitor has gone; forget expired visitors. (abandoned, forgotten)."""
    gone = tx.now - abandon_after
    abandoned = 0
    for state in ("queued", "offered"):  # (one state at a time: the state index)
        rows = tx.conn.execute(
            sa.select(I.c.id).select_from(I.join(VISITORS, VISITORS.c.id == I.c.thread_key))
            .where(I.c.state == state, I.c.channel == channel, VISITORS.c.last_seen_at < gone).limit(BATCH)).all()
        for row in rows:
            apply_command(tx, row.id, Command.ABANDON, actor=SYSTEM, policy=policy,
                          params=CommandParams(reason="customer_left"))
            abandoned += 1
    expired = tx.conn.execute(sa.select(VISITORS.c.id).where(VISITORS.c.expires_at < tx.now).limit(BATCH * 5))
    ids = [r.id for r in expired]
    if ids:
        tx.conn.execute(sa.delete(VISITORS).where(VISITORS.c.id.in_(ids)))
    return abandoned, len(ids)


class Sweeper:
    """The leased look (one node)."""

    def __init__(self, db: Database, channel: str, abandon_after: float,
                 policy: Callable[[], RoutingPolicy]) -> None:
        self.db, self.channel, self.abandon_after, self.policy = db, channel, abandon_after, policy

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                abandoned, forgotten = await self.db.write(functools.partial(
                    sweep, channel=self.channel, abandon_after=self.abandon_after, policy=self.policy()))
                if abandoned or forgotten:
                    log.info("web chat: %d waiting chat(s) whose visitor left abandoned, %d expired visitor(s) "
                             "forgotten", abandoned, forgotten)
            except Exception:  # (the next look tries again; a sweep must not end the lease's work)
                log.exception("web chat sweep failed")
            await asyncio.sleep(max(1.0, SWEEP_EVERY - (time.monotonic() - started)))
