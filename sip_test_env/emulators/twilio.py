"""A Twilio emulator: the REST API the twilio library calls (accounts, messages, calls create and
update, call recordings: twilio_recordings.py) and a call engine that drives calls as Twilio does:
the number's voice webhook, TwiML (Say, Play, Pause, Enqueue, Dial with Sip/Number, Connect with
Stream, Hangup, Redirect), <Dial> action requests and status callbacks in order, every request
signed with X-Twilio-Signature. ``<Dial><Sip>`` and ``<Dial><Number>`` place real SIP calls
through a registrar (Kamailio) and relay RTP between the legs, so audio crosses end to end.
Numbers are mapped to SIP URIs (``numbers``).

Control: ``POST /_control/number {"voice_url", "status_url", "sms_url"}`` configures the Twilio
number; ``POST /_control/sms {"from", "body"}`` delivers an inbound SMS; ``POST /_control/call
{"from", "caller_sip"?}`` starts an inbound call (``caller_sip``: a phone that stands for the
caller, so the caller's audio is real); ``GET /_control/messages`` lists SMS sent through the API;
``GET /_control/log`` lists what each call did.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from email.utils import formatdate
from typing import Any

from aiohttp import web

from connectors.sip.call import CallManager
from connectors.sip.endpoint import SipEndpoint
from connectors.sip.register import Account
from connectors.tasks import TaskSet
from sip_test_env.emulators.base import Emulator
from sip_test_env.emulators.twilio_recordings import RecordingsApi
from sip_test_env.emulators.twiml_engine import CallEngine, EmulatedCall, sid, twilio_signature

API = "/2010-04-01/Accounts/{account}"
__all__ = ["TwilioEmulator", "twilio_signature"]


log = logging.getLogger(__name__)


class TwilioEmulator(RecordingsApi, CallEngine, Emulator):
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
        self._tasks = TaskSet(log)
        base = API.format(account="{account}")
        r = self.app.router
        r.add_get(base + ".json", self.fetch_account)
        r.add_post(base + "/Messages.json", self.create_message)
        r.add_post(base + "/Calls.json", self.create_call)
        r.add_post(base + "/Calls/{call}.json", self.update_call)
        r.add_get(base + "/Calls/{call}.json", self.fetch_call)
        self.add_recording_routes(r, base)
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
        await self._tasks.cancel_all()
        if self.manager is not None:
            self.manager.endpoint.close()
        await super().stop()

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    async def _finish(self, call: EmulatedCall, status: str) -> None:
        self.complete_recordings_of(call)
        await super()._finish(call, status)

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
        content_sid, variables = str(form.get("ContentSid") or ""), form.get("ContentVariables")
        if variables is not None and not content_sid:
            return web.json_response({"code": 21654, "message": "ContentSid Required", "status": 400}, status=400)
        if content_sid and (not re.fullmatch(r"HX[0-9a-fA-F]{32}", content_sid) or not _variables_ok(variables)):
            return web.json_response({"code": 21656, "message": "The ContentVariables Parameter is invalid.",
                                      "status": 400}, status=400)
        if not to or not (body or content_sid):
            return web.json_response({"code": 21602, "message": "Message body is required.", "status": 400},
                                     status=400)
        message = {"sid": sid("SM"), "account_sid": self.account_sid, "to": to,
                   "from": str(form.get("From") or self.phone_number), "body": body, "status": "queued",
                   "content_sid": content_sid or None,
                   "content_variables": json.loads(str(variables)) if variables else None,
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

    async def send_whatsapp(self, number: str, body: str, profile: str = "Customer") -> tuple[int, str]:
        """A WhatsApp message to the number through Twilio: From and To carry "whatsapp:", with WaId
        and ProfileName, to the same messaging webhook as SMS."""
        return await self.signed(self.sms_url, {"MessageSid": sid("SM"), "SmsSid": "", "From": f"whatsapp:+{number}",
                                                "To": f"whatsapp:{self.phone_number}", "Body": body, "NumMedia": "0",
                                                "WaId": number, "ProfileName": profile})

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


def _variables_ok(variables: Any) -> bool:
    """ContentVariables: absent, or a JSON object of numbered keys to strings of at most 255 characters."""
    if variables is None:
        return True
    try:
        parsed = json.loads(str(variables))
    except ValueError:
        return False
    return isinstance(parsed, dict) and all(isinstance(v, str) and len(v) <= 255 for v in parsed.values())
