"""Calls the server places (UAC): INVITE with digest, ACK, BYE, CANCEL; and the dialogs' in-dialog traffic.

``CallManager`` owns the endpoint's request callback: requests inside a known dialog (BYE,
re-INVITE, INFO) go to their call, others to a fallback (OPTIONS, new INVITEs). A 2xx that
arrives again after the INVITE transaction ended is ACKed again (RFC 3261 13.2.2.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from connectors.sip import sdp
from connectors.sip.address import parse_address
from connectors.sip.dialog import Dialog
from connectors.sip.digest import UnsupportedChallenge, authorization, parse_challenge
from connectors.sip.endpoint import SipEndpoint, new_token
from connectors.sip.message import Request, Response, make_response
from connectors.sip.register import Account
from connectors.sip.transaction import Addr
from connectors.tasks import TaskSet

log = logging.getLogger(__name__)


class CallFailed(Exception):
    """The far end did not take the call: ``status`` is its final answer (0: no answer at all)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


class CallLeg:
    """What both directions share: the dialog, in-dialog requests, hanging up, ending once."""

    def __init__(self, manager: CallManager, call_id: str) -> None:
        self.manager, self.endpoint, self.call_id = manager, manager.endpoint, call_id
        self.local_tag = new_token(6)
        self.dialog: Dialog | None = None
        self.media: sdp.MediaDescription | None = None
        self.local_sdp: bytes | None = None  # what we last offered or answered
        self.ended = asyncio.Event()
        self.confirmed = asyncio.Event()  # the INVITE's 2xx was ACKed (RFC 3261 13.3.1.4): only then media
        self.session_expires: int | None = None  # RFC 4028: the far end refreshes within this, or the call ends
        self.refreshed_at = time.monotonic()  # the last INVITE/UPDATE of the session
        self.ended_by: str | None = None  # "us" or "them"
        self.on_refer: Callable[[str], Awaitable[bool]] | None = None  # REFER taken: the transfer's outcome
        self.on_direction: Callable[[str], None] | None = None  # the far end's re-INVITE: its stream direction

    def _default_hop(self) -> Addr:
        return self.manager.proxy

    async def hangup(self) -> None:
        """BYE (once); the call is over whatever the far end answers. A call still ringing is
        CANCELled instead (the ringing phone stops)."""
        if self.ended.is_set():
            return
        if self.dialog is None:
            await self._cancel_ringing()
            return
        self._end("us")
        bye = self.dialog.request(self.endpoint, "BYE")
        with contextlib.suppress(TimeoutError):
            await self.endpoint.request(bye, self.dialog.next_hop(self._default_hop()), timeout_seconds=10)

    async def _cancel_ringing(self) -> None:
        """Nothing to cancel on this side (an incoming call is answered or refused at once)."""

    async def info(self, body: bytes, content_type: str) -> None:
        """An in-dialog INFO (DTMF for a phone without RFC 4733)."""
        if self.dialog is None or self.ended.is_set():
            return
        request = self.dialog.request(self.endpoint, "INFO", body=body, content_type=content_type)
        with contextlib.suppress(TimeoutError):
            await self.endpoint.request(request, self.dialog.next_hop(self._default_hop()), timeout_seconds=5)

    async def reinvite(self, direction: str) -> bool:
        """Offer our stream again with another direction (hold: sendonly; resume: sendrecv).
        True when the far end took it (2xx, ACKed)."""
        if self.dialog is None or self.ended.is_set() or self.local_sdp is None:
            return False
        offer = self.local_sdp = sdp.revise(self.local_sdp, direction)
        invite = self.dialog.request(self.endpoint, "INVITE", body=offer)
        invite.headers.add("Contact", self.endpoint.contact())
        hop = self.dialog.next_hop(self._default_hop())
        try:
            response = await self.endpoint.request(invite, hop, timeout_seconds=10)
        except TimeoutError:
            return False
        if response.status >= 300:
            return False
        self.endpoint.send_ack(self.dialog.ack(self.endpoint, invite.cseq[0]), hop)
        with contextlib.suppress(ValueError):
            self.media = sdp.parse(response.body)
        return True

    def on_request(self, request: Request, key: tuple[str, ...]) -> None:
        """An in-dialog request from the far end."""
        if request.method in ("INVITE", "UPDATE"):
            self.refreshed_at = time.monotonic()  # a session refresh (RFC 4028)
        if request.method == "BYE":
            self.endpoint.respond(key, make_response(request, 200, "OK"))
            self._end("them")
        elif request.method == "INVITE":
            self._answer_reinvite(request, key)
        elif request.method == "REFER":
            self._take_refer(request, key)
        elif request.method in ("INFO", "OPTIONS", "UPDATE", "NOTIFY"):
            self.endpoint.respond(key, make_response(request, 200, "OK"))
        else:
            self.endpoint.respond(key, make_response(request, 488, "Not Acceptable Here"))

    def _answer_reinvite(self, request: Request, key: tuple[str, ...]) -> None:
        """The far end holds or resumes (or moves its media): answer with our stream, direction mirrored."""
        offered: sdp.MediaDescription | None = None
        if request.body:
            try:
                offered = sdp.parse(request.body)
            except ValueError:
                self.endpoint.respond(key, make_response(request, 488, "Not Acceptable Here"))
                return
        if self.local_sdp is None:
            self.endpoint.respond(key, make_response(request, 488, "Not Acceptable Here"))
            return
        direction = sdp.MIRROR[offered.direction] if offered else "sendrecv"
        self.local_sdp = sdp.revise(self.local_sdp, direction)
        response = make_response(request, 200, "OK")
        response.headers.add("Contact", self.endpoint.contact())
        response.headers.add("Content-Type", "application/sdp")
        response.body = self.local_sdp
        if offered is not None:
            self.media = offered
        self.endpoint.respond(key, response)
        if offered is not None and self.on_direction is not None:
            self.on_direction(offered.direction)

    def _take_refer(self, request: Request, key: tuple[str, ...]) -> None:
        """A transfer asked for by this leg's phone (RFC 3515): 202, then NOTIFYs with the outcome."""
        refer_to = request.headers.get("Refer-To") or request.headers.get("r") or ""
        if self.on_refer is None or not refer_to:
            self.endpoint.respond(key, make_response(request, 403 if refer_to else 400,
                                                     "Forbidden" if refer_to else "Refer-To Missing"))
            return
        target = parse_address(refer_to).uri.split("?", 1)[0]
        self.endpoint.respond(key, make_response(request, 202, "Accepted"))
        self.manager.spawn(self._follow_refer(target))

    async def _follow_refer(self, target: str) -> None:
        assert self.on_refer is not None
        await self._notify(b"SIP/2.0 100 Trying\r\n", "active;expires=60")
        connected = await self.on_refer(target)
        await self._notify(b"SIP/2.0 200 OK\r\n" if connected else b"SIP/2.0 503 Service Unavailable\r\n",
                           "terminated;reason=noresource")

    async def _notify(self, fragment: bytes, state: str) -> None:
        if self.dialog is None or self.ended.is_set():
            return
        notify = self.dialog.request(self.endpoint, "NOTIFY", body=fragment, content_type="message/sipfrag;version=2.0")
        notify.headers.add("Event", "refer")
        notify.headers.add("Subscription-State", state)
        notify.headers.add("Contact", self.endpoint.contact())
        with contextlib.suppress(TimeoutError):
            await self.endpoint.request(notify, self.dialog.next_hop(self._default_hop()), timeout_seconds=5)

    def _end(self, by: str) -> None:
        if not self.ended.is_set():
            self.ended_by = by
            self.ended.set()
        self.manager.calls.pop(self.call_id, None)


