"""The SIP connector: the server as a SIP user agent registered to the company's registrar.

It registers the account (re-registering before expiry), reports health (``bad_credentials``
on a refused password, ``transient_disconnect`` while the registrar does not answer,
``connected`` again once it does), answers OPTIONS, and carries inbound calls through the
universal queue to the accepting agent's phone (connectors/sip/voice.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from connectors.backoff import Backoff
from connectors.base import Capability, Channel, ConnectorContext, Health, OutboundMessage, PermanentFailure, Sent
from connectors.base import Settings as BaseSettings
from connectors.sip.call import CallManager
from connectors.sip.endpoint import SipEndpoint, new_token
from connectors.sip.message import Request, make_response
from connectors.sip.player import wav_pcm
from connectors.sip.register import Account, Registration, RegistrationFailed, RegistrationRefused
from connectors.sip.transaction import Addr
from connectors.sip.voice import VoiceDesk


class SipSettings(BaseSettings):
    """``[connectors.sip]``"""

    registrar: str = "127.0.0.1:5060"
    transport: Literal["udp", "tcp"] = "udp"  # to the registrar/proxy; tcp also listens on TCP
    username: str
    password: str = ""
    domain: str = ""  # default: the registrar's host
    local_host: str = "127.0.0.1"
    local_port: int = Field(default=0, ge=0, le=65535)
    expires: int = Field(default=300, ge=10, le=86400)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)
    answer_timeout_seconds: float = Field(default=5.0, gt=0)  # a registrar silent this long counts as down
    agent_ring_seconds: float = Field(default=20.0, gt=0)  # then the agent is set away and the call requeued
    hold_audio: str = ""  # a WAV file played to a held customer; default: a soft tone
    transfer_ring_seconds: float = Field(default=30.0, gt=0)  # a transfer out to a number gives up after this
    place_outbound_calls: bool = True  # MakeCall and callbacks through SIP (one voice connector may place them)
    dial_format: Literal["e164", "digits"] = "e164"  # how numbers are dialled: +358401234567 or 358401234567
    customer_ring_seconds: float = Field(default=45.0, gt=0)  # MakeCall/callback: then "no answer" (retried)
    record: bool = False  # record every call (stereo WAV: customer left, agent right) with call.recorded
    recordings_dir: str = ""  # default: <data_dir>/recordings

    def registrar_address(self) -> Addr:
        host, _, port = self.registrar.rpartition(":")
        if not host:
            return self.registrar, 5060
        return host, int(port)


class SipChannel(Channel):
    """Registers to the registrar and keeps the registration alive."""

    settings_model = SipSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.VOICE})
    media_bridge: ClassVar[bool] = True  # its voice desk carries browser and Twilio stream media (softphone_bridge)
    identity_kind = "phone"

    def __init__(self, ctx: ConnectorContext, settings: SipSettings) -> None:  # type: ignore[override]
        super().__init__(ctx, settings)
        self.config = settings
        self.endpoint = SipEndpoint(settings.local_host, settings.local_port, on_request=self._on_request,
                                    transport=settings.transport)
        host, port = settings.registrar_address()
        self.registration = Registration(self.endpoint, Account(settings.username, settings.password,
                                                                settings.domain or host, (host, port),
                                                                settings.expires),
                                         answer_timeout=settings.answer_timeout_seconds)
        self.calls = CallManager(self.endpoint, self.registration.account, (host, port), fallback=self._on_request)
        recordings = Path(settings.recordings_dir or ctx.data_dir / "recordings") if settings.record else None
        self.desk = VoiceDesk(ctx.core, self.calls, settings.local_host, agent_ring_seconds=settings.agent_ring_seconds,
                              hold_audio=wav_pcm(Path(settings.hold_audio)) if settings.hold_audio else None,
                              recordings=recordings, transfer_ring_seconds=settings.transfer_ring_seconds,
                              customer_ring_seconds=settings.customer_ring_seconds,
                              dial_format=settings.dial_format, place_outbound=settings.place_outbound_calls)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        await self.endpoint.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._stay_registered(), name=f"sip:{self.name}"),
                       loop.create_task(self.desk.follow(), name=f"sip-calls:{self.name}")]

    async def stop(self) -> None:
        await self.desk.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.registration.granted:
            try:
                await asyncio.wait_for(self.registration.register(expires=0), 2)
            except (TimeoutError, RegistrationFailed, RegistrationRefused, ConnectionError):
                pass
        self.endpoint.close()

    async def send(self, message: OutboundMessage) -> Sent:
        raise PermanentFailure("voice interactions take no written messages")

    async def _stay_registered(self) -> None:
        backoff = Backoff(self.config.reconnect_max_seconds)
        while True:
            backoff.session_start()
            try:
                granted = await self.registration.register()
                await self.set_health(Health.CONNECTED, f"registered for {granted} s")
                backoff = Backoff(self.config.reconnect_max_seconds)
                await asyncio.sleep(max(5.0, min(granted * 0.8, granted - 10)))
                continue
            except RegistrationRefused as exc:
                await self.set_health(Health.BAD_CREDENTIALS, str(exc))
                backoff.hold_off()
            except (RegistrationFailed, OSError) as exc:
                await self.set_health(Health.TRANSIENT_DISCONNECT, f"registration failed: {exc}")
            await backoff.wait()

    def _on_request(self, request: Request, source: Addr, key: tuple[str, ...] | None) -> None:
        if key is None:
            return  # an ACK for a 2xx of a call that is over
        if request.method == "INVITE":
            self.desk.on_invite(request, source, key)
            return
        if request.method == "OPTIONS":
            response = make_response(request, 200, "OK", to_tag=new_token(4))
            response.headers.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")
            self.endpoint.respond(key, response)
            return
        self.endpoint.respond(key, make_response(request, 501, "Not Implemented", to_tag=new_token(4)))
