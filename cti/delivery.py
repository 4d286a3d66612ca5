"""Outbound HTTP that must not be lost: webhook fan-out and the outbox delivery worker.

WebhookFanout follows the event log from a durable cursor and, in one transaction per batch,
adds an outbox item for every (event, matching subscription) and moves the cursor: each event
reaches each subscriber's outbox exactly once, across restarts and node changes.

OutboxWorker delivers due items of one kind: webhooks as signed POSTs (2xx delivered; 408,
429, 5xx and network errors retried with exponential backoff and jitter up to the configured
attempts; other 4xx failed at once, as retrying cannot help), channel messages through their
connector (connectors raise TemporaryFailure or PermanentFailure). All run under leases.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, NamedTuple

import aiohttp
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.bus import EventBus, EventFilter
from cti.config import Config
from cti.events import Event, type_matches
from cti.ids import new_id
from cti.metrics import Metrics
from cti.services.outbound import mark_attempt_failed, mark_delivered
from cti.signing import signed_headers
from cti.storage.db import Database, Tx
from cti.targets import TargetPolicy

log = logging.getLogger(__name__)
CURSOR_KEY = "webhooks.cursor"
OUTBOX = models.outbox
RETRYABLE = {408, 425, 429}


def _read_cursor(conn: Any) -> int | None:
    value = conn.execute(sa.select(models.settings.c.value).where(models.settings.c.key == CURSOR_KEY)).scalar()
    return int(value["seq"]) if value else None


def _save_cursor(tx: Tx, seq: int) -> None:
    SETTINGS = models.settings
    if (
        tx.conn.execute(
            sa.update(SETTINGS).where(SETTINGS.c.key == CURSOR_KEY).values(value={"seq": seq}, updated_at=tx.now)
        ).rowcount
        == 0
    ):
        tx.conn.execute(SETTINGS.insert().values(key=CURSOR_KEY, value={"seq": seq}, updated_at=tx.now))


class WebhookFanout:
    """Turns events into outbox items for matching webhook subscriptions."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db, self.bus = db, bus
        self._hooks: list[Any] = []
        self._hooks_read = 0.0

    async def _webhooks(self) -> list[Any]:
        if time.monotonic() - self._hooks_read > 2.0:
            self._hooks = await self.db.read(lambda c: list(c.execute(
                sa.select(models.webhooks).where(models.webhooks.c.deleted.is_(False))).all()))
            self._hooks_read = time.monotonic()
        return self._hooks

    async def run(self) -> None:
        """Follow the log until cancelled."""
        cursor = await self.db.read(_read_cursor)
        if cursor is None:
            cursor = self.bus.last_seq
            await self.db.write(lambda tx: _save_cursor(tx, cursor))
        sub = self.bus.subscribe(EventFilter(), since=cursor)
        saved = time.monotonic()
        try:
            while not sub.closed:
                first = await sub.next(timeout=1.0)
                if first is None:
                    continue
                batch = [first]
                while len(batch) < 500 and (more := sub.next_nowait()) is not None:
                    batch.append(more)
                hooks = await self._webhooks()
                items = [(event, hook) for event in batch for hook in hooks
                         if type_matches(event.type.value, hook.types)]
                last = batch[-1].seq
                if not items and time.monotonic() - saved < 1.0:
                    continue  # nothing to deliver: move the durable cursor at most once a second
                await self.db.write(functools.partial(self._enqueue, items=items, seq=last))
                saved = time.monotonic()
            raise RuntimeError("webhook fan-out lost its event subscription")
        finally:
            sub.close()

    @staticmethod
    def _enqueue(tx: Tx, items: list[tuple[Event, Any]], seq: int) -> None:
        if items:
            tx.conn.execute(OUTBOX.insert(), [
                {"id": new_id("out"), "kind": "webhook", "target": hook.id, "url": hook.url,
                 "payload": event.to_json(), "message_id": None, "state": "pending", "attempts": 0,
                 "next_attempt_at": tx.now, "last_error": None, "created_at": tx.now, "done_at": None}
                for event, hook in items])
        _save_cursor(tx, seq)


def _due_items(statement: Any, now: float, conn: Connection) -> list[Any]:
    """The outbox items due at ``now``."""
    return list(conn.execute(statement, {"now": now}).all())


class Outcome(NamedTuple):
    """How one delivery attempt went."""

    result: Literal["ok", "retry", "failed"]
    detail: str = ""  # why it failed
    external_id: str | None = None  # the far end's id of what it took
    not_before: float | None = None  # (retry) the far end named its reset time: not before it
Deliver = Callable[[Any], Awaitable[Outcome]]


