"""The SIP connector: the server as a SIP user agent registered to the company's registrar.

It registers the account and refreshes the registration every ``keepalive_seconds`` (so a
registrar that restarted and forgot the binding has it back within seconds, and health says
``transient_disconnect`` as soon as a refresh fails), answers OPTIONS, takes INVITEs only as the
trust model allows (connectors/sip/gate.py, docs/sip.md), and carries inbound calls through the
universal queue to the accepting agent's phone (connectors/sip/voice.py). On start it ends the
calls an earlier process carried (a crash or a kill): their media died with it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from connectors.backoff import Backoff
from connectors.base import Capability, Channel, ConnectorContext, Health, OutboundMessage, PermanentFailure, Sent
from connectors.base import Settings as BaseSettings
from connectors.media import MediaBridge
from connectors.sip.call import CallManager
from connectors.sip.endpoint import SipEndpoint, new_token
from connectors.sip.gate import CallGate
from connectors.sip.message import Request, make_response
from connectors.sip.player import wav_pcm
from connectors.sip.register import Account, Registration, RegistrationFailed, RegistrationRefused
from connectors.sip.transaction import Addr
from connectors.sip.voice import VoiceDesk

log = logging.getLogger(__name__)


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
    record: bool = False  # record every call (stereo WAV: customer left, agent right); else on demand by API
    recordings_dir: str = ""  # default: <data_dir>/recordings
    keepalive_seconds: float = Field(default=5.0, ge=1.0, le=3600)  # the registration is refreshed this often
    trusted_sources: list[str] = Field(default_factory=list)  # trunks (addresses, CIDR) besides the registrar
    invites_per_source_per_second: float = Field(default=20.0, gt=0)  # new calls from one address (burst: 2 s worth)
    media_nat: bool = False  # parties' RTP may come from another port of their signalled IP address (NAT)
    no_media_seconds: float = Field(default=30.0, ge=5.0)  # a party silent this long has gone: the call ends
    last_agent_ends_call: bool = True  # false: a conference's number or SIP URI guest keeps the customer after her

    @field_validator("trusted_sources")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item.strip(), strict=False)  # ValueError names the bad entry
        return value

    def registrar_address(self) -> Addr:
        host, _, port = self.registrar.rpartition(":")
        if not host:
            return self.registrar, 5060
        return host, int(port)


class SipChannel(Channel[SipSettings]):
    """Registers to the registrar and keeps the registration alive."""

    settings_model = SipSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.VOICE})
    bridges_media: ClassVar[bool] = True  # its voice desk carries browser and Twilio stream media (softphone_bridge)
    identity_kind = "phone"

    def __init__(self, ctx: ConnectorContext, settings: SipSettings) -> None:
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
        recordings = Path(settings.recordings_dir or ctx.data_dir / "recordings")  # (also on demand, by API)
        self.desk = VoiceDesk(ctx.core, self.calls, settings.local_host, agent_ring_seconds=settings.agent_ring_seconds,
                              hold_audio=wav_pcm(Path(settings.hold_audio)) if settings.hold_audio else None,
                              recordings=recordings, record_all=settings.record,
                              transfer_ring_seconds=settings.transfer_ring_seconds,
                              customer_ring_seconds=settings.customer_ring_seconds,
                              dial_format=settings.dial_format, place_outbound=settings.place_outbound_calls,
                              media_nat=settings.media_nat, no_media_seconds=settings.no_media_seconds,
                              last_agent_ends_call=settings.last_agent_ends_call)
        self.gate = CallGate(account_user=settings.username, rate_per_second=settings.invites_per_source_per_second,
                             burst=2 * settings.invites_per_source_per_second,
                             our_hosts={h.lower() for h in (settings.local_host, settings.domain, host) if h})
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def places_calls(cls, settings: SipSettings) -> bool:
        return settings.place_outbound_calls

    def media_bridge(self) -> MediaBridge:
        """The voice desk's media bridge (browsers and Twilio streams join calls through it)."""
        return self.desk.media_bridge

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        await self._trust_registrar()
        await self.endpoint.start()
        ended = await self.desk.custody.end_orphans()
        if ended:
            log.warning("ended %d call(s) that an earlier process carried (their media died with it)", ended)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._stay_registered(), name=f"sip:{self.name}"),
                       loop.create_task(self.desk.follow(), name=f"sip-calls:{self.name}"),
                       loop.create_task(self.desk.custody.watch_media(), name=f"sip-media:{self.name}"),
                       loop.create_task(self._report_refusals(), name=f"sip-gate:{self.name}")]

    async def _trust_registrar(self) -> None:
        """The registrar/proxy's addresses (resolved) and the configured trunks may send INVITEs."""
        host, port = self.config.registrar_address()
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            self.gate.trust(info[4][0] for info in found)
        except OSError as exc:  # the registration will report it; until then nobody's INVITEs are taken
            log.warning("registrar %s does not resolve (%s): no INVITE is taken until it does", host, exc)
        self.gate.trust(self.config.trusted_sources)
        self.gate.our_hosts.add(self.endpoint.host.lower())

    async def _report_refusals(self) -> None:
        """A summary of refused INVITEs every 10 s while there are any (a flood is a few lines, not thousands)."""
        reported = 0
        while True:
            await asyncio.sleep(10.0)
            total = sum(self.gate.refused.values())
            if total != reported:
                log.warning("refused %d INVITE(s) in the last 10 s: %s", total - reported,
                            ", ".join(f"{why} {n}" for why, n in sorted(self.gate.refused.items())))
                reported = total

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
                # A short refresh is the keep-alive: a registrar that restarted (and forgot us)
                # has the binding back within keepalive_seconds, and a failed refresh shows at once.
                await asyncio.sleep(max(1.0, min(self.config.keepalive_seconds, granted * 0.8, granted - 10)))
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
            refusal = self.gate.check(request, source, asyncio.get_running_loop().time())
            if refusal is not None:
                response = make_response(request, refusal[0], refusal[1], to_tag=new_token(4))
                if refusal[0] == 503:
                    response.headers.add("Retry-After", "5")
                self.endpoint.respond(key, response)
                return
            self.desk.on_invite(request, source, key)
            return
        if request.method in ("BYE", "CANCEL"):  # for no dialog or transaction of ours (RFC 3261 15.1.2, 9.2)
            self.endpoint.respond(key, make_response(request, 481, "Call/Transaction Does Not Exist",
                                                     to_tag=new_token(4)))
            return
        if request.method == "OPTIONS":
            response = make_response(request, 200, "OK", to_tag=new_token(4))
            response.headers.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")
            self.endpoint.respond(key, response)
            return
        self.endpoint.respond(key, make_response(request, 501, "Not Implemented", to_tag=new_token(4)))
