"""The visitor's live conversation: ``GET /chat/v1/ws?token=&since=`` (WebSocket).

On connect the widget gets what happened after ``since`` from the event log, then ``{"type":
"ready", "seq"}``, then everything live, in order and never twice (``seq`` only grows; what the
replay already sent is skipped live). The visitor sends ``message`` (``text``, ``client_id``),
``typing`` (``state``) and ``read`` (``id`` of an agent's message); a refused one is answered with
``{"type": "error", "code", "client_id"?, "retry_after"?}`` and changes nothing.

Bounds: frames of at most 64 KiB, a ping every 25 s (a dead peer is dropped), a typing mark at most
every 2 s, ``connections_per_visitor`` sockets per visitor (the oldest is closed with 4001 and its
widget stays quiet until it is used again, so tabs never evict each other in turn) and
``max_connections`` per node (503 past it); a socket whose queue overflows is closed (4000) and
the widget resumes from its last seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import ApiError, InvalidInput, RateLimited, Unavailable
from webchat.api import CLIENT_ID, TAG, post_message, visitor_read, visitor_typing
from webchat.frames import replay
from webchat.hub import Viewer
from webchat.site import WebchatSite, site, visitor_of
from webchat.visitors import Visitor

api = Api()
MAX_FRAME = 64 * 1024
TYPING_EVERY = 2.0
CLIENT_ID_SHAPE = re.compile(CLIENT_ID)
BEHIND = 4000  # close code: the socket fell behind (or the node stops); reconnect with since=
REPLACED = 4001  # close code: newer tabs of this visitor took its place; reconnect only when used again


@api.route("GET", "/chat/v1/ws", summary="The visitor's live conversation (WebSocket; token=, since=)", tag=TAG,
           role=None, raw=True, errors=(400, 401, 403, 404, 503))
async def visitor_socket(call: Call) -> web.StreamResponse:
    request = call.request
    chat, svc = site(request), services(request)
    chat.check_origin(request)
    since_text = request.query.get("since", "0")
    if not since_text.isdigit() or len(since_text) > 18:
        raise InvalidInput("since must be a sequence number", details={"since": "not a number"})
    visitor = await visitor_of(request, request.query.get("token", ""))
    if chat.hub.full:
        raise Unavailable("too many open chats on this server; try again shortly", code="webchat_full")
    ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=MAX_FRAME, compress=False)
    await ws.prepare(request)
    viewer = Viewer(visitor.id, visitor.case_id)
    chat.hub.add(viewer)
    pump = asyncio.create_task(_pump(ws, viewer, chat, int(since_text), svc.bus.last_seq))
    try:
        await _listen(ws, request, visitor, pump)
    finally:
        chat.hub.remove(viewer)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        await ws.close()
    return ws


async def _pump(ws: web.WebSocketResponse, viewer: Viewer, chat: WebchatSite, since: int, upto: int) -> None:
    """Replay after ``since``, then live events, as frames."""
    last = since
    if viewer.case_id:
        for event in await replay(chat.db, viewer.case_id, since, upto):
            frame = await chat.translator.frame(event)
            if frame is not None:
                await ws.send_str(orjson.dumps(frame).decode())
            last = max(last, event.seq)
    last = max(last, upto)
    await ws.send_str(orjson.dumps({"type": "ready", "seq": last}).decode())
    while True:
        live = await viewer.queue.get()
        if viewer.evicted:
            await ws.close(code=REPLACED, message=b"replaced by newer tabs")
            return
        if live is None or viewer.overflowed:
            await ws.close(code=BEHIND, message=b"behind: reconnect with since=")
            return
        if live.seq <= last:
            continue
        frame = await chat.translator.frame(live)
        last = live.seq
        if frame is not None:
            await ws.send_str(orjson.dumps(frame).decode())


async def _listen(ws: web.WebSocketResponse, request: web.Request, visitor: Visitor, pump: asyncio.Task[None]) -> None:
    typed_at, typed = 0.0, "paused"
    async for msg in ws:
        if pump.done():
            return
        if msg.type is not WSMsgType.TEXT:
            continue
        try:
            frame = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            await _error(ws, "invalid_json", "frames are JSON objects")
            continue
        if not isinstance(frame, dict):
            await _error(ws, "invalid_json", "frames are JSON objects")
            continue
        kind = frame.get("type")
        try:
            if kind == "message":
                await _message(ws, request, visitor, frame)
            elif kind == "typing" and frame.get("state") in ("composing", "paused"):
                if frame["state"] != typed or time.monotonic() - typed_at >= TYPING_EVERY:  # (a repeat waits)
                    typed_at, typed = time.monotonic(), str(frame["state"])
                    await visitor_typing(request, visitor, typed)
            elif kind == "read" and isinstance(frame.get("id"), str):
                await visitor_read(request, visitor, frame["id"])
            elif kind == "ping":
                await ws.send_str('{"type":"pong"}')
            else:
                await _error(ws, "unknown_type", "send message, typing, read or ping")
        except ApiError as exc:
            extra: dict[str, Any] = {"client_id": frame.get("client_id")} if kind == "message" else {}
            if isinstance(exc, RateLimited):
                extra["retry_after"] = exc.retry_after
            await _error(ws, exc.code, exc.message, **extra)


async def _message(ws: web.WebSocketResponse, request: web.Request, visitor: Visitor, frame: dict[str, Any]) -> None:
    text, client_id = frame.get("text"), frame.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID_SHAPE.match(client_id):
        raise InvalidInput("client_id: 1-64 letters, digits, _ or -", details={"client_id": "shape"})
    if not isinstance(text, str):
        raise InvalidInput("text is required", details={"text": "required"})
    await post_message(request, visitor, text, client_id)  # (its frame comes back through the stream)


async def _error(ws: web.WebSocketResponse, code: str, message: str, **extra: Any) -> None:
    if not ws.closed:
        await ws.send_str(orjson.dumps({"type": "error", "code": code, "message": message, **extra}).decode())