async def post_signed(session: aiohttp.ClientSession, url: str, secret: str, payload: Any, *, delivery_id: str,
                      timeout_seconds: float) -> Outcome:
    """POST the payload as signed JSON. 2xx ok; 408/425/429/5xx and network errors retry; other 4xx fail."""
    body = orjson.dumps(payload)
    headers = signed_headers(secret, body)
    headers["X-CTI-Delivery"] = delivery_id
    try:
        async with session.post(url, data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as response:
            text = await response.text(errors="replace")
            if 200 <= response.status < 300:
                return Outcome("ok", "", _external_id(text))
            detail = f"HTTP {response.status}: {text[:200]}"
            if response.status >= 500 or response.status in RETRYABLE:
                return Outcome("retry", detail, None)
            return Outcome("failed", detail, None)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Outcome("retry", f"{type(exc).__name__}: {exc}"[:300], None)


def _external_id(text: str) -> str | None:
    """The receiver's id for what it took, when it answers {"external_id": ...}."""
    if not text:
        return None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    value = parsed.get("external_id") if isinstance(parsed, dict) else None
    return str(value) if value else None


class WebhookSender:
    """Delivers webhook outbox items, signed with their subscription's secret."""

    def __init__(self, db: Database, config: Config, session: aiohttp.ClientSession) -> None:
        self.db, self.config, self.session = db, config, session
        self._secrets: dict[str, str] = {}
        self._read_at = 0.0
        self.targets = TargetPolicy(config.webhooks.allow_private_targets)

    async def __call__(self, item: Any) -> Outcome:
        if item.target not in self._secrets or time.monotonic() - self._read_at > 2.0:
            WEBHOOKS = models.webhooks
            rows = await self.db.read(lambda c: c.execute(
                sa.select(WEBHOOKS.c.id, WEBHOOKS.c.secret).where(WEBHOOKS.c.deleted.is_(False))).all())
            self._secrets = {row.id: row.secret for row in rows}
            self._read_at = time.monotonic()
        if item.target not in self._secrets:
            return Outcome("failed", "the subscription was deleted", None)
        refused = await self.targets.refusal(item.url)
        if refused is not None:
            return Outcome("failed", f"not sent: {refused}", None)
        return await post_signed(self.session, item.url, self._secrets[item.target], item.payload,
                                 delivery_id=item.id, timeout_seconds=self.config.webhooks.timeout)


class OutboxWorker:
    """Delivers due outbox items of one kind (and target) with the given deliver function.

    What the far end took is never sent again: when recording a delivery fails (the database is
    busy, a constraint refuses the far end's id), the item is kept here as delivered and its
    recording retried alone. When recording a failed attempt fails, the item waits out the
    attempt's backoff here before it is tried again. Every retry has backoff and the configured
    attempt limit, after which the item (and its message) is failed with the reason."""

    def __init__(self, db: Database, config: Config, metrics: Metrics, *, kind: str, deliver: Deliver,
                 target: str | None = None, poll_seconds: float = 0.2, concurrency: int = 32) -> None:
        self.db, self.config, self.metrics = db, config, metrics
        self.kind, self.target, self.deliver = kind, target, deliver
        self.poll_seconds = poll_seconds
        self._inflight: set[str] = set()
        self._unrecorded: dict[str, str | None] = {}  # delivered, not yet recorded: item id -> far end's id
        self._held: dict[str, float] = {}  # item id -> not before (monotonic): a failed attempt not recorded
        self._limit = asyncio.Semaphore(concurrency)
        due = sa.select(OUTBOX).where(
            OUTBOX.c.state == "pending", OUTBOX.c.kind == kind, OUTBOX.c.next_attempt_at <= sa.bindparam("now")
        )
        if target is not None:
            due = due.where(OUTBOX.c.target == target)
        self._due = due.order_by(OUTBOX.c.next_attempt_at).limit(200)

    async def run(self) -> None:
        """Deliver until cancelled."""
        async with asyncio.TaskGroup() as group:
            while True:
                if self._unrecorded:
                    await self._record_unrecorded()
                now, clock = time.time(), time.monotonic()
                due = await self.db.read(functools.partial(_due_items, self._due, now))
                for item in due:
                    if item.id in self._inflight or item.id in self._unrecorded or self._held.get(item.id, 0) > clock:
                        continue
                    self._held.pop(item.id, None)
                    self._inflight.add(item.id)
                    group.create_task(self._deliver(item))
                await asyncio.sleep(self.poll_seconds)

    async def _deliver(self, item: Any) -> None:
        try:
            async with self._limit:
                try:
                    outcome, detail, external_id, not_before = await self.deliver(item)
                except Exception as exc:  # a connector bug must not stop the outbox: retry, loudly
                    log.exception("outbox item %s: delivery raised", item.id)
                    outcome, detail, external_id, not_before = Outcome("retry", f"{type(exc).__name__}: {exc}"[:300])
            self.metrics.webhook_deliveries.labels(item.kind, outcome).inc()
            if outcome == "ok":
                await self._record_delivered(item.id, external_id)
                return
            cfg = self.config.webhooks
            attempts = item.attempts + 1
            delay = min(cfg.max_backoff, cfg.initial_backoff * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
            retry_at = None
            if outcome == "retry" and attempts < cfg.max_attempts:
                retry_at = time.time() + delay
                if not_before:  # a rate limit's reset time: not before it
                    retry_at = max(retry_at, not_before)
            try:
                await self.db.write(lambda tx: mark_attempt_failed(tx, item.id, error=detail, retry_at=retry_at))
            except Exception:
                log.exception("outbox item %s: recording a failed attempt failed; next try in %.1f s", item.id, delay)
                self._held[item.id] = time.monotonic() + delay
        finally:
            self._inflight.discard(item.id)

    async def _record_delivered(self, item_id: str, external_id: str | None) -> None:
        try:
            await self.db.write(functools.partial(mark_delivered, item_id=item_id, external_id=external_id))
        except Exception:
            log.exception("outbox item %s: delivered, but recording it failed; it will not be sent again", item_id)
            self._unrecorded[item_id] = external_id

    async def _record_unrecorded(self) -> None:
        """Record deliveries whose recording failed (without the far end's id when that was the problem)."""
        for item_id, external_id in list(self._unrecorded.items()):
            try:
                await self.db.write(functools.partial(mark_delivered, item_id=item_id, external_id=external_id))
            except Exception:
                if external_id is None:
                    continue  # the database itself is failing: next round
                self._unrecorded[item_id] = None
                continue
            del self._unrecorded[item_id]
