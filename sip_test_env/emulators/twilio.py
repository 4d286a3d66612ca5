"""A Twilio emulator: the REST API the twilio library calls (accounts, messages, calls create and
update) and a call engine that drives calls as Twilio does: the number's voice webhook, TwiML
(Say, Play, Pause, Enqueue, Dial with Sip/Number, Hangup, Redirect), <Dial> action requests and
status callbacks in order, every request signed with X-Twilio-Signature. ``<Dial><Sip>`` and
``<Dial><Number>`` place real SIP calls through a registrar (Kamailio) and relay RTP between the
legs, so audio crosses end to end. Numbers are mapped to SIP URIs (``numbers``).

Control: ``POST /_control/number {"voice_url", "status_url", "sms_url"}`` configures the Twilio
number; ``POST /_control/sms {"from", "body"}`` delivers an inbound SMS; ``POST /_control/call
{"from", "caller_sip"?}`` starts an inbound call (``caller_sip``: a phone that stands for the
caller, so the caller's audio is real); ``GET /_control/messages`` lists SMS sent through the API;
``GET /_control/log`` lists what each call did.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import secrets
import time
import urllib.parse
import xml.etree.ElementTree as ET
from email.utils import formatdate
from typing import Any

import aiohttp
from aiohttp import web

from connectors.sip import sdp
from connectors.sip.call import CallFailed, CallManager, OutgoingCall
from connectors.sip.endpoint import SipEndpoint
from connectors.sip.register import Account
from connectors.sip.relay import RtpRelay
from sip_test_env.emulators.base import Emulator

API = "/2010-04-01/Accounts/{account}"
sequence = itertools.count(1)


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


class TwilioEmulator(Emulator):
    def __init__(self, *, account_sid: str = "AC" + "0" * 32, auth_token: str = "twilio-auth-token",
                 phone_number: str = "+15550100", sip_proxy: tuple[str, int] | None = None,
                 numbers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.account_sid, self.auth_token, self.phone_number = account_sid, auth_token, phone_number
        self.sip_proxy = sip_proxy
        self.numbers = dict(numbers or {})  # E.164 -> SIP URI that rings for it
        self.voice_url = self.status_url = self.sms_url = ""
        self.messages: list[dict[str, Any]] = []
        self.calls_by_sid: dict[str, EmulatedCall] = {}
        self.manager: CallManager | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        base = API.format(account="{account}")
        r = self.app.router
        r.add_get(base + ".json", self.fetch_account)
        r.add_post(base + "/Messages.json", self.create_message)
        r.add_post(base + "/Calls.json", self.create_call)
        r.add_post(base + "/Calls/{call}.json", self.update_call)
        r.add_get(base + "/Calls/{call}.json", self.fetch_call)
        r.add_post("/_control/number", self.configure_number)
        r.add_post("/_control/sms", self.inbound_sms)
        r.add_post("/_control/call", self.inbound_call)
        r.add_get("/_control/messages", self.list_messages)
        r.add_get("/_control/log", self.call_log)

    async def start(self) -> TwilioEmulator:
        await super().start()
        if self.sip_proxy is not None:
            endpoint = SipEndpoint("127.0.0.1", 0)
            await endpoint.start()
            self.manager = CallManager(endpoint, Account("twilio", "", self.sip_proxy[0], self.sip_proxy, 300),
                                       self.sip_proxy)
        return self

    async def stop(self) -> None:
        for call in list(self.calls_by_sid.values()):
            await self._finish(call, "completed")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.manager is not None:
            self.manager.endpoint.close()
        await super().stop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def error_body(self, status: int) -> dict[str, Any]:
        return {"code": 20429 if status == 429 else 20500, "message": f"injected {status}",
                "more_info": "https://www.twilio.com/docs/errors", "status": status}

    # ---- REST ------------------------------------------------------------------------------
    def _auth(self, request: web.Request) -> web.Response | None:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["account"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate", "more_info":
                                      "https://www.twilio.com/docs/errors/20003", "status": 401}, status=401)
        return None

    async def fetch_account(self, request: web.Request) -> web.Response:
        return self._auth(request) or web.json_response({
            "sid": self.account_sid, "friendly_name": "Emulated", "status": "active", "type": "Full",
            "date_created": formatdate(usegmt=True), "uri": f"{API.format(account=self.account_sid)}.json"})

    async def create_message(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        form = await request.post()
        to, body = str(form.get("To") or ""), str(form.get("Body") or "")
        if not to or not body:
            return web.json_response({"code": 21602, "message": "Message body is required.", "status": 400},
                                     status=400)
        message = {"sid": sid("SM"), "account_sid": self.account_sid, "to": to,
                   "from": str(form.get("From") or self.phone_number), "body": body, "status": "queued",
                   "direction": "outbound-api", "num_segments": "1", "api_version": "2010-04-01",
                   "date_created": formatdate(usegmt=True), "date_updated": formatdate(usegmt=True),
                   "date_sent": None, "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
                   "uri": f"{API.format(account=self.account_sid)}/Messages/x.json"}
        self.messages.append(message)
        return web.json_response(message, status=201)

    def _call_json(self, call: EmulatedCall) -> dict[str, Any]:
        return {"sid": call.sid, "account_sid": self.account_sid, "to": call.to, "from": call.from_,
                "status": call.status, "direction": call.direction, "api_version": "2010-04-01",
                "date_created": formatdate(call.started, usegmt=True), "date_updated": formatdate(usegmt=True),
                "start_time": formatdate(call.answered_at, usegmt=True) if call.answered_at else None,
                "end_time": None, "duration": None, "price": None, "parent_call_sid": None,
                "uri": f"{API.format(account=self.account_sid)}/Calls/{call.sid}.json"}

    async def create_call(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        form = await request.post()
        to, document = str(form.get("To") or ""), str(form.get("Twiml") or "")
        if not to or not (document or form.get("Url")):
            return web.json_response({"code": 21205, "message": "Url or Twiml is required", "status": 400}, status=400)
        call = EmulatedCall(sid("CA"), str(form.get("From") or self.phone_number), to, "outbound-api")
        call.status_callback = str(form.get("StatusCallback") or "")
        call.status_events = [str(v) for v in form.getall("StatusCallbackEvent", [])] or ["completed"]
        self.calls_by_sid[call.sid] = call
        self._spawn(self._run_outbound(call, document, int(str(form.get("Timeout") or 60))))
        return web.json_response(self._call_json(call), status=201)

    async def update_call(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        call = self.calls_by_sid.get(request.match_info["call"])
        if call is None:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        form = await request.post()
        if form.get("Status") in ("completed", "canceled"):
            self._spawn(self._finish(call, "completed"))
        elif form.get("Twiml"):
            call.log.append("redirected")
            await call.twiml.put(str(form["Twiml"]))
        return web.json_response(self._call_json(call))

    async def fetch_call(self, request: web.Request) -> web.Response:
        call = self.calls_by_sid.get(request.match_info["call"])
        return self._auth(request) or (web.json_response(self._call_json(call)) if call else
                                       web.json_response({"code": 20404, "status": 404}, status=404))

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

    # ---- control ---------------------------------------------------------------------------
    async def configure_number(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.voice_url = spec.get("voice_url", self.voice_url)
        self.status_url = spec.get("status_url", self.status_url)
        self.sms_url = spec.get("sms_url", self.sms_url)
        return web.json_response({"voice_url": self.voice_url, "status_url": self.status_url,
                                  "sms_url": self.sms_url})

    async def send_sms(self, sender: str, body: str, message_sid: str | None = None) -> tuple[int, str]:
        """Deliver an inbound SMS to the number's SMS webhook."""
        return await self.signed(self.sms_url, {"MessageSid": message_sid or sid("SM"), "SmsSid": "",
                                                "From": sender, "To": self.phone_number, "Body": body,
                                                "NumMedia": "0"})

    async def inbound_sms(self, request: web.Request) -> web.Response:
        spec = await request.json()
        status, text = await self.send_sms(spec["from"], spec.get("body", ""), spec.get("sid"))
        return web.json_response({"status": status, "body": text})

    async def place_inbound_call(self, caller: str, caller_sip: str | None = None) -> EmulatedCall:
        """A call from ``caller`` to the number: the voice webhook, then its TwiML."""
        call = EmulatedCall(sid("CA"), caller, self.phone_number, "inbound")
        self.calls_by_sid[call.sid] = call
        if caller_sip and self.manager is not None:
            if not await self._own_leg(call, caller_sip, 20):
                raise RuntimeError(f"the caller's phone {caller_sip} did not answer")
        else:
            await call.relay.open()
        call.status, call.answered_at = "ringing", time.time()
        status, document = await self.signed(self.voice_url, self._call_params(call))
        call.status = "in-progress"
        if status != 200:
            call.log.append(f"voice webhook answered {status}")
            await self._finish(call, "failed")
            return call
        self._spawn(self._run(call, document))
        return call

    async def inbound_call(self, request: web.Request) -> web.Response:
        spec = await request.json()
        call = await self.place_inbound_call(spec["from"], spec.get("caller_sip"))
        return web.json_response({"sid": call.sid})

    async def list_messages(self, request: web.Request) -> web.Response:
        return web.json_response(self.messages)

    async def call_log(self, request: web.Request) -> web.Response:
        return web.json_response({s: c.log for s, c in self.calls_by_sid.items()})