class OutgoingCall(CallLeg):
    """One call from the server to a SIP URI, through the proxy."""

    def __init__(self, manager: CallManager, target: str) -> None:
        super().__init__(manager, f"{new_token(12)}@{manager.endpoint.host}")
        self.target = target
        self._invite: Request | None = None

    def _invite_request(self, seq: int, offer: bytes) -> Request:
        account = self.manager.account
        invite = self.endpoint.new_request(
            "INVITE", self.target, from_=f"<sip:{account.username}@{account.domain}>;tag={self.local_tag}",
            to=f"<{self.target}>", call_id=self.call_id, seq=seq)
        invite.headers.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY")
        invite.headers.add("Content-Type", "application/sdp")
        invite.body = offer
        return invite

    async def dial(self, offer: bytes, *, ring_seconds: float = 60.0) -> sdp.MediaDescription:
        """Ring the target; return its media once it answers, or raise CallFailed."""
        self.manager.calls[self.call_id] = self
        invite = self._invite = self._invite_request(1, offer)
        for attempt in range(3):  # the first try, an answer to 401/407, one retry on a stale nonce
            try:
                response = await self.endpoint.request(invite, self.manager.proxy, timeout_seconds=ring_seconds)
            except TimeoutError:
                await self.cancel()
                self._forget()
                raise CallFailed(0, "no answer") from None
            if response.status in (401, 407) and attempt < 2:
                answered = self._with_credentials(invite.cseq[0] + 1, offer, response)
                if answered is not None:
                    invite = self._invite = answered
                    continue
            break
        if response.status >= 300:
            self._forget()
            raise CallFailed(response.status, response.reason)
        self.dialog = Dialog.from_uac(invite, response)
        self.local_sdp = offer
        hop = self.dialog.next_hop(self.manager.proxy)
        self.endpoint.send_ack(self.dialog.ack(self.endpoint, invite.cseq[0]), hop)
        if self.ended.is_set():  # we cancelled, but the 200 crossed the CANCEL: end it with a BYE (9.1)
            with contextlib.suppress(TimeoutError):
                await self.endpoint.request(self.dialog.request(self.endpoint, "BYE"), hop, timeout_seconds=10)
            raise CallFailed(487, "Request Terminated")
        self.media = sdp.parse(response.body)
        self.confirmed.set()  # (our own ACK confirms it)
        return self.media

    def _with_credentials(self, seq: int, offer: bytes, challenge: Response) -> Request | None:
        header, answer = (("WWW-Authenticate", "Authorization") if challenge.status == 401
                          else ("Proxy-Authenticate", "Proxy-Authorization"))
        try:
            parsed = parse_challenge(challenge.headers.get(header) or "")
        except UnsupportedChallenge:
            return None
        account = self.manager.account
        invite = self._invite_request(seq, offer)
        invite.headers.add(answer, authorization(parsed, method="INVITE", uri=invite.uri, username=account.username,
                                                 password=account.password))
        return invite

    async def _cancel_ringing(self) -> None:
        if self._invite is not None:
            self._end("us")
            await self.cancel()

    async def cancel(self) -> None:
        """CANCEL the pending INVITE (RFC 3261 9.1): same branch and CSeq number."""
        invite = self._invite
        if invite is None:
            return
        cancel = Request(method="CANCEL", uri=invite.uri)
        cancel.headers.add("Via", invite.headers.get_all("Via")[0])
        cancel.headers.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            cancel.headers.add(name, invite.headers.get(name) or "")
        cancel.headers.add("CSeq", f"{invite.cseq[0]} CANCEL")
        with contextlib.suppress(TimeoutError):
            await self.endpoint.request(cancel, self.manager.proxy, timeout_seconds=5)

    def _forget(self) -> None:
        self.manager.calls.pop(self.call_id, None)


