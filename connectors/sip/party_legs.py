"""Legs of parties beyond the customer and the agent: consulted and conference guests, and
supervisors who monitor the call (``call.command`` add_party, party_mode, drop_party).

A party is rung on its own bridge socket (``CallBridge.open_party``) while the call goes on. Once
it answers, the call's graph is made again from the one table (``connectors/mixing.py:hears``):
the call mode follows from the parties (a guest in consult: ``consult``, the customer hears hold
audio; guests in conference: ``conference``; a held call: ``hold``; else ``talking``), and each
supervisor adds its monitor mode. A party that does not answer, hangs up or is dropped leaves;
the call goes on, and the core is told (``Core.call_party``) either way. A supervisor's leg is
invisible to the agent and the customer: no re-INVITE, no tone, no event on their side. A party
rung in the ``browser`` (a colleague whose desk has no phone, a supervisor on the wallboard) is a
``MediaParty`` that its page connects within ``transfer_ring_seconds``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.media import AGENT, CUSTOMER, MediaParty
from connectors.mixing import CallMode, Monitor, guest, hears, supervisor
from connectors.sip import sdp
from connectors.sip.call import CallFailed, OutgoingCall

if TYPE_CHECKING:
    from connectors.sip.session import VoiceSession
    from connectors.sip.voice import VoiceDesk


@dataclass
class PartyLeg:
    """One guest or supervisor of a call."""

    party_id: str
    role: str  # guest | supervisor
    mode: str  # consult | conference | listen | whisper | barge
    to: str = ""  # the number or SIP URI rung, or ``browser``
    kind: str = "number"  # agent | number | sip | browser: an agent who takes the call takes the interaction too
    leg: OutgoingCall | MediaParty | None = None
    connected: bool = False
    browser: asyncio.Future[MediaParty] | None = None  # rung in the browser: its connection, once it comes

    @property
    def name(self) -> str:
        return guest(self.party_id) if self.role == "guest" else supervisor(self.party_id)


BROWSER = "browser"


class PartyLegs:
    """Rings, mixes in and lets go of a call's extra parties."""

    def __init__(self, desk: VoiceDesk) -> None:
        self.desk = desk

    async def add(self, session: VoiceSession, data: dict[str, Any]) -> None:
        to = str(data.get("to") or "")
        party = PartyLeg(str(data.get("party_id") or ""), str(data.get("role") or "guest"),
                         str(data.get("mode") or "consult"), to, kind=str(data.get("kind") or "number"))
        if not party.party_id or party.party_id in session.parties or session.done:
            return
        session.parties[party.party_id] = party
        if to == BROWSER:
            await self._ring_browser(session, party)
            return
        desk = self.desk
        port = await session.media.open_party(party.name)
        self.regraph(session)  # a consult puts the customer on hold audio while the colleague rings
        leg = party.leg = desk.manager.call(desk.uri_of(("phone", to)))
        try:
            media = await leg.dial(sdp.offer(desk.host, port, payloads=(session.media.payload, 101)),
                                   ring_seconds=desk.transfer_ring_seconds)
        except CallFailed as exc:
            await self._gone(session, party, "no answer" if exc.status == 0 else f"{exc.status} {exc.reason}")
            return
        if session.done or party.party_id not in session.parties:  # the call ended (or the party was dropped)
            await leg.hangup()
            return
        session.media.add_party(party.name, (media.host, media.port), events_payload=media.events_payload)
        await self._connected(session, party)

    async def _ring_browser(self, session: VoiceSession, party: PartyLeg) -> None:
        """The person's page is told (the core's call.participant.ringing) and has
        ``transfer_ring_seconds`` to connect its WebRTC audio (``answer_in_browser``)."""
        party.browser = asyncio.get_running_loop().create_future()
        self.regraph(session)
        try:
            leg = await asyncio.wait_for(asyncio.shield(party.browser), self.desk.transfer_ring_seconds)
        except TimeoutError:
            await self._gone(session, party, "no answer")
            return
        except asyncio.CancelledError:
            if party.browser.cancelled():
                return  # dropped (or declined) while it rang
            raise
        if session.done or session.parties.get(party.party_id) is not party:
            await leg.hangup()
            return
        party.leg = leg
        await session.media.add_media_party(party.name, leg)
        await self._connected(session, party)

    def answer_in_browser(self, session: VoiceSession, party_id: str, leg: MediaParty) -> str | None:
        party = session.parties.get(party_id)
        if party is None or party.browser is None or party.browser.done():
            return "that party is not waiting for a browser (it answered, left, or rings a phone)"
        party.browser.set_result(leg)
        return None

    async def _connected(self, session: VoiceSession, party: PartyLeg) -> None:
        desk = self.desk
        party.connected = True
        self.regraph(session)
        await desk.core.call_party(session.interaction_id, session.caller.call_id, party.party_id, "connected")
        desk.spawn(self._watch(session, party))

    def set_mode(self, session: VoiceSession, data: dict[str, Any]) -> None:
        party = session.parties.get(str(data.get("party_id") or ""))
        if party is not None:
            party.mode = str(data.get("mode") or party.mode)
            self.regraph(session)

    async def drop(self, session: VoiceSession, data: dict[str, Any]) -> None:
        party = session.parties.get(str(data.get("party_id") or ""))
        if party is None:
            return
        if party.leg is not None:
            await party.leg.hangup()
        await self._gone(session, party, str(data.get("reason") or "dropped"))

    async def transfer(self, session: VoiceSession, data: dict[str, Any]) -> None:
        """Attended transfer: the consulted party takes the agent's place (its socket becomes the
        agent's, so two parties talking are relayed untouched again), the agent's leg is hung up,
        and the core hands the agent's part to wrap-up as for a transfer out."""
        desk = self.desk
        party = session.parties.get(str(data.get("party_id") or ""))
        if party is None or not party.connected or party.role != "guest" or party.leg is None or session.done:
            await desk.core.call_transfer_failed(session.interaction_id, session.caller.call_id,
                                                 str(data.get("party_id") or ""), "that party is not in the call")
            return
        released, leg = session.agent_leg, party.leg
        socket = session.media.guests.pop(party.name)
        if session.media.mixer is not None:
            session.media.mixer.detach(party.name)
        del session.parties[party.party_id]
        session.agent_leg = leg
        if party.kind != "agent":  # (a colleague's interaction goes on: her desk ends the call as any agent's)
            session.transferred_to = party.to
        assert socket.peer is not None
        session.media.swap_in(socket, socket.peer, socket.events_payload)
        self.regraph(session)
        if released is not None:
            await released.hangup()
        await desk.core.call_taken_by_party(session.interaction_id, session.caller.call_id, party.party_id)
        desk.spawn(desk.phones.end_with(session, leg, "agent" if party.kind == "agent" else "transfer_target"))

    async def take_over(self, session: VoiceSession) -> bool:
        """The agent left: a guest still connected takes her place, as in an attended transfer (a
        colleague first; a number or SIP URI only when the desk keeps calls without agents). True
        when one did; False when the call should end."""
        if session.done:
            return False
        guests = [p for p in session.parties.values() if p.role == "guest" and p.connected and p.leg is not None]
        heir = next((p for p in guests if p.kind == "agent"), None)
        if heir is None and guests and not self.desk.last_agent_ends_call:
            heir = guests[0]
        if heir is None:
            return False
        await self.transfer(session, {"party_id": heir.party_id})
        return True

    def regraph(self, session: VoiceSession) -> None:
        """Who hears whom now, from the table; hold audio to the customer whenever it hears nobody."""
        parties = list(session.parties.values())
        guests = [p for p in parties if p.role == "guest"]
        if session.held:
            mode = CallMode.HOLD
        elif any(p.mode == "consult" for p in guests):
            mode = CallMode.CONSULT
        elif any(p.connected for p in guests):
            mode = CallMode.CONFERENCE
        else:
            mode = CallMode.TALKING
        present = [CUSTOMER, *([AGENT] if session.agent_leg is not None else []),
                   *(p.name for p in parties if p.connected)]
        monitors = {p.name: Monitor(p.mode) for p in parties if p.role == "supervisor" and p.connected}
        graph = hears(mode, present, monitors)
        session.media.connect(graph)
        if CUSTOMER in graph:
            self.desk.stop_hold_audio(session)
        else:
            self.desk.start_hold_audio(session)

    async def hang_up_all(self, session: VoiceSession) -> list[OutgoingCall | MediaParty]:
        """The call ends: every party's leg, to hang up with the others."""
        legs = [p.leg for p in session.parties.values() if p.leg is not None]
        session.parties.clear()
        return legs

    async def _watch(self, session: VoiceSession, party: PartyLeg) -> None:
        assert party.leg is not None
        await party.leg.ended.wait()
        if session.parties.get(party.party_id) is party and not session.done:
            await self._gone(session, party, "hung up" if party.leg.ended_by == "them" else "dropped")

    async def _gone(self, session: VoiceSession, party: PartyLeg, reason: str) -> None:
        if session.parties.get(party.party_id) is not party:
            return
        del session.parties[party.party_id]
        if party.browser is not None and not party.browser.done():
            party.browser.cancel()
        session.media.remove_party(party.name)
        if not session.done:
            self.regraph(session)
        await self.desk.core.call_party(session.interaction_id, session.caller.call_id, party.party_id, "left",
                                        reason=reason)
