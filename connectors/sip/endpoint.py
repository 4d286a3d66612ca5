"""The asyncio adapter around the sans-IO transaction layer: one SIP endpoint on one port.

Bytes in are parsed (a packet that is not SIP is counted and dropped; nothing stops the
socket), handed to the transaction layer, and its actions carried out: sends on the socket,
final responses resolve the caller's ``request()``, new requests go to the ``on_request``
callback with the key to ``respond()`` on. One timer handle follows the layer's next deadline.

The endpoint always listens on UDP. With ``transport="tcp"`` it also listens on TCP at the same
port, advertises ``;transport=tcp`` in its Contact, and sends requests that leave the dialog
layer (to the registrar/proxy) over TCP; a message goes over the transport its top Via names,
so responses return the way their request came and in-dialog requests follow the remote
target's ``transport`` parameter (UDP when it has none, RFC 3263).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from connectors.sip.message import Request, Response, SipParseError, make_response, parse_message, parse_via
from connectors.sip.stream import StreamConnections
from connectors.sip.transaction import AckTimeout, Addr, Incoming, Send, Timeout, TransactionLayer

log = logging.getLogger(__name__)
DROPPED_SUMMARY_SECONDS = 10.0
RequestHandler = Callable[[Request, Addr, tuple[str, ...] | None], None]


def new_token(n: int = 8) -> str:
    return os.urandom(n).hex()


class SipEndpoint(asyncio.DatagramProtocol):
    """A SIP endpoint bound to host:port (port 0: any free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, on_request: RequestHandler | None = None,
                 user_agent: str = "cti-pivot", user: str = "cti", transport: str = "udp") -> None:
        self.host, self.port, self.user_agent, self.user = host, port, user_agent, user
        if transport not in ("udp", "tcp"):
            raise ValueError(f"SIP transport {transport!r}: udp or tcp")
        self.transport_name = transport
        self.streams = StreamConnections(host, self._stream_message) if transport == "tcp" else None
        self.on_request = on_request or self._not_implemented
        self.on_ack_timeout: Callable[[Response], None] = lambda _r: None
        self.on_stray_response: Callable[[Response], None] = lambda _r: None
        self.layer: TransactionLayer | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[tuple[str, ...], asyncio.Future[Response]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.dropped = 0  # packets that were not SIP
        self._dropped_reported = 0
        self._dropped_report_at = -DROPPED_SUMMARY_SECONDS

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.layer = TransactionLayer(clock=loop.time)
        wanted = self.port
        for attempt in range(10):  # with TCP too, the same port number must be free for both
            await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, wanted))
            if self.streams is None:
                return
            try:
                await self.streams.listen(self.port)
                return
            except OSError:
                assert self.transport is not None
                self.transport.close()
                if wanted or attempt == 9:
                    raise

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("SIP endpoint closed"))
        if self.transport is not None:
            self.transport.close()
        if self.streams is not None:
            self.streams.close()

    # ---- asyncio protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport (asyncio's or uvloop's)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # CRLF keep-alives
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.dropped += 1
            self._report_dropped(f"{len(data)} bytes from {addr[0]}:{addr[1]}: {exc}")
            return
        try:
            assert self.layer is not None
            self._carry_out(self.layer.receive(message, (addr[0], addr[1])))
        except Exception:  # one packet must never silence the endpoint
            self.dropped += 1
            log.exception("SIP message from %s:%d could not be handled", addr[0], addr[1])

    def _report_dropped(self, last: str) -> None:
        """One line per DROPPED_SUMMARY_SECONDS however many packets (a flood of garbage is one line)."""
        now = asyncio.get_running_loop().time()
        if now - self._dropped_report_at < DROPPED_SUMMARY_SECONDS:
            return
        count = self.dropped - self._dropped_reported
        self._dropped_reported, self._dropped_report_at = self.dropped, now
        log.info("dropped %d packet(s) that are not SIP since the last report; the last: %s", count, last[:200])

    def _stream_message(self, data: bytes, peer: Addr) -> None:
        """One whole message from a TCP connection: handled as a datagram from that peer."""
        self.datagram_received(data, peer)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error (ICMP): %s", exc)

    # ---- user side ----------------------------------------------------------------------------
    def via(self, branch: str | None = None, transport: str | None = None) -> str:
        name = (transport or self.transport_name).upper()
        return f"SIP/2.0/{name} {self.host}:{self.port};branch=z9hG4bK{branch or new_token()};rport"

    def contact(self) -> str:
        """Our Contact: where requests for our account on this endpoint reach us."""
        suffix = ";transport=tcp" if self.transport_name == "tcp" else ""
        return f"<sip:{self.user}@{self.host}:{self.port}{suffix}>"

    def new_request(self, method: str, uri: str, *, from_: str, to: str, call_id: str, seq: int,
                    transport: str | None = None) -> Request:
        """A request with the headers every request carries (RFC 3261 8.1.1), a new branch and our
        Contact; over ``transport`` (default: the endpoint's, which is how the proxy is reached)."""
        request = Request(method=method, uri=uri)
        for name, value in (("Via", self.via(transport=transport)), ("Max-Forwards", "70"), ("From", from_), ("To", to),
                            ("Call-ID", call_id), ("CSeq", f"{seq} {method}"), ("Contact", self.contact())):
            request.headers.add(name, value)
        return request

    async def request(self, request: Request, target: Addr, *, timeout_seconds: float = 40.0) -> Response:
        """Send through a client transaction; the final response (TimeoutError when none)."""
        assert self.layer is not None
        request.headers.set("User-Agent", self.user_agent)
        key, actions = self.layer.send_request(request, target)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        self._carry_out(actions)
        try:
            return await asyncio.wait_for(future, timeout_seconds)
        finally:
            self._waiting.pop(key, None)

    def send_ack(self, ack: Request, target: Addr) -> None:
        assert self.layer is not None
        self._carry_out(self.layer.send_request(ack, target)[1])

    def respond(self, key: tuple[str, ...], response: Response) -> None:
        assert self.layer is not None
        response.headers.set("Server", self.user_agent)
        self._carry_out(self.layer.respond(key, response))

    def _not_implemented(self, request: Request, source: Addr, key: tuple[str, ...] | None) -> None:
        if key is not None:
            self.respond(key, make_response(request, 501, "Not Implemented", to_tag=new_token(4)))

    # ---- actions --------------------------------------------------------------------------------
    def _carry_out(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if self.streams is not None and _over_tcp(action.message):
                    self.streams.send(action.message.to_bytes(), action.target)
                elif self.transport is not None:
                    self.transport.sendto(action.message.to_bytes(), action.target)
            elif isinstance(action, Incoming):
                if isinstance(action.message, Response) and action.stray:
                    self.on_stray_response(action.message)
                elif isinstance(action.message, Response):
                    future = self._waiting.get(action.key) if action.key else None
                    if future is not None and not future.done() and action.message.status >= 200:
                        future.set_result(action.message)
                else:
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("request %s %s (key %s)", action.message.method, action.message.call_id,
                                  "none" if action.key is None else "new")
                    self.on_request(action.message, action.source, action.key)
            elif isinstance(action, Timeout):
                future = self._waiting.get(action.key)
                if future is not None and not future.done():
                    future.set_exception(TimeoutError(f"no final response to {action.request.method}"))
            elif isinstance(action, AckTimeout):
                self.on_ack_timeout(action.response)
        self._schedule()

    def _schedule(self) -> None:
        assert self.layer is not None
        deadline = self.layer.next_deadline()
        if self._timer is not None:
            if deadline is not None and abs(self._timer_at - deadline) < 1e-6:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer_at = deadline  # uvloop's handles do not tell their time
            self._timer = asyncio.get_running_loop().call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        assert self.layer is not None
        self._carry_out(self.layer.poll())


def _over_tcp(message: Request | Response) -> bool:
    try:
        return parse_via(message.headers.get("Via") or "").transport == "TCP"
    except SipParseError:
        return False