class CallManager:
    """Calls on one endpoint, through one proxy, as one account."""

    def __init__(self, endpoint: SipEndpoint, account: Account, proxy: Addr,
                 fallback: Callable[[Request, Addr, tuple[str, ...] | None], None] | None = None) -> None:
        self.endpoint, self.account, self.proxy = endpoint, account, proxy
        endpoint.user = account.username
        self.calls: dict[str, CallLeg] = {}
        self._tasks = TaskSet(log)
        self.fallback = fallback or endpoint.on_request
        endpoint.on_request = self._on_request
        endpoint.on_stray_response = self._on_stray
        endpoint.on_ack_timeout = self._on_ack_timeout

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run an in-dialog exchange (a REFER's NOTIFYs) beside the endpoint's callback."""
        self._tasks.spawn(coro)

    def call(self, target: str) -> OutgoingCall:
        return OutgoingCall(self, target)

    def _on_request(self, request: Request, source: Addr, key: tuple[str, ...] | None) -> None:
        call = self.calls.get(request.call_id)
        if request.method == "ACK":
            if call is not None and call.dialog is not None and _in_dialog(request, call.dialog):
                call.confirmed.set()
            return  # (an ACK never gets an answer)
        if call is not None and key is not None and call.dialog is not None:
            if _in_dialog(request, call.dialog):
                call.confirmed.set()  # our tag in its request: the far end has our 2xx (its ACK may be lost)
                call.on_request(request, key)
            else:  # the Call-ID of a call of ours with tags that are not its dialog's (12.2.2)
                self.endpoint.respond(key, make_response(request, 481, "Call/Transaction Does Not Exist"))
            return
        if key is not None and parse_address(request.headers.get("To") or "").tag:
            self.endpoint.respond(key, make_response(request, 481, "Call/Transaction Does Not Exist"))
            return  # an in-dialog request for no dialog of ours (RFC 3261 12.2.2)
        self.fallback(request, source, key)

    def _on_ack_timeout(self, response: Response) -> None:
        """Our 2xx to an INVITE was never ACKed (64*T1): the session ends with a BYE (RFC 3261 13.3.1.4)."""
        call = self.calls.get(response.call_id)
        if call is not None and not call.ended.is_set():
            self.spawn(call.hangup())

    def _on_stray(self, response: Response) -> None:
        call = self.calls.get(response.call_id)
        if call is None or call.dialog is None or response.status >= 300:
            return
        seq, method = response.cseq
        if method == "INVITE":
            self.endpoint.send_ack(call.dialog.ack(self.endpoint, seq), call.dialog.next_hop(self.proxy))


def _in_dialog(request: Request, dialog: Dialog) -> bool:
    """Whether the request's tags are this dialog's: To is our tag, From the peer's."""
    to_tag = parse_address(request.headers.get("To") or "").tag
    from_tag = parse_address(request.headers.get("From") or "").tag
    return to_tag == dialog.local_tag and from_tag == dialog.remote_tag
