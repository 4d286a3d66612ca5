"""Parties of a call that are not SIP dialogs (softphone_bridge): callers who join the media bridge
from a browser (a pivot page's "talk now") or a Twilio Media Stream, and agents who answer in the
desktop's browser softphone (``voice_endpoint = "browser"``). ``JoinedLegs`` is the node's
``connectors.media.MediaBridge``: what softphone_bridge hands such parties to.

Such a party owns a loopback RTP port; the call's bridge (``bridge.py``) adds it with
``add_media_party``, so the relay, hold audio, recording, DTMF reports and the end of the call work
as for a phone. An agent answering in the browser "rings" by waiting up to ``agent_ring_seconds``
for her desktop's WebRTC offer (``answer_in_browser``); a second offer (she reloaded the page)
takes the first one's place, and if her browser drops the customer hears hold audio while she
reconnects within the same time, else the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from connectors.media import AGENT, CUSTOMER, MediaParty
from connectors.sip import sdp
from connectors.sip.call import CallFailed, OutgoingCall
from connectors.sip.session import VoiceSession, failure_outcome

if TYPE_CHECKING:
    from connectors.sip.voice import VoiceDesk

log = logging.getLogger(__name__)
STOP = object()  # (_next_browser) no more connections to wait for


class JoinedLegs:
    """Browsers and Twilio streams in the desk's calls (the node's media bridge)."""

    def __init__(self, desk: VoiceDesk) -> None:
        self.desk = desk

    async def adopt(self, interaction_id: str, party: MediaParty) -> None:
        """A caller that is not a SIP call joins as the customer's party; it waits with hold
        audio and is bridged to the accepting agent like any caller."""
        desk = self.desk
        bridge = desk.new_media(payload=party.payload_type)
        await bridge.open()
        await bridge.add_media_party(CUSTOMER, party)
        session = VoiceSession(interaction_id, party, bridge)
        desk.custody.keep(session)
        party.on_key = desk.customer_key_reporter(session)
        desk.record(session)
        desk.start_hold_audio(session)
        desk.spawn(self._end_when_gone(session))

    async def _end_when_gone(self, session: VoiceSession) -> None:
        await session.caller.ended.wait()
        await self.desk.end(session, "customer")

    def codec_of(self, interaction_id: str) -> int | None:
        """The codec (RTP payload type) of a call carried here; None when it is not here."""
        session = self.desk.sessions.get(interaction_id)
        return None if session is None or session.done else session.media.payload

    def answer_in_browser(self, interaction_id: str, party: MediaParty) -> str | None:
        """The agent's desktop connected its audio for this call; why not, when it cannot be used."""
        session = self.desk.sessions.get(interaction_id)
        if session is None or session.done:
            return "the call is not on this server (or is over)"
        if session.browser_offers is None:
            return "the call is not waiting for a browser (the agent answers on a phone, or has not accepted)"
        session.browser_offers.put_nowait(party)
        return None

    def join_party(self, interaction_id: str, party_id: str, party: MediaParty) -> str | None:
        """A colleague's or a supervisor's browser answered the party it was rung as (party_legs.py)."""
        session = self.desk.sessions.get(interaction_id)
        if session is None or session.done:
            return "the call is not on this server (or is over)"
        return self.desk.parties.answer_in_browser(session, party_id, party)

    async def make_call_from_browser(self, interaction_id: str, agent_id: str | None,
                                     target: tuple[str, str]) -> None:
        """MakeCall (and callbacks) for an agent who talks in the browser: her desktop connects
        first, then the customer is dialled and bridged."""
        desk = self.desk
        bridge = desk.new_media()
        await bridge.open()
        session = VoiceSession(interaction_id, desk.manager.call(desk.uri_of(target)), bridge,
                               browser_offers=asyncio.Queue())
        desk.custody.keep(session)
        desk.record(session)
        await self.ring_browser(session, agent_id, outbound=True)

    async def _dial_customer(self, session: VoiceSession, agent_id: str | None) -> None:
        """(MakeCall from the browser) the agent is there: ring the customer and bridge."""
        leg = session.caller
        assert isinstance(leg, OutgoingCall)  # (a MakeCall's customer leg is one we place)
        try:
            media = await leg.dial(sdp.offer(self.desk.host, session.media.port(CUSTOMER), payloads=(0, 101)),
                                   ring_seconds=self.desk.customer_ring_seconds)
        except CallFailed as exc:
            log.info("MakeCall %s: the customer did not answer: %s", session.interaction_id, exc)
            await self.desk.end(session, "customer", outcome=failure_outcome(exc.status))
            return
        session.media.add_party(CUSTOMER, (media.host, media.port), events_payload=media.events_payload)
        self.desk.report_keys(session)
        await self.desk.core.call_answered(session.interaction_id, leg.call_id, leg="customer", agent_id=agent_id)
        await leg.ended.wait()
        if leg.ended_by == "them":
            await self.desk.end(session, "customer")

    async def ring_browser(self, session: VoiceSession, agent_id: str | None, *, outbound: bool = False) -> None:
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
                        leg = await asyncio.wait_for(offers.get(), self.desk.agent_ring_seconds)
                    except TimeoutError:
                        if session.done:
                            return
                        if answered:  # she did not come back
                            await self.desk.agent_left(session)
                        elif outbound:
                            await self.desk.end(session, "agent", outcome="agent_unreachable")
                        elif agent_id:
                            log.warning("agent %s did not connect her browser for call %s: set away, next agent",
                                        agent_id, session.caller.call_id)
                            await self.desk.core.agent_missed(session.interaction_id, agent_id)
                        return
                    await self._bridge_browser(session, leg)
                    if not answered:
                        answered = True
                        await self.desk.core.call_answered(session.interaction_id, leg.call_id if outbound else
                                                      session.caller.call_id, leg="agent", agent_id=agent_id)
                        if outbound:
                            self.desk.spawn(self._dial_customer(session, agent_id))
                leg = await self._next_browser(session, leg, offers)
                if leg is STOP:
                    return
        finally:
            if session.browser_offers is offers:
                session.browser_offers = None
            while not offers.empty():
                await offers.get_nowait().hangup()

    async def _bridge_browser(self, session: VoiceSession, leg: Any) -> None:
        await session.media.add_media_party(AGENT, leg)
        session.agent_leg = leg
        self.desk.agent_arrived(session)  # the agent is there

    async def _next_browser(self, session: VoiceSession, leg: Any, offers: asyncio.Queue[Any]) -> Any:
        """Wait while this connection lasts; the connection to bridge next (None: wait for one; STOP)."""
        offer, gone = asyncio.ensure_future(offers.get()), asyncio.ensure_future(leg.ended.wait())
        await asyncio.wait({offer, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if offer.done():
            newer = offer.result()
            session.media.remove_party(AGENT)
            session.agent_leg = None
            await leg.hangup()
            return newer
        offer.cancel()
        if leg.ended_by != "them" or session.done or session.agent_leg is not leg:
            return STOP  # the call ended, or the agent was released (a transfer)
        log.info("call %s: the agent's browser dropped; the customer holds while she reconnects",
                 session.caller.call_id)
        session.agent_leg = None
        session.media.remove_party(AGENT)
        if session.parties:  # (the guests go on talking with the customer)
            self.desk.parties.regraph(session)
        else:
            self.desk.start_hold_audio(session)
        return None
