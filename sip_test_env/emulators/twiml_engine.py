"""The Twilio emulator's call engine: TwiML execution, <Dial> with real SIP legs, status callbacks.

A mixin of TwilioEmulator (sip_test_env/emulators/twilio.py), which provides ``manager`` (a SIP
CallManager through the registrar, or None), ``numbers`` (E.164 -> SIP URI), ``calls_by_sid``,
``status_url``, ``account_sid``, ``auth_token``, ``deliver`` and ``_spawn``. Verbs: Say, Play and
Pause are logged; Enqueue waits for the application to redirect or end the call; Dial rings a
Sip or Number noun through the registrar, relays RTP between the legs, and requests its action
with DialCallStatus (a REST redirect in the middle ends the Dial without one); Connect/Stream
carries the caller's audio over a Media Streams WebSocket (media_stream.py) until the application
closes it; Hangup ends the call; Redirect fetches new TwiML. Status callbacks carry SequenceNumber in order.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
import xml.etree.ElementTree as ET
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import aiohttp

from connectors.sip import sdp
from connectors.sip.call import CallFailed, OutgoingCall
from connectors.sip.relay import RtpRelay
from sip_test_env.emulators.media_stream import MediaStream


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """base64 HMAC-SHA1 over the URL and the sorted form fields (name + value), as Twilio signs."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class EmulatedCall:
    """One call the engine drives (parent call, with its media relay)."""

    def __init__(self, call_sid: str, from_: str, to: str, direction: str) -> None:
        self.sid, self.from_, self.to, self.direction = call_sid, from_, to, direction
        self.status = "queued"
        self.started = time.time()
        self.answered_at: float | None = None
        self.log: list[str] = []
        self.twiml: asyncio.Queue[str] = asyncio.Queue()
        self.relay = RtpRelay()
        self.own_leg: OutgoingCall | None = None  # the SIP leg that carries this call's own audio
        self.child: OutgoingCall | None = None
        self.status_callback = ""
        self.status_events: list[str] = []
        self.sequence = 0
        self.done = asyncio.Event()
        self.stream: MediaStream | None = None  # <Connect><Stream>: the last Media Stream


