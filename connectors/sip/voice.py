"""Inbound calls through the universal queue: answer, queue, ring the accepting agent, bridge.

A call to the server's account is answered at once (the caller waits in the queue, hearing hold
audio) and becomes a queued voice interaction. When an agent accepts it, the
server calls the agent's ``voice_endpoint`` and relays RTP between the two legs without
decoding it (same codec on both legs, so no transcoding). An agent phone that does not answer
within ``agent_ring_seconds`` (or refuses) sets that agent away and sends the call back to the
queue for the next agent. Whoever hangs up first ends the
other leg; ending the interaction through the API hangs up both.

Commands from the API arrive as ``call.command`` events (from whichever node took the request):
DTMF is played to the customer as RFC 4733 events (SIP INFO when the customer's phone offered
no telephone-event); a transfer to a number rings it on a standby socket while the agent and
the customer keep talking, and only once it answers does it take the agent's place (the agent's
phone is released, the interaction goes to wrap-up). A number that does not answer leaves the
call as it was, with ``call.transfer_failed``. With ``record`` on, each call is recorded to a
stereo WAV (customer left, agent right) and ``call.recorded`` names the file.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from connectors.sip import sdp
from connectors.sip.call import CallFailed, CallManager, OutgoingCall
from connectors.sip.custody import CallCustody
from connectors.sip.dtmf import send_keys
from connectors.sip.incoming import IncomingCall
from connectors.sip.media_legs import MediaLegs
from connectors.sip.message import Request
from connectors.sip.player import Player, encode, tone_pcm
from connectors.sip.recorder import Recorder
from connectors.sip.relay import RtpRelay
from connectors.sip.session import VoiceSession, failure_outcome, first_to_end, is_make_call
from connectors.sip.transaction import Addr
from cti.events import EventType

log = logging.getLogger(__name__)
PHONE_LIKE = re.compile(r"^\+?\d{3,15}$")
HANGUP_GRACE_SECONDS = 0.5  # the end is recorded after this even when a dead phone never answers its BYE
STOP_SECONDS = 5.0  # a stopping server waits this long in all for the BYEs of its calls
ACK_WAIT_SECONDS = 32.0  # 64*T1: the caller's ACK to our 200 OK (RFC 3261 13.3.1.4)
FOLLOWED = [EventType.INTERACTION_ACCEPTED.value, EventType.INTERACTION_TRANSFERRED.value,
            EventType.INTERACTION_HELD.value, EventType.INTERACTION_RESUMED.value,
            EventType.INTERACTION_WRAPUP.value, EventType.INTERACTION_ENDED.value,
            EventType.INTERACTION_ABANDONED.value, EventType.CALL_COMMAND.value]


class VoiceDesk(MediaLegs):
    """Every call the SIP connector carries (and the calls of browsers and Twilio streams it bridges)."""

    def __init__(self, core: Any, manager: CallManager, host: str, *, agent_ring_seconds: float = 20.0,
                 hold_audio: bytes | None = None, recordings: Path | None = None,
                 transfer_ring_seconds: float = 30.0, customer_ring_seconds: float = 45.0,
                 dial_format: str = "e164", place_outbound: bool = True, media_nat: bool = False,
                 no_media_seconds: float = 30.0) -> None:
        self.core, self.manager, self.host = core, manager, host
        self.agent_ring_seconds, self.transfer_ring_seconds = agent_ring_seconds, transfer_ring_seconds
        self.customer_ring_seconds = customer_ring_seconds  # MakeCall and callbacks: then "no answer"
        self.dial_format = dial_format  # "digits": numbers go to the PBX without the leading +
        self.place_outbound = place_outbound  # MakeCall and callbacks (else another voice connector places them)
        self.recordings = recordings  # None: calls are not recorded
        self.media_nat = media_nat  # parties' RTP may come from another port of their signalled address
        self.hold_audio = hold_audio or tone_pcm()
        self.sessions: dict[str, VoiceSession] = {}
        self.custody = CallCustody(core, self.sessions, end=self._end, spawn=self.spawn,
                                   no_media_seconds=no_media_seconds)
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Hang up every call at once (custody.end_all), then stop."""
        await self.custody.end_all(STOP_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def on_invite(self, request: Request, source: Addr, key: tuple[str, ...]) -> None:
        self.spawn(self._take(IncomingCall(self.manager, request, key, source)))

    async def _take(self, call: IncomingCall) -> None:
        media = call.media
        offered = [pt for pt in (media.payloads if media else ()) if pt in (0, 8)]
        if media is None or not offered or not sdp.usable(media):
            call.reject(488, "Not Acceptable Here")  # no audio we can carry, or nowhere it could go
            return
        relay = RtpRelay(self.host, latch_any_port=self.media_nat)
        port_a, _ = await relay.open()
        relay.set_peer("a", (media.host, media.port))
        relay.a.events_payload = media.events_payload
        payloads = (offered[0], 101) if 101 in media.payloads else (offered[0],)
        call.answer(sdp.offer(self.host, port_a, payloads=payloads))
        # Nothing is stored and no audio is sent before the caller confirms the call with its ACK:
        # a forged INVITE (a spoofed source) never becomes an interaction or a media stream.
        try:
            await asyncio.wait_for(call.confirmed.wait(), ACK_WAIT_SECONDS)
        except TimeoutError:
            relay.close()
            await call.hangup()
            return
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
        self.custody.keep(session)
        self._record(session)
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
                if event.type is EventType.CALL_COMMAND:
                    if session is not None:  # else the call is on another node (or over)
                        self._command(session, event.data)
                    continue
                if session is None:
                    if event.type is EventType.INTERACTION_ACCEPTED and self.place_outbound and \
                            is_make_call(event.data):
                        self.spawn(self._make_call(event.interaction_id or "", event.agent_id))
                    continue
                if event.type is EventType.INTERACTION_ACCEPTED and session.agent_leg is None:
                    session.browser_offers = session.browser_offers or asyncio.Queue()  # (her desktop may be quick)
                    self.spawn(self._ring_agent(session, event.agent_id))
                elif event.type is EventType.INTERACTION_TRANSFERRED:
                    self.spawn(self._release_agent(session))
                elif event.type is EventType.INTERACTION_HELD:
                    self._hold(session)
                elif event.type is EventType.INTERACTION_RESUMED:
                    self._resume(session)
                elif event.type is not EventType.INTERACTION_ACCEPTED and session.transferred_to is None:
                    self.spawn(self._end(session, "agent"))
        finally:
            sub.close()

    def _hold(self, session: VoiceSession) -> None:
        """The agent put the customer on hold: the legs stop hearing each other, the customer hears hold audio."""
        session.relay.hold(True)
        self._start_hold_audio(session)
        if session.agent_leg is not None and not session.held_by_phone:  # her phone shows the call held
            self.spawn(session.agent_leg.reinvite("inactive"))

    def _resume(self, session: VoiceSession) -> None:
        self._stop_hold_audio(session)
        session.relay.hold(False)
        if session.agent_leg is not None and not session.held_by_phone:
            self.spawn(session.agent_leg.reinvite("sendrecv"))
        session.held_by_phone = False

    def _follow_handset(self, session: VoiceSession, leg: OutgoingCall) -> None:
        """The agent's hold key (a re-INVITE from her phone) holds and resumes the interaction too,
        so the customer hears hold audio and the desktop agrees with the phone."""
        def on_direction(direction: str) -> None:
            held = direction in ("sendonly", "inactive")
            if session.agent_leg is not leg or held == session.held_by_phone:
                return
            if held:
                session.held_by_phone = True  # (cleared by _resume, which must know who held)
            self.spawn(self.core.call_hold(session.interaction_id, held))

        leg.on_direction = on_direction

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
        if endpoint == "browser":
            await self._ring_browser(session, agent_id)
            return
        session.browser_offers = None
        if not endpoint or not endpoint.startswith("sip"):
            log.warning("agent %s has no voice endpoint (%r); the caller stays connected to nobody", agent_id,
                        endpoint)
            return
        leg = session.agent_leg = self.manager.call(endpoint)
        self._take_transfers(session, leg)
        self._follow_handset(session, leg)
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
        await self._end_with(session, leg, "agent")  # (a leg we released for a transfer does not end the call)

    async def _make_call(self, interaction_id: str, agent_id: str | None) -> None:
        """MakeCall: the agent's phone first, then the customer, then the bridge."""
        endpoint = await self.core.agent_endpoint(agent_id) if agent_id else None
        target = await self.core.call_target(interaction_id)
        if endpoint == "browser" and target is not None:
            await self._make_call_from_browser(interaction_id, agent_id, target)
            return
        if not endpoint or not endpoint.startswith("sip") or target is None:
            log.warning("MakeCall %s: agent endpoint %r, target %r: cannot dial", interaction_id, endpoint, target)
            return
        relay = RtpRelay(self.host)
        customer_port, agent_port = await relay.open()  # leg a: the customer, leg b: the agent (as inbound)
        agent_leg = self.manager.call(endpoint)
        customer_leg = self.manager.call(self._uri_of(target))
        session = VoiceSession(interaction_id, customer_leg, relay, 0, agent_leg=agent_leg)
        self.custody.keep(session)
        self._record(session)
        self._take_transfers(session, agent_leg)
        self._follow_handset(session, agent_leg)
        try:
            media = await agent_leg.dial(sdp.offer(self.host, agent_port, payloads=(0, 8, 101)), ring_seconds=30)
            relay.set_peer("b", (media.host, media.port))
            session.payload = next((pt for pt in media.payloads if pt in (0, 8)), 0)
            await self.core.call_answered(interaction_id, agent_leg.call_id, leg="agent", agent_id=agent_id)
            media = await customer_leg.dial(sdp.offer(self.host, customer_port, payloads=(session.payload, 101)),
                                            ring_seconds=self.customer_ring_seconds)
            relay.set_peer("a", (media.host, media.port))
            relay.a.events_payload = media.events_payload
            self._report_keys(session)
            await self.core.call_answered(interaction_id, customer_leg.call_id, leg="customer", agent_id=agent_id)
        except CallFailed as exc:
            log.info("MakeCall %s ended before the bridge: %s", interaction_id, exc)
            reached_agent = agent_leg.dialog is not None
            await self._end(session, "customer" if reached_agent else "agent",
                            outcome=failure_outcome(exc.status) if reached_agent else "agent_unreachable")
            return
        while True:
            current = session.agent_leg or agent_leg
            ended = await first_to_end(current, customer_leg)
            if ended is customer_leg or session.agent_leg is current:
                break  # (else the agent's leg was handed over to a transfer target: watch the new one)
        await self._end(session, "customer" if ended is customer_leg else
                        "transfer_target" if session.transferred_to else "agent")

    def _report_keys(self, session: VoiceSession) -> None:
        """DTMF the customer presses becomes call.dtmf events."""
        session.relay.a.on_key = self._on_customer_key(session)

    def _on_customer_key(self, session: VoiceSession) -> Any:
        def on_key(key: str) -> None:
            self.spawn(self.core.call_dtmf(session.interaction_id, session.caller.call_id, key, leg="customer"))

        return on_key

    def _uri_of(self, target: tuple[str, str]) -> str:
        kind, value = target
        if kind == "sip" or value.startswith("sip:"):
            return value
        if self.dial_format == "digits":
            value = value.lstrip("+")
        return f"sip:{value}@{self.manager.account.domain}"  # a number: the PBX/registrar routes it

    async def _end(self, session: VoiceSession, by: str, *, outcome: str | None = None) -> None:
        if session.done:
            return
        session.done = True
        self.sessions.pop(session.interaction_id, None)
        self.custody.changed()
        if session.player is not None:
            session.player.stop()
        legs = [session.caller, *([session.agent_leg] if session.agent_leg is not None else [])]
        byes = [asyncio.ensure_future(leg.hangup()) for leg in legs]  # both BYEs go out now, together
        await asyncio.wait(byes, timeout=HANGUP_GRACE_SECONDS)  # (a live party's leg is closed before we say so)
        session.relay.close()
        if session.recorder is not None:
            seconds = session.recorder.close()
            try:
                await self.core.call_recorded(session.interaction_id, session.caller.call_id,
                                              str(session.recorder.path), seconds)
            except Exception:
                log.exception("call %s: could not record its recording", session.caller.call_id)
        try:  # the interaction ends now, not after a dead phone's BYE times out
            await self.core.call_ended(session.interaction_id, session.caller.call_id, by=by,
                                       started_at=session.started_at, outcome=outcome)
        except Exception:
            log.exception("call %s: could not record its end", session.caller.call_id)
        await asyncio.gather(*byes, return_exceptions=True)

    def _record(self, session: VoiceSession) -> None:
        if self.recordings is None:
            return
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", session.caller.call_id)[:80]
        recorder = session.recorder = Recorder(self.recordings / f"{session.interaction_id}-{safe}.wav")
        session.relay.record(lambda packet: recorder.add(0, packet), lambda packet: recorder.add(1, packet))

    # ---- commands from the API -----------------------------------------------------------
    def _command(self, session: VoiceSession, data: dict[str, Any]) -> None:
        action = data.get("action")
        if action == "dtmf":
            self.spawn(self._send_dtmf(session, str(data.get("digits") or "")))
        elif action == "transfer":
            self.spawn(self._transfer_out(session, str(data.get("to") or "")))
        else:
            log.warning("call %s: unknown command %r ignored", session.caller.call_id, action)

    async def _send_dtmf(self, session: VoiceSession, digits: str) -> None:
        """Play the digits to the customer: RFC 4733 events, else SIP INFO (application/dtmf-relay)."""
        async with session.keys:
            if session.done or not digits:
                return
            payload = session.relay.a.events_payload
            if payload is not None:
                await send_keys(session.relay.a, digits, payload)
            else:
                for key in digits:
                    await session.caller.info(f"Signal={key}\r\nDuration=160\r\n".encode(), "application/dtmf-relay")
            await self.core.call_dtmf(session.interaction_id, session.caller.call_id, digits, leg="customer",
                                      direction="sent")

    async def _transfer_out(self, session: VoiceSession, to: str) -> bool:
        """Ring ``to`` beside the call; once it answers it replaces the agent (blind transfer out).
        True when it did."""
        if session.transferring or session.done:
            reason = "the call is over" if session.done else "a transfer is already under way"
            await self.core.call_transfer_failed(session.interaction_id, session.caller.call_id, to, reason)
            return False
        session.transferring = True
        standby = await session.relay.standby()
        leg = self.manager.call(self._uri_of(("phone", to)))
        try:
            media = await leg.dial(sdp.offer(self.host, standby.port, payloads=(session.payload, 101)),
                                   ring_seconds=self.transfer_ring_seconds)
        except CallFailed as exc:
            standby.close()
            session.transferring = False
            reason = "no answer" if exc.status == 0 else f"{exc.status} {exc.reason}"
            await self.core.call_transfer_failed(session.interaction_id, session.caller.call_id, to, reason)
            return False
        if session.done:  # the caller hung up while it rang
            standby.close()
            await leg.hangup()
            return False
        released, session.agent_leg, session.transferred_to = session.agent_leg, leg, to
        session.relay.replace_b(standby, (media.host, media.port), media.events_payload)
        self._stop_hold_audio(session)
        session.relay.hold(False)
        if released is not None:
            await released.hangup()
        await self.core.call_transferred_out(session.interaction_id, session.caller.call_id, to)
        if not isinstance(session.caller, OutgoingCall):  # (MakeCall's own loop watches the new leg)
            self.spawn(self._end_with(session, leg, "transfer_target"))
        return True

    async def _end_with(self, session: VoiceSession, leg: OutgoingCall, by: str) -> None:
        """When this leg's far end hangs up, the call is over."""
        await leg.ended.wait()
        if leg.ended_by == "them" and session.agent_leg is leg:
            await self._end(session, by)

    def _take_transfers(self, session: VoiceSession, leg: OutgoingCall) -> None:
        """The agent's phone may transfer the call itself (REFER): the server carries it out."""
        async def on_refer(target: str) -> bool:
            if not target.startswith("sip:"):
                return False
            return await self._transfer_out(session, target)

        leg.on_refer = on_refer

