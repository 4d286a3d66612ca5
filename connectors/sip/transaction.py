"""RFC 3261 section 17 transactions, sans-IO and table-driven.

``TransactionLayer`` takes in messages (``receive``), requests and responses from the user
(``send_request``, ``respond``) and the time (``poll``), and gives back what to do: ``Send``
a message to an address, and events for the user: ``Incoming`` requests and responses,
``Timeout``, ``AckTimeout``. It never touches a socket or a clock itself; tests drive it with
recorded messages and a fake clock.

The four state machines are the tables below: (state, event) -> (next state, actions). Events
are ``1xx``, ``2xx``, ``3xx+`` for responses, ``request`` for a retransmitted request, ``ack``,
``tu_1xx``/``tu_2xx``/``tu_3xx+`` for the user's responses, and timer names. Beyond section 17,
the layer does the two jobs RFC 3261 gives the UA core that are easiest to get wrong:
retransmitting a 2xx to INVITE until its ACK arrives (13.3.1.4), and handing 2xx
retransmissions that arrive after the client transaction ended to the user (to ACK again).
The server INVITE machine has RFC 6026's "accepted" state.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.sip.message import Request, Response, SipParseError, make_response, parse_via

T1, T2, T4 = 0.5, 4.0, 5.0
Addr = tuple[str, int]

# (state, event) -> (next state, actions). Actions: "send" (the request, again), "resend" (the
# last response), "ack" (ACK a non-2xx final), "deliver" (to the user), "timeout" (tell the
# user), "start:X" / "double:X" / "stop:X" (timers; double caps at T2 for E and G).
CLIENT_INVITE: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("calling", "start"): ("calling", ("send", "start:A", "start:B")),
    ("calling", "A"): ("calling", ("send", "double:A")),
    ("calling", "B"): ("terminated", ("timeout",)),
    ("calling", "1xx"): ("proceeding", ("stop:A", "deliver")),
    ("calling", "2xx"): ("terminated", ("deliver",)),
    ("calling", "3xx+"): ("completed", ("stop:A", "ack", "deliver", "start:D")),
    ("proceeding", "1xx"): ("proceeding", ("deliver",)),
    ("proceeding", "2xx"): ("terminated", ("deliver",)),
    ("proceeding", "3xx+"): ("completed", ("ack", "deliver", "start:D")),
    ("proceeding", "B"): ("proceeding", ()),  # once a provisional arrived, only the user's CANCEL ends it
    ("completed", "3xx+"): ("completed", ("ack",)),
    ("completed", "D"): ("terminated", ()),
}
CLIENT_NON_INVITE: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("trying", "start"): ("trying", ("send", "start:E", "start:F")),
    ("trying", "E"): ("trying", ("send", "double:E")),
    ("trying", "F"): ("terminated", ("timeout",)),
    ("trying", "1xx"): ("proceeding", ("deliver",)),
    ("trying", "2xx"): ("completed", ("stop:E", "stop:F", "deliver", "start:K")),
    ("trying", "3xx+"): ("completed", ("stop:E", "stop:F", "deliver", "start:K")),
    ("proceeding", "E"): ("proceeding", ("send", "cap:E")),
    ("proceeding", "F"): ("terminated", ("timeout",)),
    ("proceeding", "1xx"): ("proceeding", ("deliver",)),
    ("proceeding", "2xx"): ("completed", ("stop:E", "stop:F", "deliver", "start:K")),
    ("proceeding", "3xx+"): ("completed", ("stop:E", "stop:F", "deliver", "start:K")),
    ("completed", "1xx"): ("completed", ()),
    ("completed", "2xx"): ("completed", ()),
    ("completed", "3xx+"): ("completed", ()),
    ("completed", "K"): ("terminated", ()),
}
SERVER_INVITE: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("proceeding", "request"): ("proceeding", ("resend",)),
    ("proceeding", "tu_1xx"): ("proceeding", ("resend",)),
    # RFC 6026: after a 2xx the transaction stays "accepted" for timer L, absorbing the INVITE's
    # retransmissions (the caller has not heard the 2xx yet; the 2xx is retransmitted until its ACK
    # by the layer below). Deleting it at once (RFC 3261 as first written) let a retransmitted
    # INVITE look like a new call.
    ("proceeding", "tu_2xx"): ("accepted", ("resend", "start:L")),
    ("accepted", "request"): ("accepted", ()),
    ("accepted", "tu_2xx"): ("accepted", ("resend",)),
    ("accepted", "L"): ("terminated", ()),
    ("proceeding", "tu_3xx+"): ("completed", ("resend", "start:G", "start:H")),
    ("completed", "request"): ("completed", ("resend",)),
    ("completed", "G"): ("completed", ("resend", "double:G")),
    ("completed", "H"): ("terminated", ("timeout",)),
    ("completed", "ack"): ("confirmed", ("stop:G", "stop:H", "start:I")),
    ("confirmed", "ack"): ("confirmed", ()),
    ("confirmed", "request"): ("confirmed", ()),
    ("confirmed", "I"): ("terminated", ()),
}
SERVER_NON_INVITE: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("trying", "request"): ("trying", ()),
    ("trying", "tu_1xx"): ("proceeding", ("resend",)),
    ("trying", "tu_2xx"): ("completed", ("resend", "start:J")),
    ("trying", "tu_3xx+"): ("completed", ("resend", "start:J")),
    ("proceeding", "request"): ("proceeding", ("resend",)),
    ("proceeding", "tu_1xx"): ("proceeding", ("resend",)),
    ("proceeding", "tu_2xx"): ("completed", ("resend", "start:J")),
    ("proceeding", "tu_3xx+"): ("completed", ("resend", "start:J")),
    ("completed", "request"): ("completed", ("resend",)),
    ("completed", "J"): ("terminated", ()),
}


def timer_base(name: str, reliable: bool) -> float:
    """Initial duration of a timer (RFC 3261 table 4); 0 on reliable transports where it is unused."""
    unreliable = {"A": T1, "B": 64 * T1, "D": 32.0, "E": T1, "F": 64 * T1, "K": T4, "G": T1, "H": 64 * T1,
                  "I": T4, "J": 64 * T1, "L": 64 * T1}
    if reliable and name in ("A", "E", "G"):
        return -1.0  # never started: no retransmissions over TCP
    if reliable and name in ("D", "K", "I", "J"):
        return 0.0
    return unreliable[name]


@dataclass(frozen=True)
class Send:
    """Send these bytes to this address."""

    message: Request | Response
    target: Addr


@dataclass(frozen=True)
class Incoming:
    """For the user: a new request (with its server transaction key) or a response."""

    message: Request | Response
    source: Addr
    key: tuple[str, ...] | None = None
    stray: bool = False  # a response no transaction wanted (a 2xx retransmission: ACK it again)


@dataclass(frozen=True)
class Timeout:
    """A client transaction got no final answer, or a server INVITE transaction no ACK to its error."""

    request: Request
    key: tuple[str, ...]


@dataclass(frozen=True)
class AckTimeout:
    """A 2xx to INVITE was retransmitted for 64*T1 without an ACK: the call should be ended."""

    response: Response


Action = Send | Incoming | Timeout | AckTimeout


def response_class(status: int) -> str:
    return "1xx" if status < 200 else "2xx" if status < 300 else "3xx+"


@dataclass
class Transaction:
    key: tuple[str, ...]
    table: dict[tuple[str, str], tuple[str, tuple[str, ...]]]
    state: str
    request: Request
    peer: Addr
    reliable: bool
    last_response: Response | None = None
    intervals: dict[str, float] = field(default_factory=dict)
    generations: dict[str, int] = field(default_factory=dict)

    @property
    def client(self) -> bool:
        return self.table in (CLIENT_INVITE, CLIENT_NON_INVITE)


class TransactionLayer:
    """Every transaction of one SIP endpoint."""

    def __init__(self, *, clock: Callable[[], float], reliable: bool = False) -> None:
        self.clock, self.reliable = clock, reliable
        self.transactions: dict[tuple[str, ...], Transaction] = {}
        self._timers: list[tuple[float, int, tuple[str, ...], str, int]] = []
        self._order = itertools.count()
        self._pending_2xx: dict[tuple[str, int], dict[str, Any]] = {}  # (call-id, cseq) -> retransmission

    # ---- user side --------------------------------------------------------------------------
    def send_request(self, request: Request, target: Addr) -> tuple[tuple[str, ...], list[Action]]:
        """Start a client transaction (ACK has none: it is just sent)."""
        if request.method == "ACK":
            return ("ACK",), [Send(request, target)]
        key = client_key(request)
        table = CLIENT_INVITE if request.method == "INVITE" else CLIENT_NON_INVITE
        tx = Transaction(key, table, "calling" if table is CLIENT_INVITE else "trying", request, target,
                         self._reliable(request))
        self.transactions[key] = tx
        return key, self._fire(tx, "start", None)

    def respond(self, key: tuple[str, ...], response: Response) -> list[Action]:
        """Send the user's response through its server transaction."""
        tx = self.transactions.get(key)
        if tx is None or tx.client:
            return []  # the transaction is over (e.g. timed out): nothing to send it on
        tx.last_response = response
        actions = self._fire(tx, "tu_" + response_class(response.status), None)
        if tx.request.method == "INVITE" and 200 <= response.status < 300:
            self._remember_2xx(tx, response)
        return actions

    def poll(self) -> list[Action]:
        """Fire every timer that is due."""
        now, actions = self.clock(), []
        while self._timers and self._timers[0][0] <= now:
            _, _, key, name, generation = heapq.heappop(self._timers)
            if key[0] == "2xx":
                actions += self._retransmit_2xx(key, generation)
                continue
            tx = self.transactions.get(key)
            if tx is not None and tx.generations.get(name) == generation:
                actions += self._fire(tx, name, None)
        return actions

    def next_deadline(self) -> float | None:
        """When poll() next has something to do."""
        return self._timers[0][0] if self._timers else None

    # ---- network side -----------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Addr) -> list[Action]:
        """A parsed message from the network."""
        if isinstance(message, Response):
            return self._receive_response(message, source)
        return self._receive_request(message, source)

    def _receive_response(self, response: Response, source: Addr) -> list[Action]:
        try:
            key = response_key(response)
        except SipParseError:
            return []
        tx = self.transactions.get(key)
        if tx is None:
            return [Incoming(response, source, None, stray=True)]
        tx.last_response = response if response.status >= 200 else tx.last_response
        return self._fire(tx, response_class(response.status), response, source)

    def _receive_request(self, request: Request, source: Addr) -> list[Action]:
        key = server_key(request)
        if request.method == "ACK":
            tx = self.transactions.get(key)
            if tx is not None:
                return self._fire(tx, "ack", request, source)
            self._pending_2xx.pop((request.call_id, request.cseq[0]), None)  # the ACK to our 2xx
            return [Incoming(request, source, None)]
        tx = self.transactions.get(key)
        if tx is not None:
            return self._fire(tx, "request", request, source)
        table = SERVER_INVITE if request.method == "INVITE" else SERVER_NON_INVITE
        tx = Transaction(key, table, "proceeding" if table is SERVER_INVITE else "trying", request,
                         response_target(request, source), self._reliable(request))
        self.transactions[key] = tx
        if table is SERVER_INVITE:  # 17.2.1: answer 100 at once so the caller stops retransmitting
            tx.last_response = make_response(request, 100, "Trying")
            return [Send(tx.last_response, tx.peer), Incoming(request, source, key)]
        return [Incoming(request, source, key)]

    def _reliable(self, request: Request) -> bool:
        """Whether the request travels over a reliable transport (its top Via says TCP or TLS):
        then nothing is retransmitted (17.1.1.2, 17.1.2.2, 17.2.1)."""
        if self.reliable:
            return True
        try:
            return parse_via(request.headers.get("Via") or "").transport in ("TCP", "TLS")
        except SipParseError:
            return False

    # ---- the interpreter --------------------------------------------------------------------
    def _fire(self, tx: Transaction, event: str, message: Request | Response | None,
              source: Addr | None = None) -> list[Action]:
        step = tx.table.get((tx.state, event))
        if step is None:
            return []  # not meaningful in this state: absorbed
        tx.state, codes = step
        actions: list[Action] = []
        for code in codes:
            verb, _, timer = code.partition(":")
            if verb == "send":
                actions.append(Send(tx.request, tx.peer))
            elif verb == "resend" and tx.last_response is not None:
                actions.append(Send(tx.last_response, tx.peer))
            elif verb == "ack" and isinstance(message, Response):
                actions.append(Send(ack_for_error(tx.request, message), tx.peer))
            elif verb == "deliver" and message is not None:
                actions.append(Incoming(message, source or tx.peer, tx.key))
            elif verb == "timeout":
                actions.append(Timeout(tx.request, tx.key))
            elif verb == "start":
                self._start(tx, timer, timer_base(timer, tx.reliable))
            elif verb == "double":
                interval = tx.intervals[timer] * 2
                self._start(tx, timer, min(interval, T2) if timer in ("E", "G") else interval)
            elif verb == "cap":
                self._start(tx, timer, T2)
            elif verb == "stop":
                tx.generations[timer] = -1
        if tx.state == "terminated":
            self.transactions.pop(tx.key, None)
        return actions

    def _start(self, tx: Transaction, name: str, interval: float) -> None:
        if interval < 0:
            return
        generation = tx.generations.get(name, 0) + 1
        tx.generations[name], tx.intervals[name] = generation, interval
        heapq.heappush(self._timers, (self.clock() + interval, next(self._order), tx.key, name, generation))

    # ---- 2xx to INVITE, until ACK (RFC 3261 13.3.1.4) ---------------------------------------
    def _remember_2xx(self, tx: Transaction, response: Response) -> None:
        if tx.reliable:
            return
        ident = (response.call_id, response.cseq[0])
        self._pending_2xx[ident] = {"response": response, "peer": tx.peer, "interval": T1,
                                    "deadline": self.clock() + 64 * T1, "generation": 1}
        heapq.heappush(self._timers, (self.clock() + T1, next(self._order), ("2xx", *map(str, ident)), "2xx", 1))

    def _retransmit_2xx(self, key: tuple[str, ...], generation: int) -> list[Action]:
        ident = (key[1], int(key[2]))
        pending = self._pending_2xx.get(ident)
        if pending is None or pending["generation"] != generation:
            return []
        if self.clock() >= pending["deadline"]:
            del self._pending_2xx[ident]
            return [AckTimeout(pending["response"])]
        pending["interval"] = min(pending["interval"] * 2, T2)
        pending["generation"] += 1
        heapq.heappush(self._timers, (self.clock() + pending["interval"], next(self._order), key, "2xx",
                                      pending["generation"]))
        return [Send(pending["response"], pending["peer"])]


