"""The callback scheduler: due callbacks become voice interactions, failures are told, links expire.

It runs on every node. Claims are safe there: on PostgreSQL the due rows are selected
``FOR UPDATE SKIP LOCKED`` and moved out of ``scheduled`` in the same transaction, so a callback
fires once however many nodes look; SQLite has one writer. Callbacks live only in the database,
so a restart re-arms them by simply looking again. A ``callback.scheduled`` event wakes the loop
at once (a "call me now" does not wait for the next tick).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from aiohttp import web

from cti import models
from cti.bus import EventBus
from cti.channels import ChannelDirectory
from cti.events import Event, EventType
from cti.routing.live_policy import PolicyHolder
from cti.services.outbound import notify_customer
from cti.storage.db import Database, Tx
from pivot import i18n
from pivot.callbacks import due_callbacks, fail_uncallable, start_attempt
from pivot.links import expire_links
from pivot.settings import PivotConfig
from pivot.tokens import mask_number

log = logging.getLogger(__name__)
CALLBACKS = models.callbacks


class CallbackScheduler:
    """Owns one task; ``start``/``stop`` from the application's lifecycle."""

    def __init__(self, db: Database, bus: EventBus, config: PivotConfig, policies: PolicyHolder,
                 directory: ChannelDirectory, *, can_call: bool = True) -> None:
        self.db, self.bus, self.config, self.policies, self.directory = db, bus, config, policies, directory
        self.can_call = can_call  # a voice connector places calls here; without one a callback fails at once
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.started_attempts = 0

    def on_event(self, event: Event) -> None:
        """Bus listener: a new or retried callback, or a failed one to tell, wakes the loop."""
        if event.type in (EventType.CALLBACK_SCHEDULED, EventType.CALLBACK_FAILED):
            self._wake.set()

    async def start(self) -> None:
        self.bus.add_listener(self.on_event)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pivot-callback-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("callback scheduler tick failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.scheduler_interval_seconds)
            self._wake.clear()

    async def tick(self) -> int:
        """One pass: start due attempts, tell customers of failed callbacks, expire links."""
        policy, config = self.policies.current, self.config

        def op(tx: Tx) -> int:
            started = 0
            for callback in due_callbacks(tx):
                if not self.can_call:  # no phantom call is offered to an agent: the customer is told
                    fail_uncallable(tx, callback)
                    continue
                before = callback["attempts"]
                if start_attempt(tx, callback, config=config, policy=policy)["attempts"] > before:
                    started += 1
            self._notify_failures(tx)
            expire_links(tx)
            return started

        started = await self.db.write(op)
        self.started_attempts += started
        return started

    def _notify_failures(self, tx: Tx) -> None:
        query = sa.select(CALLBACKS).where(CALLBACKS.c.notify == "pending").limit(20)
        if tx.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in tx.conn.execute(query).all():
            tx.conn.execute(CALLBACKS.update().where(CALLBACKS.c.id == row.id).values(notify="sent"))
            source = tx.conn.execute(sa.select(models.interactions.c.channel, models.interactions.c.language)
                                     .where(models.interactions.c.id == row.source_interaction_id)).first()
            channel = self.directory.get(source.channel) if source else None
            if source is None or channel is None or not channel.sends:
                tx.conn.execute(CALLBACKS.update().where(CALLBACKS.c.id == row.id).values(notify="unsendable"))
                continue
            language = i18n.negotiate(None, fallback=source.language)
            text = i18n.text(language, "failed_text", number=mask_number(row.number))
            notify_customer(tx, row.source_interaction_id, text=text, channel=channel)


CALLBACK_SCHEDULER: web.AppKey[CallbackScheduler] = web.AppKey("callback_scheduler", CallbackScheduler)
