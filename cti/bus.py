"""The event bus: delivers committed events, in seq order and without gaps, to subscribers.

The event log is the source of truth. The writer publishes what it committed; when a batch
arrives with a gap (another node, or the CLI, committed events in between) the bus reads the
missing range from the log before delivering. Other nodes' commits reach this node as
PostgreSQL NOTIFY messages carrying their last seq (see PgEventRelay), and are read the same
way. A subscriber that falls behind (its buffer is full) is not dropped: it re-reads what it
missed from the log and carries on, so a slow client never loses events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.events import Event, EventType, type_matches
from cti.storage.db import NOTIFY_CHANNEL, Database

log = logging.getLogger(__name__)

REPLAY_PAGE = 1000


def row_to_event(row: Any) -> Event:
    """Build an Event from an events-table row."""
    return Event(
        type=EventType(row.type),
        ts=row.ts,
        data=row.data or {},
        case_id=row.case_id,
        interaction_id=row.interaction_id,
        agent_id=row.agent_id,
        queue=row.queue,
        seq=row.seq,
    )


def read_events(conn: Connection, after: int, upto: int | None = None, limit: int = REPLAY_PAGE) -> list[Event]:
    """Events with after < seq <= upto, in order."""
    query = sa.select(models.events).where(models.events.c.seq > after)
    if upto is not None:
        query = query.where(models.events.c.seq <= upto)
    rows = conn.execute(query.order_by(models.events.c.seq).limit(limit)).all()
    return [row_to_event(r) for r in rows]


@dataclass
class EventFilter:
    """Which events a subscriber sees: type patterns, and for agents only their own and their queues'."""

    types: list[str] | None = None
    agent_id: str | None = None
    agent_queues: frozenset[str] | None = None  # None: no restriction (admin, supervisor)

    def accepts(self, event: Event) -> bool:
        """True when this subscriber may and wants to see the event."""
        if not type_matches(event.type.value, self.types):
            return False
        if self.agent_queues is None:
            return True
        if event.agent_id is not None:
            return event.agent_id == self.agent_id or (  # (the agent a transfer took it from sees it go)
                event.type is EventType.INTERACTION_TRANSFERRED and self.agent_id is not None
                and event.data.get("previous_agent_id") == self.agent_id)
        if event.queue is not None:
            return event.queue in self.agent_queues
        return event.type is EventType.CONNECTOR_HEALTH