def client_key(request: Request) -> tuple[str, ...]:
    via = parse_via(request.headers.get("Via") or "")
    return ("c", via.branch, request.method)


def response_key(response: Response) -> tuple[str, ...]:
    via = parse_via(response.headers.get("Via") or "")
    return ("c", via.branch, response.cseq[1])


def server_key(request: Request) -> tuple[str, ...]:
    """RFC 3261 17.2.3: branch + sent-by + method (ACK matches its INVITE); RFC 2543 fallback."""
    via = parse_via(request.headers.get("Via") or "")
    method = "INVITE" if request.method == "ACK" else request.method
    if via.branch.startswith("z9hG4bK"):
        host, port = via.sent_by()
        return ("s", via.branch, host, str(port), method)
    from_tag = (request.headers.get("From") or "").partition(";tag=")[2].split(";")[0]
    return ("s2543", request.call_id, str(request.cseq[0]), from_tag, request.headers.get("Via") or "", method)


def response_target(request: Request, source: Addr) -> Addr:
    """Where responses go (RFC 3261 18.2.2): the source address (the "received" host) at the
    sent-by port, or the source port too when the client asked for rport (RFC 3581)."""
    via = parse_via(request.headers.get("Via") or "")
    if "rport" in via.params:
        return source
    return source[0], via.sent_by()[1]


def ack_for_error(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 3xx-6xx (RFC 3261 17.1.1.3)."""
    ack = Request(method="ACK", uri=invite.uri)
    for name in ("Via",):
        ack.headers.add(name, invite.headers.get_all("Via")[0])
    for name in ("Route",):
        for value in invite.headers.get_all(name):
            ack.headers.add(name, value)
    ack.headers.add("From", invite.headers.get("From") or "")
    ack.headers.add("To", response.headers.get("To") or "")
    ack.headers.add("Call-ID", invite.call_id)
    ack.headers.add("CSeq", f"{invite.cseq[0]} ACK")
    ack.headers.add("Max-Forwards", "70")
    return ack
