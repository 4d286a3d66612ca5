"""The Twilio connector: SMS as a written channel, and voice through the universal queue.

Inbound calls, with ``media = "dial"`` (the default), are answered by TwiML that holds the
caller in a queue named after the interaction (connectors/twilio/webhook.py). When an agent
accepts, the call is redirected (REST update with TwiML) to ``<Dial><Sip>`` the agent's SIP
endpoint; hold redirects the caller back to the queue (hold audio, the agent's leg released) and
resume dials the agent again; ending the interaction completes the call. DTMF and transfers to
numbers are not carried in this mode; recording is Twilio's own (connectors/twilio/recording.py).
With ``media = "stream"`` the call's audio comes to our own
media bridge over a Media Stream (softphone_bridge/api.py, ``/media/twilio``), and the SIP
connector's voice desk does the rest as for its own calls: hold audio, ringing the agent's phone
or browser, hold, DTMF both ways, transfers, recording. That needs the SIP connector running on
the same server.
Outbound calls (MakeCall and pivot callbacks, with ``place_outbound_calls``) call the agent's
endpoint first and, once answered, ``<Dial><Number>`` the customer; status callbacks carry the
interaction id and the leg, and map onto call.answered / call.ended (with the outcome a callback
retries on). The twilio library runs unchanged with its aiohttp client; ``api_base`` points it at
another host (the emulator in tests).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from connectors.base import (
    CallUpdateKind,
    Capability,
    Channel,
    ConnectorContext,
    Health,
    OutboundMessage,
    PermanentFailure,
    Sent,
    Settings,
    TemporaryFailure,
)
from connectors.tasks import TaskSet
from connectors.twilio import twiml
from connectors.twilio.recording import TwilioRecordings
from connectors.twilio.webhook import TwilioWebhook

log = logging.getLogger(__name__)
DAY = 86_400.0  # WhatsApp's customer-service window


class ContentTemplate(Settings):
    """An approved Content template (WhatsApp outside its 24-hour window): its ContentSid and how
    many numbered variables ({{1}}, {{2}}...) it takes."""

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    parameters: int = Field(default=0, ge=0, le=100)


class TwilioSettings(Settings):
    """``[connectors.twilio]``"""

    account_sid: str
    auth_token: str
    phone_number: str  # the company's Twilio number: caller id of calls and sender of SMS
    api_base: str = "https://api.twilio.com"
    sip_domain: str = ""  # host[:port] that agents' SIP URIs are dialled at (their registrar); default: as given
    place_outbound_calls: bool = True  # MakeCall and callbacks go through Twilio (switch off when SIP places them)
    media: Literal["dial", "stream"] = "dial"  # stream: inbound calls' audio over Media Streams into our bridge
    greeting: str = "Thank you for calling. An agent will be with you shortly."
    hold_audio_url: str = ""  # <Enqueue waitUrl>: TwiML that plays while the caller waits
    agent_ring_seconds: float = Field(default=20.0, gt=0)
    customer_ring_seconds: float = Field(default=45.0, gt=0)
    recordings_dir: str = ""  # Twilio's recordings of dial-mode calls are fetched here; default <data_dir>/recordings
    whatsapp_number: str = ""  # the WhatsApp sender on Twilio ("whatsapp:" + this); default: phone_number
    # name -> {content_sid = "HX...", parameters = n}: what an agent may send outside WhatsApp's window
    templates: dict[str, ContentTemplate] = Field(default_factory=dict)


class TwilioChannel(Channel[TwilioSettings]):
    """One Twilio account and number."""

    settings_model = TwilioSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PRIVATE_REPLY, Capability.VOICE})
    identity_kind = "phone"

    @classmethod
    def reply_problem(cls, settings: Any, mode: str | None, last_inbound: dict[str, Any] | None,
                      now: float) -> tuple[str, str] | None:
        """WhatsApp through Twilio has WhatsApp's 24-hour window (SMS has none); a Content template
        may go at any time."""
        last = last_inbound or {}
        if mode == "template" or (last.get("meta") or {}).get("kind") != "whatsapp" \
                or now - float(last.get("created_at") or now) <= DAY:
            return None
        return ("whatsapp_window_closed", "WhatsApp allows free-form replies only within 24 hours of the customer's "
                                          "last message: send an approved template (mode template) or a pivot link")

    @classmethod
    def templates(cls, settings: TwilioSettings) -> dict[str, int]:
        return {name: spec.parameters for name, spec in settings.templates.items()}

    def __init__(self, ctx: ConnectorContext, settings: TwilioSettings) -> None:
        super().__init__(ctx, settings)
        self.config = settings
        self.http = AsyncTwilioHttpClient(timeout=10)
        self.client = Client(settings.account_sid, settings.auth_token, http_client=self.http)
        self.client.api.base_url = settings.api_base.rstrip("/")
        self.calls: dict[str, str] = {}  # interaction id -> the CallSid we control
        self.streamed: dict[str, str] = {}  # interaction id -> CallSid whose audio the media bridge carries
        self._tasks = TaskSet(log)
        self._follower: asyncio.Task[None] | None = None
        self.recordings = TwilioRecordings(
            ctx.core, self.client, ctx.http, account_sid=settings.account_sid, auth_token=settings.auth_token,
            api_base=settings.api_base, directory=Path(settings.recordings_dir or ctx.data_dir / "recordings"))

    @classmethod
    def webhook(cls, settings: TwilioSettings, name: str) -> TwilioWebhook:
        s = settings
        return TwilioWebhook(s.auth_token, greeting=s.greeting, hold_audio_url=s.hold_audio_url,
                             stream=s.media == "stream")

    @classmethod
    def media_stream_signed(cls, settings: TwilioSettings, url: str, signature: str) -> bool:
        """Whether a Media Streams handshake to ``url`` was signed with this account's auth token
        (any node can check it: the connector need not run there)."""
        return bool(RequestValidator(settings.auth_token).validate(url, {}, signature))

    @classmethod
    def places_calls(cls, settings: TwilioSettings) -> bool:
        return settings.place_outbound_calls

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        try:
            await self.client.api.v2010.accounts(self.config.account_sid).fetch_async()
            await self.set_health(Health.CONNECTED)
        except TwilioRestException as exc:
            await self.set_health(Health.BAD_CREDENTIALS if exc.status in (401, 403) else Health.ERROR, exc.msg)
        except Exception as exc:  # unreachable: transport errors of the twilio client
            await self.set_health(Health.TRANSIENT_DISCONNECT, f"Twilio unreachable: {exc}")
        self._follower = asyncio.get_running_loop().create_task(self._follow(), name=f"twilio:{self.name}")

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        await self._tasks.cancel_all()
        await self.http.close()

    # ---- SMS -----------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> Sent:
        template, spec = message.raw.get("template"), None
        parameters: list[str] = [str(p) for p in (template or {}).get("parameters") or []]
        if template is not None:
            spec = self.config.templates.get(str(template.get("name")))
            if spec is None or len(parameters) != spec.parameters:
                raise PermanentFailure(f"template {template.get('name')!r} is not configured with "
                                       f"{len(parameters)} parameter(s)")
        try:
            to, sender = message.to, self.config.phone_number
            if message.to_kind == "whatsapp":  # WhatsApp through Twilio: both addresses "whatsapp:+<E.164>"
                to = "whatsapp:+" + message.to.lstrip("+")
                sender = "whatsapp:" + (self.config.whatsapp_number or self.config.phone_number)
            if spec is not None:  # a Content template: its sid and numbered variables, no Body
                variables = {str(n): value for n, value in enumerate(parameters, 1)}
                sent = await self.client.messages.create_async(
                    to=to, from_=sender, content_sid=spec.content_sid,
                    content_variables=json.dumps(variables) if variables else values.unset)
            else:
                sent = await self.client.messages.create_async(to=to, from_=sender, body=message.text)
        except TwilioRestException as exc:
            if exc.status >= 500:
                await self.set_health(Health.TRANSIENT_DISCONNECT, f"Twilio answered {exc.status}")
            else:
                await self.set_health(Health.CONNECTED)  # it answered: the link is up, the item is refused
            self._raise_for(exc)
        except Exception as exc:
            await self.set_health(Health.TRANSIENT_DISCONNECT, f"Twilio unreachable: {exc}")
            raise TemporaryFailure(f"Twilio unreachable: {exc}") from exc
        await self.set_health(Health.CONNECTED)
        return Sent(f"sms:{sent.sid}")

    def _raise_for(self, exc: TwilioRestException) -> None:
        if exc.status == 429:
            raise TemporaryFailure(f"rate limited by Twilio: {exc.msg}", retry_after=30.0) from exc
        if exc.status >= 500:
            raise TemporaryFailure(f"Twilio answered {exc.status}: {exc.msg}") from exc
        raise PermanentFailure(f"Twilio refused it ({exc.status}, code {exc.code}): {exc.msg}") from exc

    # ---- voice ---------------------------------------------------------------------------
    def _url(self, kind: str, **query: str) -> str:
        base = self.ctx.public_url.rstrip("/")
        return f"{base}/webhooks/{self.name}/{kind}?{urllib.parse.urlencode(query)}"

    def _agent_uri(self, endpoint: str) -> str:
        if not self.config.sip_domain:
            return endpoint
        user = endpoint.split(":", 1)[1].split("@", 1)[0]
        return f"sip:{user}@{self.config.sip_domain}"

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    async def _follow(self) -> None:
        sub = self.ctx.core.call_updates()
        try:
            async for event in sub:
                if event.kind is CallUpdateKind.COMMAND:
                    iid = event.interaction_id
                    if iid in self.calls and event.data.get("action") == "recording":
                        self._spawn(self.recordings.command(iid, self.calls[iid], str(event.data.get("op") or "")))
                    elif iid in self.calls:
                        self._spawn(self._refuse_command(iid, event.data))
                    continue
                snapshot = event.data.get("interaction") or {}
                if snapshot.get("channel") != "voice":
                    continue
                iid = event.interaction_id
                external = str(snapshot.get("external_id") or "")
                if iid in self.streamed or (self.config.media == "stream" and external.startswith("CA") and
                                            snapshot.get("direction") == "inbound"):
                    self._streamed(event.kind, iid, external)  # (the media bridge carries its audio)
                    continue
                if event.kind is CallUpdateKind.ACCEPTED:
                    if external.startswith("CA") and snapshot.get("direction") == "inbound":
                        self.calls[iid] = external
                        self._spawn(self._bridge_inbound(iid, external, event.agent_id))
                    elif snapshot.get("direction") == "outbound" and self.config.place_outbound_calls \
                            and iid not in self.calls:
                        self._spawn(self._place_outbound(iid, event.agent_id))
                elif event.kind is CallUpdateKind.HELD and iid in self.calls and external.startswith("CA"):
                    self._spawn(self._hold(iid, self.calls[iid]))
                elif event.kind is CallUpdateKind.RESUMED and iid in self.calls and external.startswith("CA"):
                    self._spawn(self._bridge_inbound(iid, self.calls[iid], event.agent_id))
                elif event.kind in (CallUpdateKind.HELD, CallUpdateKind.RESUMED):
                    continue
                elif iid in self.calls:
                    self._spawn(self._complete(iid, self.calls.pop(iid)))
                    self._spawn(self.recordings.finish(iid))  # (Twilio completes a recording with its call)
        finally:
            sub.close()

    def _streamed(self, kind: CallUpdateKind, iid: str, call_sid: str) -> None:
        """A streamed call: the media bridge does the rest; once the interaction is over, complete
        the call (the stream's end already hangs it up; this covers a stream that never came)."""
        if kind is CallUpdateKind.ACCEPTED:
            self.streamed[iid] = call_sid
        elif kind in (CallUpdateKind.WRAPUP, CallUpdateKind.ENDED, CallUpdateKind.ABANDONED):
            self.streamed.pop(iid, None)
            self._spawn(self._complete(iid, call_sid))

    async def _bridge_inbound(self, iid: str, call_sid: str, agent_id: str | None) -> None:
        endpoint = await self.ctx.core.agent_endpoint(agent_id) if agent_id else None
        if not endpoint or not endpoint.startswith("sip"):
            log.warning("agent %s has no SIP endpoint (%r): the Twilio caller keeps waiting", agent_id, endpoint)
            return
        query = {"interaction": iid, "agent": agent_id or "", "bridge": "inbound"}
        document = twiml.dial_sip(self._agent_uri(endpoint), action=self._url("dial", **query),
                                  status_callback=self._url("status", leg="agent", **query),
                                  timeout=self.config.agent_ring_seconds)
        try:
            await self.client.calls(call_sid).update_async(twiml=document)
        except TwilioRestException as exc:
            log.warning("could not bridge Twilio call %s to agent %s: %s", call_sid, agent_id, exc.msg)

    async def _refuse_command(self, iid: str, data: dict[str, Any]) -> None:
        """DTMF and transfers out are not carried on Twilio calls yet: say so instead of doing nothing."""
        call_sid = self.calls.get(iid, "")
        if data.get("action") == "transfer":
            await self.ctx.core.call_transfer_failed(iid, call_sid, str(data.get("to") or ""),
                                                     "transfers to a number are not supported on Twilio calls yet")
        else:
            log.warning("Twilio call %s: %r is not supported on Twilio calls yet", call_sid, data.get("action"))

    async def _hold(self, iid: str, call_sid: str) -> None:
        """Hold: the caller goes back to the interaction's queue (hold audio); the agent's leg is
        released. Resume dials the agent again."""
        try:
            await self.client.calls(call_sid).update_async(
                twiml=twiml.hold(iid, wait_url=self.config.hold_audio_url))
        except TwilioRestException as exc:
            log.warning("could not hold Twilio call %s: %s", call_sid, exc.msg)

    async def _place_outbound(self, iid: str, agent_id: str | None) -> None:
        endpoint = await self.ctx.core.agent_endpoint(agent_id) if agent_id else None
        target = await self.ctx.core.call_target(iid)
        if not endpoint or not endpoint.startswith("sip") or target is None:
            log.warning("outbound call %s: agent endpoint %r, target %r: cannot dial", iid, endpoint, target)
            return
        query = {"interaction": iid, "agent": agent_id or "", "bridge": "outbound"}
        document = twiml.dial_number(target[1], action=self._url("dial", **query),
                                     status_callback=self._url("status", leg="customer", **query),
                                     timeout=self.config.customer_ring_seconds, caller_id=self.config.phone_number)
        try:
            call = await self.client.calls.create_async(
                to=self._agent_uri(endpoint), from_=self.config.phone_number, twiml=document,
                status_callback=self._url("status", leg="agent", **query),
                status_callback_event=["answered", "completed"], timeout=int(self.config.agent_ring_seconds))
            self.calls[iid] = call.sid
        except TwilioRestException as exc:
            log.warning("Twilio refused outbound call %s: %s", iid, exc.msg)
            await self.ctx.core.call_ended(iid, "", by="agent", started_at=0.0, outcome="agent_unreachable")

    async def _complete(self, iid: str, call_sid: str) -> None:
        try:
            await self.client.calls(call_sid).update_async(status="completed")
        except TwilioRestException as exc:
            if exc.status != 404:
                log.warning("could not end Twilio call %s: %s", call_sid, exc.msg)
