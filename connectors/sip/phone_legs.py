"""Legs that are phones (SIP dialogs the server places): the agent's phone, MakeCall, transfers.

- **Ringing the agent**: when an agent accepts a queued call, the server calls her
  ``voice_endpoint``. A phone that does not answer within ``agent_ring_seconds`` (or refuses)
  sets her away and sends the call back to the queue for the next agent. Agents whose endpoint
  is ``browser`` are rung by ``joined_legs.py`` instead.
- **MakeCall** (and callbacks): the agent's phone first, then the customer, then the bridge.
- **Transfer to a number**: it rings on a standby socket while the agent and the customer keep
  talking, and only once it answers does it take the agent's place (the agent's phone is
  released, the interaction goes to wrap-up). A number that does not answer leaves the call as
  it was, with ``call.transfer_failed``. The agent's phone may ask for the same itself (REFER).
- **The handset's hold key** (a re-INVITE from her phone) holds and resumes the interaction too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectors.media import AGENT, CUSTOMER, TALKING
from connectors.sip import sdp
from connectors.sip.call import CallFailed, OutgoingCall
from connectors.sip.session import CallLeg, VoiceSession, failure_outcome, first_to_end

if TYPE_CHECKING:
    from connectors.sip.voice import VoiceDesk

log = logging.getLogger(__name__)


class PhoneLegs:
    """The SIP legs the desk places: agents' phones, customers' numbers, transfer targets."""

    def __init__(self, desk: VoiceDesk) -> None:
        self.desk = desk

    async def ring_agent(self, session: VoiceSession, agent_id: str | None) -> None:
        """Call the accepting agent and bridge her to the waiting customer."""
        desk = self.desk
        endpoint = await desk.core.agent_endpoint(agent_id) if agent_id else None
        if endpoint == "browser":
            await desk.joined.ring_browser(session, agent_id)
            return
        session.browser_offers = None
        if not endpoint or not endpoint.startswith("sip"):
            log.warning("agent %s has no voice endpoint (%r); the caller stays connected to nobody", agent_id,
                        endpoint)
            return
        leg = session.agent_leg = desk.manager.call(endpoint)
        self._take_transfers(session, leg)
        self._follow_handset(session, leg)
        payloads = (session.media.payload, 101)
        try:
            media = await leg.dial(sdp.offer(desk.host, session.media.port(AGENT), payloads=payloads),
                                   ring_seconds=desk.agent_ring_seconds)
        except CallFailed as exc:
            log.warning("agent %s did not take call %s (%s): set away, the call goes to the next agent", agent_id,
                        session.caller.call_id, exc)
            session.agent_leg = None
            if agent_id and not session.done:
                await desk.core.agent_missed(session.interaction_id, agent_id)
            return
        session.media.add_party(AGENT, (media.host, media.port), events_payload=media.events_payload)
        desk.agent_arrived(session)
        await desk.core.call_answered(session.interaction_id, session.caller.call_id, leg="agent", agent_id=agent_id)
        await self.end_with(session, leg, "agent")  # (a leg we released for a transfer does not end the call)

    async def release_agent(self, session: VoiceSession) -> None:
        """A blind transfer to a queue or agent: the current agent's phone is hung up; the caller
        stays on the server until the next agent accepts (then ``ring_agent`` bridges again)."""
        leg, session.agent_leg = session.agent_leg, None
        session.media.remove_party(AGENT)
        self.desk.start_hold_audio(session)  # waiting again, for the next agent
        if leg is not None:
            await leg.hangup()

    async def make_call(self, interaction_id: str, agent_id: str | None) -> None:
        """MakeCall: the agent's phone first, then the customer, then the bridge."""
        desk = self.desk
        endpoint = await desk.core.agent_endpoint(agent_id) if agent_id else None
        target = await desk.core.call_target(interaction_id)
        if endpoint == "browser" and target is not None:
            await desk.joined.make_call_from_browser(interaction_id, agent_id, target)
            return
        if not endpoint or not endpoint.startswith("sip") or target is None:
            log.warning("MakeCall %s: agent endpoint %r, target %r: cannot dial", interaction_id, endpoint, target)
            return
        bridge = desk.new_media()
        customer_port, agent_port = await bridge.open()  # the customer and the agent sit as on an inbound call
        agent_leg = desk.manager.call(endpoint)
        customer_leg = desk.manager.call(desk.uri_of(target))
        session = VoiceSession(interaction_id, customer_leg, bridge, agent_leg=agent_leg)
        desk.custody.keep(session)
        desk.record(session)
        self._take_transfers(session, agent_leg)
        self._follow_handset(session, agent_leg)
        try:
            media = await agent_leg.dial(sdp.offer(desk.host, agent_port, payloads=(0, 8, 101)), ring_seconds=30)
            bridge.add_party(AGENT, (media.host, media.port))
            bridge.payload = next((pt for pt in media.payloads if pt in (0, 8)), 0)
            await desk.core.call_answered(interaction_id, agent_leg.call_id, leg="agent", agent_id=agent_id)
            media = await customer_leg.dial(sdp.offer(desk.host, customer_port, payloads=(bridge.payload, 101)),
                                            ring_seconds=desk.customer_ring_seconds)
            bridge.add_party(CUSTOMER, (media.host, media.port), events_payload=media.events_payload)
            desk.report_keys(session)
            await desk.core.call_answered(interaction_id, customer_leg.call_id, leg="customer", agent_id=agent_id)
        except CallFailed as exc:
            log.info("MakeCall %s ended before the bridge: %s", interaction_id, exc)
            reached_agent = agent_leg.dialog is not None
            await desk.end(session, "customer" if reached_agent else "agent",
                           outcome=failure_outcome(exc.status) if reached_agent else "agent_unreachable")
            return
        while True:
            current = session.agent_leg or agent_leg
            ended = await first_to_end(current, customer_leg)  # type: ignore[arg-type]
            if ended is customer_leg or session.done:
                break
            handed_over = session.agent_leg is not current  # (a transfer: watch the new leg)
            if not handed_over and not (ended.ended_by == "them" and await desk.parties.take_over(session)):
                break  # (take_over: she left a conference and a guest has her place)
        await desk.end(session, "customer" if ended is customer_leg else
                       "transfer_target" if session.transferred_to else "agent")

    async def transfer_out(self, session: VoiceSession, to: str) -> bool:
        """Ring ``to`` beside the call; once it answers it replaces the agent (blind transfer out).
        True when it did."""
        desk = self.desk
        if session.transferring or session.done:
            reason = "the call is over" if session.done else "a transfer is already under way"
            await desk.core.call_transfer_failed(session.interaction_id, session.caller.call_id, to, reason)
            return False
        session.transferring = True
        standby = await session.media.standby()
        leg = desk.manager.call(desk.uri_of(("phone", to)))
        try:
            media = await leg.dial(sdp.offer(desk.host, standby.port, payloads=(session.media.payload, 101)),
                                   ring_seconds=desk.transfer_ring_seconds)
        except CallFailed as exc:
            standby.close()
            session.transferring = False
            reason = "no answer" if exc.status == 0 else f"{exc.status} {exc.reason}"
            await desk.core.call_transfer_failed(session.interaction_id, session.caller.call_id, to, reason)
            return False
        if session.done:  # the caller hung up while it rang
            standby.close()
            await leg.hangup()
            return False
        released, session.agent_leg, session.transferred_to = session.agent_leg, leg, to
        session.media.swap_in(standby, (media.host, media.port), media.events_payload)
        desk.stop_hold_audio(session)
        session.media.connect(TALKING)
        if released is not None:
            await released.hangup()
        await desk.core.call_transferred_out(session.interaction_id, session.caller.call_id, to)
        if not isinstance(session.caller, OutgoingCall):  # (MakeCall's own loop watches the new leg)
            desk.spawn(self.end_with(session, leg, "transfer_target"))
        return True

    async def end_with(self, session: VoiceSession, leg: OutgoingCall | CallLeg, by: str) -> None:
        """When this leg's far end hangs up, the agent has left (``VoiceDesk.agent_left``)."""
        await leg.ended.wait()
        if leg.ended_by == "them" and session.agent_leg is leg:
            await self.desk.agent_left(session, by)

    def _take_transfers(self, session: VoiceSession, leg: OutgoingCall) -> None:
        """The agent's phone may transfer the call itself (REFER): the server carries it out."""
        async def on_refer(target: str) -> bool:
            if not target.startswith("sip:"):
                return False
            return await self.transfer_out(session, target)

        leg.on_refer = on_refer

    def _follow_handset(self, session: VoiceSession, leg: OutgoingCall) -> None:
        """The agent's hold key (a re-INVITE from her phone) holds and resumes the interaction too,
        so the customer hears hold audio and the desktop agrees with the phone."""
        def on_direction(direction: str) -> None:
            held = direction in ("sendonly", "inactive")
            if session.agent_leg is not leg or held == session.held_by_phone:
                return
            if held:
                session.held_by_phone = True  # (cleared by the desk's resume, which must know who held)
            self.desk.spawn(self.desk.core.call_hold(session.interaction_id, held))

        leg.on_direction = on_direction