class CallEngine:
    """Drives calls (see the module docstring for what the host class provides)."""

    manager: Any
    numbers: dict[str, str]
    calls_by_sid: dict[str, EmulatedCall]
    status_url: str
    account_sid: str
    auth_token: str

    if TYPE_CHECKING:  # provided by the host class (the emulator)
        async def deliver(self, body: bytes, headers: dict[str, str], *, url: str | None = None,
                          method: str = "POST") -> tuple[int, str]: ...

        def _spawn(self, coro: Any) -> None: ...

    # ---- signed requests to the application ------------------------------------------------------
    async def signed(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", **params}
        body = urllib.parse.urlencode(params).encode()
        return await self.deliver(body, {"Content-Type": "application/x-www-form-urlencoded",
                                         "X-Twilio-Signature": twilio_signature(self.auth_token, url, params)},
                                  url=url)

    def _call_params(self, call: EmulatedCall, **extra: str) -> dict[str, str]:
        return {"CallSid": call.sid, "From": call.from_, "To": call.to, "CallStatus": call.status,
                "Direction": call.direction, **extra}

    async def _status(self, call: EmulatedCall, status: str, url: str, events: list[str], *,
                      child_sid: str | None = None) -> None:
        event = {"in-progress": "answered"}.get(status, status)
        if not url or (event not in events and status not in ("completed", "busy", "no-answer", "failed")):
            return
        params = self._call_params(call, CallStatus=status, CallbackSource="call-progress-events",
                                   SequenceNumber=str(call.sequence), Timestamp=formatdate(usegmt=True))
        call.sequence += 1
        if child_sid:
            params.update(CallSid=child_sid, ParentCallSid=call.sid)
        if status == "completed" and call.answered_at:
            params["CallDuration"] = str(int(time.time() - call.answered_at))
        try:
            await self.signed(url, params)
        except aiohttp.ClientError as exc:  # like Twilio, a callback that cannot be delivered is logged and dropped
            call.log.append(f"status callback failed: {exc}")

    # ---- the call engine -------------------------------------------------------------------
    async def _run(self, call: EmulatedCall, document: str) -> None:
        """Execute TwiML documents until the call ends."""
        pending: str | None = document
        while pending is not None and not call.done.is_set():
            pending = await self._execute(call, pending)
        if not call.done.is_set():
            await self._finish(call, "completed")

    async def _execute(self, call: EmulatedCall, document: str) -> str | None:
        try:
            root = ET.fromstring(document)
        except ET.ParseError:
            call.log.append("bad TwiML")
            return None
        for verb in root:
            call.log.append(verb.tag)
            if verb.tag == "Hangup":
                return None
            if verb.tag in ("Say", "Play", "Pause"):
                continue
            if verb.tag == "Redirect" and verb.text:
                return await self._fetch(verb.text.strip(), call)
            if verb.tag == "Enqueue":  # wait until the application redirects or ends the call
                waiter = asyncio.ensure_future(call.twiml.get())
                ended = asyncio.ensure_future(call.done.wait())
                done, _ = await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
                ended.cancel()
                if waiter in done:
                    return waiter.result()
                waiter.cancel()
                return None
            if verb.tag == "Dial":
                return await self._dial(call, verb)
            if verb.tag == "Connect" and (stream := verb.find("Stream")) is not None:
                url = stream.get("url", "")
                call.stream = MediaStream(call, stream, account_sid=self.account_sid, stream_sid=sid("MZ"),
                                          signature=twilio_signature(self.auth_token, url, {}))
                call.log.append(await call.stream.run())
                if call.done.is_set():
                    return None
                if verb.get("action"):
                    return await self._fetch(verb.get("action", ""), call)
        return None

    async def _fetch(self, url: str, call: EmulatedCall, **extra: str) -> str | None:
        status, text = await self.signed(url, self._call_params(call, **extra))
        return text if status == 200 else None

    def _sip_target(self, noun: ET.Element) -> str:
        value = (noun.text or "").strip()
        return value if noun.tag == "Sip" else self.numbers.get(value, f"sip:{value.lstrip('+')}@127.0.0.1")

    async def _dial(self, call: EmulatedCall, dial: ET.Element) -> str | None:
        noun = next((n for n in dial if n.tag in ("Sip", "Number")), None)
        action = dial.get("action", "")
        if noun is None or self.manager is None:
            return await self._fetch(action, call, DialCallStatus="failed") if action else None
        child_sid = sid("CA")
        events = (noun.get("statusCallbackEvent") or "completed").split()
        callback = noun.get("statusCallback", "")
        leg = self.manager.call(self._sip_target(noun))
        call.child = leg
        offer = sdp.offer("127.0.0.1", call.relay.b.port, payloads=(0, 101))
        try:
            media = await leg.dial(offer, ring_seconds=float(dial.get("timeout", 30)))
        except CallFailed as exc:
            outcome = "busy" if exc.status in (486, 600) else "no-answer" if exc.status in (0, 408, 480, 487) \
                else "failed"
            call.log.append(f"dial {outcome}")
            await self._status(call, outcome, callback, events, child_sid=child_sid)
            return await self._fetch(action, call, DialCallStatus=outcome, DialCallSid=child_sid) if action else None
        call.relay.set_peer("b", (media.host, media.port))
        answered = time.time()
        call.log.append("dial answered")
        await self._status(call, "in-progress", callback, events, child_sid=child_sid)
        redirect = asyncio.ensure_future(call.twiml.get())  # a REST update redirects the call, ending the Dial
        waits = [asyncio.ensure_future(leg.ended.wait()), asyncio.ensure_future(call.done.wait()), redirect]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waits[:2]:
            waiter.cancel()
        if not redirect.done():
            redirect.cancel()
        await leg.hangup()
        call.relay.forget_peer("b")
        duration = str(int(time.time() - answered))
        await self._status(call, "completed", callback, events, child_sid=child_sid)
        if redirect.done() and not redirect.cancelled():
            return redirect.result()  # (Twilio requests no <Dial> action on a redirect)
        if call.done.is_set() or not action:
            return None
        return await self._fetch(action, call, DialCallStatus="completed", DialCallSid=child_sid,
                                 DialCallDuration=duration)

    async def _finish(self, call: EmulatedCall, status: str) -> None:
        if call.done.is_set():
            return
        call.done.set()
        call.status = status
        for leg in (call.child, call.own_leg):
            if leg is not None:
                await leg.hangup()
        call.relay.close()
        url = call.status_callback or (self.status_url if call.direction == "inbound" else "")
        await self._status(call, status, url, call.status_events or ["completed"])
        self.calls_by_sid.pop(call.sid, None)

    async def _own_leg(self, call: EmulatedCall, uri: str, ring_seconds: float) -> bool:
        """Ring the SIP phone that carries this call's own audio (the caller, or the agent of an
        outbound call); True when it answered."""
        assert self.manager is not None
        await call.relay.open()
        leg = call.own_leg = self.manager.call(uri)
        try:
            media = await leg.dial(sdp.offer("127.0.0.1", call.relay.a.port, payloads=(0, 101)),
                                   ring_seconds=ring_seconds)
        except CallFailed as exc:
            call.log.append(f"own leg failed {exc.status}")
            return False
        call.relay.set_peer("a", (media.host, media.port))
        self._spawn(self._hang_up_with(call, leg))
        return True

    async def _hang_up_with(self, call: EmulatedCall, leg: OutgoingCall) -> None:
        await leg.ended.wait()
        if leg.ended_by == "them":
            await self._finish(call, "completed")

    async def _run_outbound(self, call: EmulatedCall, document: str, ring_seconds: int) -> None:
        call.status = "ringing"
        await self._status(call, "ringing", call.status_callback, call.status_events)
        if self.manager is None or not await self._own_leg(call, self._sip_target(
                ET.fromstring(f"<Number>{call.to}</Number>") if not call.to.startswith("sip:") else
                ET.fromstring(f"<Sip>{call.to}</Sip>")), ring_seconds):
            call.done.set()
            call.status = "no-answer"
            await self._status(call, "no-answer", call.status_callback, call.status_events)
            self.calls_by_sid.pop(call.sid, None)
            return
        call.status, call.answered_at = "in-progress", time.time()
        await self._status(call, "in-progress", call.status_callback, call.status_events)
        await self._run(call, document)

