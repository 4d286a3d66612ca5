"""Leases: one node at a time runs each singleton (the router, outbox delivery, a connector account).

A lease is a row (name, holder, expires_at). The holder renews it well before expiry; a node
that dies stops renewing and another node takes the lease over once it expires. Taking and
renewing are conditional writes through the single writer, so two nodes never both hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from cti import models
from cti.storage.db import Database, Tx

log = logging.getLogger(__name__)
LEASES = models.leases


def try_acquire(tx: Tx, name: str, holder: str, ttl: float, url: str | None = None) -> bool:
    """Take or renew the lease when it is free, expired or already ours (``url``: where the other
    nodes reach the holder)."""
    row = (
        tx.conn.execute(sa.select(LEASES).where(LEASES.c.name == name).with_for_update()).first()
        if tx.conn.dialect.name == "postgresql"
        else tx.conn.execute(sa.select(LEASES).where(LEASES.c.name == name)).first()
    )
    if row is None:
        tx.conn.execute(LEASES.insert().values(name=name, holder=holder, expires_at=tx.now + ttl, holder_url=url))
        return True
    if row.holder == holder or row.expires_at < tx.now:
        tx.conn.execute(LEASES.update().where(LEASES.c.name == name).values(holder=holder, expires_at=tx.now + ttl,
                                                                  holder_url=url))
        return True
    return False


def release(tx: Tx, name: str, holder: str) -> None:
    """Give the lease up (on orderly shutdown) so another node takes over at once."""
    tx.conn.execute(LEASES.delete().where(LEASES.c.name == name, LEASES.c.holder == holder))


class LeasedRunner:
    """Runs ``work()`` while this node holds the named lease; stops it when the lease is lost."""

    def __init__(self, db: Database, name: str, holder: str, work: Callable[[], Awaitable[None]],
                 *, ttl: float = 10.0, url: str | None = None) -> None:
        self.db, self.name, self.holder, self.work, self.ttl, self.url = db, name, holder, work, ttl, url
        self.held = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin competing for the lease."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"lease:{self.name}")

    async def stop(self) -> None:
        """Stop the work and release the lease."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.held:
            with contextlib.suppress(Exception):
                await self.db.write(lambda tx: release(tx, self.name, self.holder))
            self.held = False

    async def _run(self) -> None:
        work: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    got = await self.db.write(lambda tx: try_acquire(tx, self.name, self.holder, self.ttl, self.url))
                except Exception:
                    log.exception("lease %s: renewal failed", self.name)
                    got = False
                if got and not self.held:
                    log.info("lease %s: acquired by %s", self.name, self.holder)
                    work = asyncio.get_running_loop().create_task(self._guard(), name=f"leased:{self.name}")
                elif not got and self.held:
                    log.warning("lease %s: lost; stopping its work", self.name)
                    if work is not None:
                        work.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await work
                        work = None
                self.held = got
                await asyncio.sleep(self.ttl / 3 * (0.9 + 0.2 * random.random()))
        finally:
            if work is not None:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work

    async def _guard(self) -> None:
        while True:
            try:
                await self.work()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lease %s: work failed; restarting in 1 s", self.name)
                await asyncio.sleep(1.0)
