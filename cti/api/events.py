"""The event stream: WebSocket and Server-Sent Events, with since= replay and types= filters.

A client that reconnects with the last seq it saw (``since``, or SSE's Last-Event-ID) gets
every stored event after it and then the live ones, in order, with none missing. Agents see
only their own events and their queues' (queues whose skills they meet).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from cti import models
from cti.api import schemas as s
from cti.api.context import Services, services
from cti.api.framework import Api, Call
from cti.api.queries import get_row
from cti.api.ws_batch import send_texts
from cti.bus import EventFilter, Subscription
from cti.errors import InvalidInput
from cti.services.actors import Actor, Role

api = Api()
HEARTBEAT_SECONDS = 15.0
STREAM_DOC = {"type": "string", "description": "a stream of events ({seq, type, ts, ..., data})"}


async def _filter_for(svc: Services, actor: Actor, types: str | None) -> EventFilter:
    patterns = [t.strip() for t in types.split(",") if t.strip()] if types else None
    if not actor.is_agent:
        return EventFilter(types=patterns)
    agent = await svc.db.read(lambda c: get_row(c, models.agents, actor.agent_id or "", "agent"))
    skills = agent.skills or {}
    queues = frozenset(q.name for q in svc.policies.current.queues
                       if all(skills.get(k, 0) >= v for k, v in q.skills.items()))
    return EventFilter(types=patterns, agent_id=actor.agent_id, agent_queues=queues)


def _since(call: Call) -> int | None:
    since = call.query.since
    last_event_id = call.request.headers.get("Last-Event-ID")
    if last_event_id is not None:
        try:
            since = int(last_event_id)
        except ValueError as exc:
            raise InvalidInput("Last-Event-ID must be an event seq", details={"Last-Event-ID": "not a number"}) from exc
    return since


async def _subscribe(call: Call) -> tuple[Services, Subscription]:
    svc = services(call.request)
    event_filter = await _filter_for(svc, call.actor, call.query.types)
    sub = svc.bus.subscribe(event_filter, since=_since(call), client=True)
    svc.metrics.stream_subscribers.set(svc.bus.subscriber_count)
    return svc, sub


@api.route("GET", "/api/v1/events", summary="Event stream over WebSocket (since=, types=)", tag="events",
           role=Role.AGENT, query=s.EventsQuery, raw=True, response=STREAM_DOC, status=101)
async def websocket(call: Call) -> web.StreamResponse:
    svc, sub = await _subscribe(call)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=64 * 1024)
    try:
        await ws.prepare(call.request)
        reader = asyncio.get_running_loop().create_task(_drain_client(ws))
        try:
            while not ws.closed and not reader.done() and not sub.closed:
                event = await sub.next(timeout=HEARTBEAT_SECONDS)
                if event is None:
                    continue
                batch = [event]
                while len(batch) < 256 and (more := sub.next_nowait()) is not None:
                    batch.append(more)
                await send_texts(ws, [svc.bus.wire(e) for e in batch])
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        sub.close()
        svc.metrics.stream_subscribers.set(svc.bus.subscriber_count)
        await ws.close()
    return ws


async def _drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so close frames and pings are handled."""
    async for message in ws:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return


@api.route("GET", "/api/v1/events/stream", summary="Event stream as Server-Sent Events (since= or Last-Event-ID)",
           tag="events", role=Role.AGENT, query=s.EventsQuery, raw=True, response=STREAM_DOC)
async def server_sent_events(call: Call) -> web.StreamResponse:
    svc, sub = await _subscribe(call)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    try:
        await response.prepare(call.request)
        await response.write(b": connected\n\n")
        while not sub.closed:
            event = await sub.next(timeout=HEARTBEAT_SECONDS)
            if event is None:
                await response.write(b": keep-alive\n\n")
                continue
            body = svc.bus.wire(event).encode()
            await response.write(b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.value.encode(), body))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        sub.close()
        svc.metrics.stream_subscribers.set(svc.bus.subscriber_count)
    return response
