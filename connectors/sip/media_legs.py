"""Parties of a call that are not SIP dialogs (softphone_bridge): callers who join the media bridge
from a browser (a pivot page's "talk now") or a Twilio Media Stream, and agents who answer in the
desktop's browser softphone (``voice_endpoint = "browser"``).

Such a leg owns a loopback RTP port; the desk points the relay's socket for that party at it and
it at the socket, so the relay, hold audio, recording, DTMF reports and the end of the call work
as for a phone. An agent answering in the browser "rings" by waiting up to ``agent_ring_seconds``
for her desktop's WebRTC offer (``answer_in_browser``); a second offer (she reloaded the page)
takes the first one's place, and if her browser drops the customer hears hold audio while she
reconnects within the same time, else the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from connectors.sip import sdp
from connectors.sip.call import CallFailed
from connectors.sip.custody import CallCustody
from connectors.sip.relay import RtpRelay
from connectors.sip.session import VoiceSession, failure_outcome

log = logging.getLogger(__name__)
STOP = object()  # (_next_browser) no more connections to wait for


class MediaLegs:
    """Mixed into VoiceDesk (connectors/sip/voice.py), which provides what is declared here."""

    core: Any
    host: str
    manager: Any
    agent_ring_seconds: float
    customer_ring_seconds: float
    sessions: dict[str, VoiceSession]
    custody: CallCustody

    def spawn(self, coro: Any) -> None: ...
    def _uri_of(self, target: tuple[str, str]) -> str: ...
    def _report_keys(self, session: VoiceSession) -> None: ...
    def _record(self, session: VoiceSession) -> None: ...
    def _start_hold_audio(self, session: VoiceSession) -> None: ...
    def _stop_hold_audio(self, session: VoiceSession) -> None: ...
    def _on_customer_key(self, session: VoiceSession) -> Any: ...
    async def _end(self, session: VoiceSession, by: str, *, outcome: str | None = None) -> None: ...

    async def adopt(self, interaction_id: str, leg: Any) -> None:
        """A caller that is not a SIP call joins the relay as the customer's leg; it waits with hold
        audio and is bridged to the accepting agent like any caller."""
        relay = RtpRelay(self.host)
        port_a, _ = await relay.open()
        await leg.open(self.host)
        relay.set_peer("a", (self.host, leg.rtp.port))
        leg.rtp.peer = (self.host, port_a)
        session = VoiceSession(interaction_id, leg, relay, leg.payload_type)
        self.custody.keep(session)
        leg.on_key = self._on_customer_key(session)
        self._record(session)
        self._start_hold_audio(session)
        self.spawn(self._end_when_gone(session))

    async def _end_when_gone(self, session: VoiceSession) -> None:
        await session.caller.ended.wait()
        await self._end(session, "customer")

    def payload_of(self, interaction_id: str) -> int | None:
        """The codec (RTP payload type) of a call carried here; None when it is not here."""
        session = self.sessions.get(interaction_id)
        return None if session is None or session.done else session.payload

    def answer_in_browser(self, interaction_id: str, leg: Any) -> str | None:
        """The agent's desktop connected its audio for this call; why not, when it cannot be used."""
        session = self.sessions.get(interaction_id)
        if session is None or session.done:
            return "the call is not on this server (or is over)"
        if session.browser_offers is None:
            return "the call is not waiting for a browser (the agent answers on a phone, or has not accepted)"
        session.browser_offers.put_nowait(leg)
        return None

    async def _make_call_from_browser(self, interaction_id: str, agent_id: str | None,
                                      target: tuple[str, str]) -> None:
        """MakeCall (and callbacks) for an agent who talks in the browser: her desktop connects
        first, then the customer is dialled and bridged."""
        relay = RtpRelay(self.host)
        await relay.open()
        session = VoiceSession(interaction_id, self.manager.call(self._uri_of(target)), relay, 0,
                               browser_offers=asyncio.Queue())
        self.custody.keep(session)
        self._record(session)
        await self._ring_browser(session, agent_id, outbound=True)

    async def _dial_customer(self, session: VoiceSession, agent_id: str | None) -> None:
        """(MakeCall from the browser) the agent is there: ring the customer and bridge."""
        leg = session.caller
        try:
            media = await leg.dial(sdp.offer(self.host, session.relay.a.port, payloads=(0, 101)),
                                   ring_seconds=self.customer_ring_seconds)
        except CallFailed as exc:
            log.info("MakeCall %s: the customer did not answer: %s", session.interaction_id, exc)
            await self._end(session, "customer", outcome=failure_outcome(exc.status))
            return
        session.relay.set_peer("a", (media.host, media.port))
        session.relay.a.events_payload = media.events_payload
        self._report_keys(session)
        await self.core.call_answered(session.interaction_id, leg.call_id, leg="customer", agent_id=agent_id)
        await leg.ended.wait()
        if leg.ended_by == "them":
            await self._end(session, "customer")

    async def _ring_browser(self, session: VoiceSession, agent_id: str | None, *, outbound: bool = False) -> None:
        """The accepting agent answers in her browser: bridge each connection her desktop makes
        (``outbound``: then dial the customer, MakeCall)."""
        offers: asyncio.Queue[Any] = session.browser_offers or asyncio.Queue()
        session.browser_offers = offers
        leg: Any = None
        answered = False
        try:
            while not session.done:
                if leg is None:
                    try:
                        leg = await asyncio.wait_for(offers.get(), self.agent_ring_seconds)
                    except TimeoutError:
                        if session.done:
                            return
                        if answered:  # she did not come back
                            await self._end(session, "agent")
                        elif outbound:
                            await self._end(session, "agent", outcome="agent_unreachable")
                        elif agent_id:
                            log.warning("agent %s did not connect her browser for call %s: set away, next agent",
                                        agent_id, session.caller.call_id)
                            await self.core.agent_missed(session.interaction_id, agent_id)
                        return
                    await self._bridge_browser(session, leg)
                    if not answered:
                        answered = True
                        await self.core.call_answered(session.interaction_id, leg.call_id if outbound else
                                                      session.caller.call_id, leg="agent", agent_id=agent_id)
                        if outbound:
                            self.spawn(self._dial_customer(session, agent_id))
                leg = await self._next_browser(session, leg, offers)
                if leg is STOP:
                    return
        finally:
            if session.browser_offers is offers:
                session.browser_offers = None
            while not offers.empty():
                await offers.get_nowait().hangup()

    async def _bridge_browser(self, session: VoiceSession, leg: Any) -> None:
        await leg.open(self.host)
        session.agent_leg = leg
        session.relay.set_peer("b", (self.host, leg.rtp.port))
        leg.rtp.peer = (self.host, session.relay.b.port)
        if not session.relay.a.held:
            self._stop_hold_audio(session)  # the agent is there

    async def _next_browser(self, session: VoiceSession, leg: Any, offers: asyncio.Queue[Any]) -> Any:
        """Wait while this connection lasts; the connection to bridge next (None: wait for one; STOP)."""
        offer, gone = asyncio.ensure_future(offers.get()), asyncio.ensure_future(leg.ended.wait())
        await asyncio.wait({offer, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if offer.done():
            newer = offer.result()
            session.relay.forget_peer("b")
            session.agent_leg = None
            await leg.hangup()
            return newer
        offer.cancel()
        if session.done or session.agent_leg is not leg or leg.ended_by != "them":
            return STOP  # the call ended, or the agent was released (a transfer)
        log.info("call %s: the agent's browser dropped; the customer holds while she reconnects",
                 session.caller.call_id)
        session.agent_leg = None
        session.relay.forget_peer("b")
        self._start_hold_audio(session)
        return None
