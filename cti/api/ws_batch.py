"""Sending many events to a WebSocket in one write: the event stream's fast path.

aiohttp sends one message per ``send_str`` call, each its own write (a syscall) and its own
await. A client following a busy server gets events in bursts, so the stream builds the
frames itself (RFC 6455 section 5.2: unmasked, final text frames, as a server sends them) and
writes a burst at once to the connection's transport. That reaches into aiohttp's private
``WebSocketResponse._writer``; this module is the only place that does, and
``tests/test_private_apis.py`` fails loudly if an aiohttp upgrade removes it or changes what
a client receives (with and without permessage-deflate).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

WRITE_BUFFER_HIGH = 512 * 1024


def text_frame(text: str) -> bytes:
    """One unmasked, final WebSocket text frame (RFC 6455 section 5.2), as a server sends it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


async def send_texts(ws: web.WebSocketResponse, texts: list[str]) -> None:
    """Send several events, one message each, in a single write (one syscall instead of one per event).

    The frames are plain text frames, valid with or without permessage-deflate (RSV1 unset means
    uncompressed). A client that reads too slowly makes us wait for its buffer to drain; its
    subscription buffers meanwhile and falls back to the log if it overflows."""
    writer = ws._writer  # private: aiohttp has no vectored send (tests/test_private_apis.py watches it)
    transport = writer.transport if writer is not None else None
    if transport is None or transport.is_closing():
        for text in texts:
            await ws.send_str(text)
        return
    transport.write(b"".join(text_frame(t) for t in texts))
    while transport.get_write_buffer_size() > WRITE_BUFFER_HIGH and not transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # the transport offers no awaitable drain here
