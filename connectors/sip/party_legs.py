"""Legs of parties beyond the customer and the agent: consulted and conference guests, and
supervisors who monitor the call (``call.command`` add_party, party_mode, drop_party).

A party is rung on its own bridge socket (``CallBridge.open_party``) while the call goes on. Once
it answers, the call's graph is made again from the one table (``connectors/mixing.py:hears``):
the call mode follows from the parties (a guest in consult: ``consult``, the customer hears hold
audio; guests in conference: ``conference``; a held call: ``hold``; else ``talking``), and each
supervisor adds its monitor mode. A party that does not answer, hangs up or is dropped leaves;
the call goes on, and the core is told (``Core.call_party``) either way. A supervisor's leg is
invisible to the agent and the customer: no re-INVITE, no tone, no event on their side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.media import AGENT, CUSTOMER
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
    to: str = ""  # the number or SIP URI rung
    leg: OutgoingCall | None = None
    connected: bool = False

    @property
    def name(self) -> str:
        return guest(self.party_id) if self.role == "guest" else supervisor(self.party_id)


class PartyLegs:
    """Rings, mixes in and lets go of a call's extra parties."""

    def __init__(self, desk: VoiceDesk) -> None:
        self.desk = desk

    async def add(self, session: VoiceSession, data: dict[str, Any]) -> None:
        to = str(data.get("to") or "")
        party = PartyLeg(str(data.get("party_id") or ""), str(data.get("role") or "guest"),
                         str(data.get("mode") or "consult"), to)
        if not party.party_id or party.party_id in session.parties or session.done:
            return
        session.parties[party.party_id] = party
        desk = self.desk
        port = await session.media.open_party(party.name)
        self.regraph(session)  # a consult puts the customer on hold audio while the colleague rings
        party.leg = desk.manager.call(desk.uri_of(("phone", to)))
        try:
            media = await party.leg.dial(sdp.offer(desk.host, port, payloads=(session.media.payload, 101)),
                                         ring_seconds=desk.transfer_ring_seconds)
        except CallFailed as exc:
            await self._gone(session, party, "no answer" if exc.status == 0 else f"{exc.status} {exc.reason}")
            return
        if session.done or party.party_id not in session.parties:  # the call ended (or the party was dropped)
            await party.leg.hangup()
            return
        session.media.add_party(party.name, (media.host, media.port), events_payload=media.events_payload)
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
        await self._gone(session, party, "dropped")

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
        session.agent_leg, session.transferred_to = leg, party.to
        assert socket.peer is not None
        session.media.swap_in(socket, socket.peer, socket.events_payload)
        self.regraph(session)
        if released is not None:
            await released.hangup()
        await desk.core.call_party(session.interaction_id, session.caller.call_id, party.party_id, "left",
                                   reason="took the call")
        await desk.core.call_transferred_out(session.interaction_id, session.caller.call_id, party.to)
        desk.spawn(desk.phones.end_with(session, leg, "transfer_target"))

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

    async def hang_up_all(self, session: VoiceSession) -> list[OutgoingCall]:
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
        session.media.remove_party(party.name)
        if not session.done:
            self.regraph(session)
        await self.desk.core.call_party(session.interaction_id, session.caller.call_id, party.party_id, "left",
                                        reason=reason)
