"""SIP over TCP (RFC 3261 18.3): framing a byte stream into messages, and the connections.

Messages on a stream are delimited by their Content-Length (mandatory on streams). CRLF
keep-alives between messages (RFC 5626) are skipped. A peer that sends a header block larger
than ``MAX_HEADER_BYTES`` or a negative or unreadable length is disconnected: a stream cannot
be resynchronised after a framing error.

``StreamConnections`` keeps one connection per peer address: connections we open (to the
registrar or a phone) and connections others open to our listening socket. A request that
arrives on a connection makes the connection the way back to its Via sent-by address too
(responses go on the connection the request came on, RFC 3261 18.2.2).

What a stranger can hold is bounded: at most ``MAX_PER_ADDRESS`` connections from one IP address
and ``MAX_CONNECTIONS`` in all (more are closed at once), a message body of ``MAX_BODY_BYTES``,
``MAX_BUFFERED_BYTES`` of incomplete messages over all connections together, and a connection
that carries nothing for ``IDLE_SECONDS`` is closed (ours to the registrar carries a REGISTER
every few seconds).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from connectors.sip.message import SipParseError, parse_via

log = logging.getLogger(__name__)
Addr = tuple[str, int]
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024  # SIP bodies are SDP and small fragments
MAX_PER_ADDRESS = 32
MAX_CONNECTIONS = 1024
MAX_BUFFERED_BYTES = 16 * 1024 * 1024
IDLE_SECONDS = 120.0
LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE)
VIA = re.compile(rb"^(?:via|v)[ \t]*:[ \t]*([^\r\n,]+)", re.IGNORECASE | re.MULTILINE)


class StreamFramer:
    """Bytes in, whole SIP messages out."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed by this data; SipParseError when the stream is broken."""
        self.buffer += data
        messages: list[bytes] = []
        while True:
            while self.buffer[:2] == b"\r\n":
                del self.buffer[:2]  # keep-alive
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    raise SipParseError("header block too large")
                return messages
            head = bytes(self.buffer[:end])
            found = LENGTH.search(head)
            length = found.group(1) if found else b"0"
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                raise SipParseError(f"bad Content-Length {length[:20]!r} on a stream")
            total = end + 4 + int(length)
            if len(self.buffer) < total:
                return messages
            messages.append(bytes(self.buffer[:total]))
            del self.buffer[:total]


class _Stream(asyncio.Protocol):
    def __init__(self, pool: StreamConnections) -> None:
        self.pool = pool
        self.framer = StreamFramer()
        self.transport: Any = None
        self.peer: Addr = ("", 0)
        self.pending: list[bytes] = []
        self.active_at = 0.0  # when it last carried anything (the loop's clock)
        self.accepted = False  # opened by the peer (to our listening socket), not by us

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = (host, port)
        self.active_at = asyncio.get_running_loop().time()
        if not self.pool.admit(self):
            transport.close()
            return
        self.pool.register(self.peer, self)
        for data in self.pending:
            transport.write(data)  # type: ignore[attr-defined]
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        self.active_at = asyncio.get_running_loop().time()
        before = len(self.framer.buffer)
        try:
            try:
                messages = self.framer.feed(data)
            finally:
                self.pool.buffered += len(self.framer.buffer) - before
            if self.pool.buffered > MAX_BUFFERED_BYTES:
                raise SipParseError("too many bytes of incomplete messages held for all connections")
        except SipParseError as exc:
            log.info("closing the SIP stream from %s:%d: %s", self.peer[0], self.peer[1], exc)
            self.pool.dropped += 1
            self.transport.close()
            return
        for message in messages:
            self.pool.learn_alias(message, self)
            self.pool.on_message(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.buffered -= len(self.framer.buffer)
        self.framer.buffer.clear()
        self.pool.forget(self)

    def write(self, data: bytes) -> None:
        if self.transport is None:
            self.pending.append(data)
        else:
            self.active_at = asyncio.get_running_loop().time()
            self.transport.write(data)


class StreamConnections:
    """Every SIP TCP connection of one endpoint."""

    def __init__(self, host: str, on_message: Callable[[bytes, Addr], None]) -> None:
        self.host, self.on_message = host, on_message
        self.by_peer: dict[Addr, _Stream] = {}
        self.server: asyncio.AbstractServer | None = None
        self.dropped = 0
        self.refused = 0  # connections closed at once (too many from one address, or in all)
        self.buffered = 0  # bytes of incomplete messages held, over all connections
        self.streams: set[_Stream] = set()
        self._opening: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    async def listen(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: self._accepted(), self.host, port)
        self._sweeper = loop.call_later(IDLE_SECONDS / 4, self._sweep)

    def _accepted(self) -> _Stream:
        stream = _Stream(self)
        stream.accepted = True
        return stream

    def admit(self, stream: _Stream) -> bool:
        """Whether a new connection may stay (connections others open are limited; ours are not)."""
        if stream.accepted:
            same = sum(1 for s in self.streams if s.accepted and s.peer[0] == stream.peer[0])
            if same >= MAX_PER_ADDRESS or len(self.streams) >= MAX_CONNECTIONS:
                self.refused += 1
                if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
                    log.info("refused SIP TCP connection #%d (from %s: %d open from there, %d in all)",
                             self.refused, stream.peer[0], same, len(self.streams))
                return False
        self.streams.add(stream)
        return True

    def _sweep(self) -> None:
        """Close connections idle for IDLE_SECONDS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() - IDLE_SECONDS
        for stream in [s for s in self.streams if s.active_at < deadline and s.transport is not None]:
            stream.transport.close()
        self._sweeper = loop.call_later(IDLE_SECONDS / 4, self._sweep)

    def send(self, data: bytes, target: Addr) -> None:
        """On the connection to (or known as) target, opening one when there is none."""
        stream = self.by_peer.get(target)
        if stream is None:
            stream = _Stream(self)
            self.by_peer[target] = stream
            task = asyncio.get_running_loop().create_task(self._open(stream, target))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
        stream.write(data)

    async def _open(self, stream: _Stream, target: Addr) -> None:
        try:
            await asyncio.get_running_loop().create_connection(lambda: stream, target[0], target[1])
        except OSError as exc:
            log.info("SIP over TCP to %s:%d failed: %s", target[0], target[1], exc)
            self.forget(stream)  # what was queued is lost: the transaction times out as on a lossy link

    def register(self, peer: Addr, stream: _Stream) -> None:
        self.by_peer.setdefault(peer, stream)

    def learn_alias(self, message: bytes, stream: _Stream) -> None:
        """A request's Via sent-by is reachable on the connection it came on."""
        if message[:8] == b"SIP/2.0 ":
            return
        found = VIA.search(message[: message.find(b"\r\n\r\n")])
        if found is None:
            return
        try:
            sent_by = parse_via(found.group(1).decode(errors="replace")).sent_by()
        except SipParseError:
            return
        self.by_peer[(stream.peer[0], sent_by[1])] = stream

    def forget(self, stream: _Stream) -> None:
        self.streams.discard(stream)
        for peer in [p for p, s in self.by_peer.items() if s is stream]:
            del self.by_peer[peer]

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.server is not None:
            self.server.close()
        for stream in set(self.by_peer.values()):
            if stream.transport is not None:
                stream.transport.close()
        for task in self._opening:
            task.cancel()