@dataclass(eq=False)
class Subscription:
    """A live feed of events for one client; iterate it."""

    bus: EventBus
    filter: EventFilter
    last_seq: int
    maxsize: int = 10_000
    _queue: asyncio.Queue[Event | None] = field(init=False)
    _backlog: deque[Event] = field(default_factory=deque)
    overflowed: bool = False
    closed: bool = False
    client: bool = False  # an API client's stream (WebSocket, SSE), ended when the node shuts down
    _cursor: int = 0

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.maxsize)

    def offer(self, event: Event) -> None:
        """Called by the bus for every delivered event (already in seq order)."""
        if self.overflowed or not self.filter.accepts(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        """The next event, or None on timeout."""
        while True:
            if self._backlog:
                event = self._backlog.popleft()
            elif self.overflowed:
                await self._read_page_from_log()
                continue
            else:
                if self.closed:
                    return None
                if not self._queue.empty():  # the common case under load: no waiting, no timer
                    got = self._queue.get_nowait()
                else:
                    try:
                        async with asyncio.timeout(timeout):
                            got = await self._queue.get()
                    except TimeoutError:
                        return None
                if got is None:  # closed while waiting
                    return None
                event = got
            if event.seq <= self.last_seq:
                continue
            self.last_seq = event.seq
            return event

    def next_nowait(self) -> Event | None:
        """The next already-buffered event, or None (never waits, never reads the log)."""
        while not self.overflowed:
            if self._backlog:
                event = self._backlog.popleft()
            elif not self._queue.empty():
                got = self._queue.get_nowait()
                if got is None:
                    return None
                event = got
            else:
                return None
            if event.seq > self.last_seq:
                self.last_seq = event.seq
                return event
        return None

    async def _read_page_from_log(self) -> None:
        """Read one page of missed events; go live again once the log is caught up."""
        while not self._queue.empty():
            self._queue.get_nowait()
        cursor = max(self._cursor, self.last_seq)
        end = self.bus.last_seq
        self.overflowed = False  # events delivered while we read are queued live
        page = await self.bus.db.read(lambda c: read_events(c, cursor, end))
        if page:
            self._cursor = page[-1].seq
            self._backlog.extend(e for e in page if self.filter.accepts(e))
            if page[-1].seq < end:
                self.overflowed = True
        else:
            self._cursor = end

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while not self.closed:
            event = await self.next()
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Stop receiving events; a reader waiting in next() gets None."""
        if self.closed:
            return
        self.closed = True
        self.bus.unsubscribe(self)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class EventBus:
    """In-process fan-out of committed events, fed by the database writer and by other nodes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.last_seq = 0
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._catch_up_target = 0
        self._catch_up_task: asyncio.Task[None] | None = None
        self.published = 0
        self.delivered = 0
        self._wire: dict[int, str] = {}

    async def start(self) -> None:
        """Learn the current end of the log."""
        self.last_seq = await self.db.read(
            lambda c: c.execute(sa.select(sa.func.max(models.events.c.seq))).scalar() or 0)

    async def stop(self) -> None:
        """Stop catching up and close every subscription."""
        if self._catch_up_task is not None:
            self._catch_up_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catch_up_task
        self.close_subscriptions()

    def close_subscriptions(self, *, clients_only: bool = False) -> None:
        """End the streams now (``clients_only``: the API's WebSocket and SSE clients, who reconnect
        elsewhere with since=, and not the node's own listeners such as the router)."""
        for sub in list(self._subscribers):
            if sub.client or not clients_only:
                sub.close()

    def wire(self, event: Event) -> str:
        """The event as JSON text, serialized once however many clients receive it."""
        text = self._wire.get(event.seq)
        if text is None:
            if len(self._wire) > 4096:
                self._wire.clear()
            text = self._wire[event.seq] = orjson.dumps(event.to_json()).decode()
        return text

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener(event)`` synchronously for every event (router, webhooks, metrics)."""
        self._listeners.append(listener)

    def subscribe(self, event_filter: EventFilter, *, since: int | None = None, maxsize: int = 10_000,
                  client: bool = False) -> Subscription:
        """A subscription that starts after ``since`` (or at the live end)."""
        start = self.last_seq if since is None else since
        sub = Subscription(self, event_filter, start, maxsize, client=client)
        if since is not None and since < self.last_seq:
            sub.overflowed = True  # first read replays the stored events, then goes live
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscription."""
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        """How many live subscriptions there are."""
        return len(self._subscribers)

    async def replay(self, after: int, event_filter: EventFilter, upto: int | None = None) -> list[Event]:
        """Stored events after ``after`` (up to the bus's delivered end), filtered."""
        end = self.last_seq if upto is None else upto
        out: list[Event] = []
        cursor = after
        while cursor < end:
            page = await self.db.read(functools.partial(read_events, after=cursor, upto=end))
            if not page:
                break
            cursor = page[-1].seq
            out.extend(e for e in page if event_filter.accepts(e))
        return out

    # ---- feeding -----------------------------------------------------------------------
    def publish(self, events: list[Event]) -> None:
        """Deliver events this node committed; fetch any gap before them from the log.

        A catch-up that is still reading may deliver some of them again: ``_deliver`` skips
        what was delivered, so order holds and nothing repeats."""
        if not events:
            return
        if events[0].seq == self.last_seq + 1:
            self._deliver(events)
        elif events[-1].seq > self.last_seq:
            self.notify_remote(events[-1].seq)

    def notify_remote(self, seq: int) -> None:
        """Another writer committed up to ``seq``: read and deliver what we have not seen."""
        if seq <= self.last_seq:
            return
        self._catch_up_target = max(self._catch_up_target, seq)
        if self._catch_up_task is None:
            self._catch_up_task = asyncio.get_running_loop().create_task(self._catch_up(), name="cti-bus-catch-up")

    async def _catch_up(self) -> None:
        try:
            while self.last_seq < self._catch_up_target:
                target = self._catch_up_target
                page = await self.db.read(functools.partial(read_events, after=self.last_seq, upto=target))
                if not page:
                    # Nothing stored in the range (the writer's transaction rolled back): move on.
                    self.last_seq = max(self.last_seq, target)
                    break
                self._deliver(page)
        except Exception:
            log.exception("event catch-up failed; will retry on the next commit")
        finally:
            self._catch_up_task = None
        if self.last_seq < self._catch_up_target:
            self.notify_remote(self._catch_up_target)

    def _deliver(self, events: list[Event]) -> None:
        for event in events:
            if event.seq <= self.last_seq:
                continue
            self.last_seq = event.seq
            self.published += 1
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("event listener failed on %s", event.type)
            for sub in self._subscribers:
                sub.offer(event)
                self.delivered += 1


class PgEventRelay:
    """LISTENs for other nodes' commits on PostgreSQL and tells the bus to read them."""

    def __init__(self, bus: EventBus, dsn: str) -> None:
        self.bus = bus
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://")
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and listen; a poll every second covers a lost connection."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cti-pg-relay")

    async def _run(self) -> None:
        import asyncpg

        backoff = 0.5
        while True:
            try:
                self._conn = await asyncpg.connect(self.dsn, timeout=10)
                await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                backoff = 0.5
                while not self._conn.is_closed():
                    await asyncio.sleep(1.0)
                    max_seq = await self._conn.fetchval("SELECT coalesce(max(seq), 0) FROM events")
                    self.bus.notify_remote(int(max_seq))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event relay lost its PostgreSQL connection (%s); retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self.bus.notify_remote(int(payload))

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
