"""Calls to the server (UAS): answer with SDP, take BYE, hang up with BYE (RFC 3261 13.3 and 15)."""

from __future__ import annotations

import contextlib

from connectors.sip import sdp
from connectors.sip.address import parse_address
from connectors.sip.call import CallLeg, CallManager
from connectors.sip.dialog import Dialog
from connectors.sip.message import Request, make_response
from connectors.sip.transaction import Addr


class IncomingCall(CallLeg):
    """One INVITE the server received."""

    def __init__(self, manager: CallManager, invite: Request, key: tuple[str, ...], source: Addr) -> None:
        super().__init__(manager, invite.call_id)
        self.invite, self.key, self.source = invite, key, source
        self.caller = parse_address(invite.headers.get("From") or "")
        if invite.body:
            with contextlib.suppress(ValueError):
                self.media = sdp.parse(invite.body)

    def ringing(self) -> None:
        self.endpoint.respond(self.key, make_response(self.invite, 180, "Ringing", to_tag=self.local_tag))

    def answer(self, answer_sdp: bytes) -> None:
        """200 OK with our SDP; the endpoint retransmits it until the ACK comes. A caller that offers
        session timers (RFC 4028) refreshes the session itself: the call ends if it does not."""
        response = make_response(self.invite, 200, "OK", to_tag=self.local_tag)
        response.headers.add("Contact", self.endpoint.contact())
        expires = session_expires(self.invite)
        if expires is not None:
            self.session_expires = expires
            response.headers.add("Session-Expires", f"{expires};refresher=uac")
            response.headers.add("Require", "timer")
        response.headers.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY")
        response.headers.add("Content-Type", "application/sdp")
        response.body = answer_sdp
        self.dialog = Dialog.from_uas(self.invite, self.local_tag)
        self.local_sdp = answer_sdp
        self.manager.calls[self.call_id] = self
        self.endpoint.respond(self.key, response)

    def reject(self, status: int, reason: str) -> None:
        self.endpoint.respond(self.key, make_response(self.invite, status, reason, to_tag=self.local_tag))
        self._end("us")

    def _default_hop(self) -> Addr:
        return self.source


MIN_SE = 90  # RFC 4028's smallest session interval


def session_expires(invite: Request) -> int | None:
    """The session interval a caller that supports timers asks for (at least MIN_SE), or None."""
    value = invite.headers.get("Session-Expires") or invite.headers.get("x")
    supported = ",".join(invite.headers.get_all("Supported") + invite.headers.get_all("k")).lower()
    if not value or "timer" not in supported:
        return None
    number = value.split(";", 1)[0].strip()
    return max(MIN_SE, int(number)) if number.isdigit() and len(number) < 8 else None
