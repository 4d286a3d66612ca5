"""Inbound calls through the universal queue: answer, queue, ring the accepting agent, bridge.

A call to the server's account is answered at once (the caller waits in the queue, hearing hold
audio) and becomes a queued voice interaction. When an agent accepts it, the
server calls the agent's ``voice_endpoint`` and relays RTP between the two legs without
decoding it (same codec on both legs, so no transcoding). An agent phone that does not answer
within ``agent_ring_seconds`` (or refuses) sets that agent away and sends the call back to the
queue for the next agent. Whoever hangs up first ends the
other leg; ending the interaction through the API hangs up both.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from connectors.sip import sdp
from connectors.sip.call import CallFailed, CallManager, OutgoingCall
from connectors.sip.incoming import IncomingCall
from connectors.sip.message import Request
from connectors.sip.player import Player, encode, tone_pcm
from connectors.sip.relay import RtpRelay
from connectors.sip.transaction import Addr
from cti.events import EventType

log = logging.getLogger(__name__)
PHONE_LIKE = re.compile(r"^\+?\d{3,15}$")
FOLLOWED = [EventType.INTERACTION_ACCEPTED.value, EventType.INTERACTION_TRANSFERRED.value,
            EventType.INTERACTION_HELD.value, EventType.INTERACTION_RESUMED.value,
            EventType.INTERACTION_WRAPUP.value, EventType.INTERACTION_ENDED.value,
            EventType.INTERACTION_ABANDONED.value]


@dataclass
class VoiceSession:
    interaction_id: str
    caller: IncomingCall | OutgoingCall  # the customer's leg
    relay: RtpRelay
    payload: int
    started_at: float = field(default_factory=time.time)
    agent_leg: OutgoingCall | None = None
    player: Player | None = None  # hold audio while held
    done: bool = False


class VoiceDesk:
    """Every call the SIP connector carries."""

    def __init__(self, core: Any, manager: CallManager, host: str, *, agent_ring_seconds: float = 20.0,
                 hold_audio: bytes | None = None) -> None:
        self.core, self.manager, self.host = core, manager, host
        self.agent_ring_seconds = agent_ring_seconds
        self.hold_audio = hold_audio or tone_pcm()
        self.sessions: dict[str, VoiceSession] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            await self._end(session, "server")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def on_invite(self, request: Request, source: Addr, key: tuple[str, ...]) -> None:
        self.spawn(self._take(IncomingCall(self.manager, request, key, source)))

    async def _take(self, call: IncomingCall) -> None:
        media = call.media
        offered = [pt for pt in (media.payloads if media else ()) if pt in (0, 8)]
        if media is None or not offered:
            call.reject(488, "Not Acceptable Here")
            return
        relay = RtpRelay(self.host)
        port_a, _ = await relay.open()
        relay.set_peer("a", (media.host, media.port))
        relay.a.events_payload = media.events_payload
        payloads = (offered[0], 101) if 101 in media.payloads else (offered[0],)
        call.answer(sdp.offer(self.host, port_a, payloads=payloads))
        user = call.caller.uri.split(":", 1)[-1].split("@")[0]
        kind, value = ("phone", user) if PHONE_LIKE.match(user) else ("sip", call.caller.uri)
        try:
            interaction_id = await self.core.start_call(kind, value, call.call_id, name=call.caller.display)
        except Exception:
            log.exception("call %s could not be stored; hanging up", call.call_id)
            await call.hangup()
            relay.close()
            return
        session = VoiceSession(interaction_id, call, relay, offered[0])
        self.sessions[interaction_id] = session
        self._report_keys(session)
        self._start_hold_audio(session)  # the caller waits in the queue
        await self.core.call_answered(interaction_id, call.call_id, leg="customer", agent_id=None)
        await call.ended.wait()
        await self._end(session, "customer")

    async def follow(self) -> None:
        """React to the core: an accepted call rings its agent; an ended interaction hangs up."""
        sub = self.core.events(FOLLOWED)
        try:
            async for event in sub:
                session = self.sessions.get(event.interaction_id or "")
                if session is None:
                    if event.type is EventType.INTERACTION_ACCEPTED and _is_make_call(event.data):
                        self.spawn(self._make_call(event.interaction_id or "", event.agent_id))
                    continue
                if event.type is EventType.INTERACTION_ACCEPTED and session.agent_leg is None:
                    self.spawn(self._ring_agent(session, event.agent_id))
                elif event.type is EventType.INTERACTION_TRANSFERRED:
                    self.spawn(self._release_agent(session))
                elif event.type is EventType.INTERACTION_HELD:
                    self._hold(session)
                elif event.type is EventType.INTERACTION_RESUMED:
                    self._resume(session)
                elif event.type is not EventType.INTERACTION_ACCEPTED:
                    self.spawn(self._end(session, "agent"))
        finally:
            sub.close()

    def _hold(self, session: VoiceSession) -> None:
        """The agent put the customer on hold: the legs stop hearing each other, the customer hears hold audio."""
        session.relay.hold(True)
        self._start_hold_audio(session)

    def _resume(self, session: VoiceSession) -> None:
        self._stop_hold_audio(session)
        session.relay.hold(False)

    def _start_hold_audio(self, session: VoiceSession) -> None:
        if session.player is None and session.relay.a.peer is not None:
            session.player = Player(session.relay.a, encode(self.hold_audio, session.payload), session.payload)
            session.player.start()

    def _stop_hold_audio(self, session: VoiceSession) -> None:
        if session.player is not None:
            session.player.stop()
            session.player = None

    async def _release_agent(self, session: VoiceSession) -> None:
        """A blind transfer: the current agent's phone is hung up; the caller stays on the server
        until the next agent accepts (then ``_ring_agent`` bridges again)."""
        leg, session.agent_leg = session.agent_leg, None
        session.relay.forget_peer("b")
        self._start_hold_audio(session)  # waiting again, for the next agent
        if leg is not None:
            await leg.hangup()

    async def _ring_agent(self, session: VoiceSession, agent_id: str | None) -> None:
        endpoint = await self.core.agent_endpoint(agent_id) if agent_id else None
        if not endpoint or not endpoint.startswith("sip"):
            log.warning("agent %s has no SIP voice endpoint (%r); the caller stays connected to nobody", agent_id,
                        endpoint)
            return
        leg = session.agent_leg = self.manager.call(endpoint)
        payloads = (session.payload, 101)
        try:
            media = await leg.dial(sdp.offer(self.host, session.relay.b.port, payloads=payloads),
                                   ring_seconds=self.agent_ring_seconds)
        except CallFailed as exc:
            log.warning("agent %s did not take call %s (%s): set away, the call goes to the next agent", agent_id,
                        session.caller.call_id, exc)
            session.agent_leg = None
            if agent_id and not session.done:
                await self.core.agent_missed(session.interaction_id, agent_id)
            return
        session.relay.set_peer("b", (media.host, media.port))
        session.relay.b.events_payload = media.events_payload
        if not session.relay.a.held:
            self._stop_hold_audio(session)  # the agent is there
        await self.core.call_answered(session.interaction_id, session.caller.call_id, leg="agent", agent_id=agent_id)
        await leg.ended.wait()
        if leg.ended_by == "them" and session.agent_leg is leg:  # not a leg we released for a transfer
            await self._end(session, "agent")

    async def _make_call(self, interaction_id: str, agent_id: str | None) -> None:
        """MakeCall: the agent's phone first, then the customer, then the bridge."""
        endpoint = await self.core.agent_endpoint(agent_id) if agent_id else None
        target = await self.core.call_target(interaction_id)
        if not endpoint or not endpoint.startswith("sip") or target is None:
            log.warning("MakeCall %s: agent endpoint %r, target %r: cannot dial", interaction_id, endpoint, target)
            return
        relay = RtpRelay(self.host)
        customer_port, agent_port = await relay.open()  # leg a: the customer, leg b: the agent (as inbound)
        agent_leg = self.manager.call(endpoint)
        customer_leg = self.manager.call(self._uri_of(target))
        session = VoiceSession(interaction_id, customer_leg, relay, 0, agent_leg=agent_leg)
        self.sessions[interaction_id] = session
        try:
            media = await agent_leg.dial(sdp.offer(self.host, agent_port, payloads=(0, 8, 101)), ring_seconds=30)
            relay.set_peer("b", (media.host, media.port))
            session.payload = next((pt for pt in media.payloads if pt in (0, 8)), 0)
            await self.core.call_answered(interaction_id, agent_leg.call_id, leg="agent", agent_id=agent_id)
            media = await customer_leg.dial(sdp.offer(self.host, customer_port, payloads=(session.payload, 101)),
                                            ring_seconds=60)
            relay.set_peer("a", (media.host, media.port))
            relay.a.events_payload = media.events_payload
            self._report_keys(session)
            await self.core.call_answered(interaction_id, customer_leg.call_id, leg="customer", agent_id=agent_id)
        except CallFailed as exc:
            log.info("MakeCall %s ended before the bridge: %s", interaction_id, exc)
            await self._end(session, "customer" if agent_leg.dialog else "agent")
            return
        ended = await _first_to_end(agent_leg, customer_leg)
        await self._end(session, "agent" if ended is agent_leg else "customer")

    def _report_keys(self, session: VoiceSession) -> None:
        """DTMF the customer presses becomes call.dtmf events."""
        def on_key(key: str) -> None:
            self.spawn(self.core.call_dtmf(session.interaction_id, session.caller.call_id, key, leg="customer"))

        session.relay.a.on_key = on_key

    def _uri_of(self, target: tuple[str, str]) -> str:
        kind, value = target
        if kind == "sip" or value.startswith("sip:"):
            return value
        return f"sip:{value}@{self.manager.account.domain}"  # a number: the PBX/registrar routes it

    async def _end(self, session: VoiceSession, by: str) -> None:
        if session.done:
            return
        session.done = True
        self.sessions.pop(session.interaction_id, None)
        if session.player is not None:
            session.player.stop()
        await session.caller.hangup()
        if session.agent_leg is not None:
            await session.agent_leg.hangup()
        session.relay.close()
        try:
            await self.core.call_ended(session.interaction_id, session.caller.call_id, by=by,
                                       started_at=session.started_at)
        except Exception:
            log.exception("call %s: could not record its end", session.caller.call_id)


def _is_make_call(data: dict[str, Any]) -> bool:
    interaction = data.get("interaction") or {}
    return interaction.get("channel") == "voice" and interaction.get("direction") == "outbound"


async def _first_to_end(*legs: OutgoingCall) -> OutgoingCall:
    """The leg whose far end hangs up first (or that we hang up)."""
    waits = {asyncio.ensure_future(leg.ended.wait()): leg for leg in legs}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return waits[next(iter(done))]
