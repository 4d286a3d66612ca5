"""The life of every call the SIP connector carries: answer, queue, follow the core, end.

A call to the server's account is answered at once (the caller waits in the queue, hearing hold
audio) and becomes a queued voice interaction. The desk then follows what the core does to it
(``CallUpdate``s): an accepted call rings its agent, a hold stops the parties hearing each other,
a transfer to a queue releases the agent, an ended interaction hangs up. Whoever hangs up first
ends the other leg.

The desk is three pieces, each with one job:
- ``VoiceDesk`` (here): the call's life, from the first INVITE to ``call.ended``;
- the media graph of each call: ``bridge.py`` (``CallBridge``: parties, who hears whom, hold
  audio, recording) on ``relay.py``;
- the kinds of legs: phones (``phone_legs.py``: ring a SIP agent, MakeCall, transfer to a
  number, the handset's own hold and REFER) and parties that are not SIP dialogs
  (``joined_legs.py``: browsers and Twilio streams, the node's ``MediaBridge``).

Commands from the API arrive as ``call.command`` updates (from whichever node took the request):
DTMF is played to the customer as RFC 4733 events (SIP INFO when the customer's phone offered
no telephone-event); a transfer goes to ``phone_legs``. With ``record`` on, each call is
recorded to a stereo WAV (customer left, agent right) and ``call.recorded`` names the file.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from connectors.base import CallUpdate, CallUpdateKind, Core
from connectors.media import APART, CUSTOMER, TALKING, MediaBridge
from connectors.sip import sdp
from connectors.sip.bridge import CallBridge
from connectors.sip.call import CallManager
from connectors.sip.custody import CallCustody
from connectors.sip.dtmf import send_keys
from connectors.sip.incoming import IncomingCall
from connectors.sip.joined_legs import JoinedLegs
from connectors.sip.message import Request
from connectors.sip.party_legs import PartyLegs
from connectors.sip.phone_legs import PhoneLegs
from connectors.sip.player import tone_pcm
from connectors.sip.session import VoiceSession, is_make_call
from connectors.sip.transaction import Addr
from connectors.tasks import TaskSet

log = logging.getLogger(__name__)
PHONE_LIKE = re.compile(r"^\+?\d{3,15}$")
HANGUP_GRACE_SECONDS = 0.5  # the end is recorded after this even when a dead phone never answers its BYE
STOP_SECONDS = 5.0  # a stopping server waits this long in all for the BYEs of its calls
ACK_WAIT_SECONDS = 32.0  # 64*T1: the caller's ACK to our 200 OK (RFC 3261 13.3.1.4)


class VoiceDesk:
    """Every call the SIP connector carries (and the calls of browsers and Twilio streams it bridges)."""

    def __init__(self, core: Core, manager: CallManager, host: str, *, agent_ring_seconds: float = 20.0,
                 hold_audio: bytes | None = None, recordings: Path | None = None, record_all: bool = True,
                 transfer_ring_seconds: float = 30.0, customer_ring_seconds: float = 45.0,
                 dial_format: str = "e164", place_outbound: bool = True, media_nat: bool = False,
                 no_media_seconds: float = 30.0, last_agent_ends_call: bool = True) -> None:
        self.core, self.manager, self.host = core, manager, host
        self.agent_ring_seconds, self.transfer_ring_seconds = agent_ring_seconds, transfer_ring_seconds
        self.customer_ring_seconds = customer_ring_seconds  # MakeCall and callbacks: then "no answer"
        self.dial_format = dial_format  # "digits": numbers go to the PBX without the leading +
        self.place_outbound = place_outbound  # MakeCall and callbacks (else another voice connector places them)
        self.recordings = recordings  # where recordings go (None: nowhere, not even on demand)
        self.record_all = record_all  # every call from its start; else only when the API asks
        self.media_nat = media_nat  # parties' RTP may come from another port of their signalled address
        self.last_agent_ends_call = last_agent_ends_call  # else a number or SIP URI guest keeps the customer
        self.hold_audio = hold_audio or tone_pcm()
        self.sessions: dict[str, VoiceSession] = {}
        self.tasks = TaskSet(log)
        self.custody = CallCustody(core, self.sessions, end=self.end, spawn=self.spawn,
                                   no_media_seconds=no_media_seconds)
        self.phones = PhoneLegs(self)
        self.joined = JoinedLegs(self)
        self.parties = PartyLegs(self)

    @property
    def media_bridge(self) -> MediaBridge:
        """What browsers and Twilio streams join calls through (softphone_bridge)."""
        return self.joined

    def spawn(self, coro: Any) -> None:
        """Run a piece of a call's work as a task the desk owns."""
        self.tasks.spawn(coro)

    async def stop(self) -> None:
        """Hang up every call at once (custody.end_all), then stop."""
        await self.custody.end_all(STOP_SECONDS)
        await self.tasks.cancel_all()

    def new_media(self, *, payload: int = 0, nat: bool = False) -> CallBridge:
        """A call's media graph on this desk's address."""
        return CallBridge(self.host, payload=payload, latch_any_port=nat)

    def on_invite(self, request: Request, source: Addr, key: tuple[str, ...]) -> None:
        self.spawn(self._take(IncomingCall(self.manager, request, key, source)))

    async def _take(self, call: IncomingCall) -> None:
        media = call.media
        offered = [pt for pt in (media.payloads if media else ()) if pt in (0, 8)]
        if media is None or not offered or not sdp.usable(media):
            call.reject(488, "Not Acceptable Here")  # no audio we can carry, or nowhere it could go
            return
        bridge = self.new_media(payload=offered[0], nat=self.media_nat)
        port_a, _ = await bridge.open()
        bridge.add_party(CUSTOMER, (media.host, media.port), events_payload=media.events_payload)
        payloads = (offered[0], 101) if 101 in media.payloads else (offered[0],)
        call.answer(sdp.offer(self.host, port_a, payloads=payloads))
        # Nothing is stored and no audio is sent before the caller confirms the call with its ACK:
        # a forged INVITE (a spoofed source) never becomes an interaction or a media stream.
        try:
            await asyncio.wait_for(call.confirmed.wait(), ACK_WAIT_SECONDS)
        except TimeoutError:
            bridge.close()
            await call.hangup()
            return
        user = call.caller.uri.split(":", 1)[-1].split("@")[0]
        kind, value = ("phone", user) if PHONE_LIKE.match(user) else ("sip", call.caller.uri)
        try:
            interaction_id = await self.core.start_call(kind, value, call.call_id, name=call.caller.display)
        except Exception:
            log.exception("call %s could not be stored; hanging up", call.call_id)
            await call.hangup()
            bridge.close()
            return
        session = VoiceSession(interaction_id, call, bridge)
        self.custody.keep(session)
        self.record(session)
        self.report_keys(session)
        self.start_hold_audio(session)  # the caller waits in the queue
        await self.core.call_answered(interaction_id, call.call_id, leg="customer", agent_id=None)
        await call.ended.wait()
        await self.end(session, "customer")

    async def follow(self) -> None:
        """React to the core: an accepted call rings its agent; an ended interaction hangs up."""
        updates = self.core.call_updates()
        try:
            async for update in updates:
                self._on_update(update)
        finally:
            updates.close()

    def _on_update(self, update: CallUpdate) -> None:
        session = self.sessions.get(update.interaction_id)
        if update.kind is CallUpdateKind.COMMAND:
            if session is not None:  # else the call is on another node (or over)
                self._command(session, update.data)
            return
        if session is None:
            if update.kind is CallUpdateKind.ACCEPTED and self.place_outbound and is_make_call(update.data):
                self.spawn(self.phones.make_call(update.interaction_id, update.agent_id))
            return
        if update.kind is CallUpdateKind.ACCEPTED and session.agent_leg is None:
            session.browser_offers = session.browser_offers or asyncio.Queue()  # (her desktop may be quick)
            self.spawn(self.phones.ring_agent(session, update.agent_id))
        elif update.kind is CallUpdateKind.TRANSFERRED:
            if (update.data.get("interaction") or {}).get("state") != "active":  # (active: handed over in the call)
                self.spawn(self.phones.release_agent(session))
        elif update.kind is CallUpdateKind.HELD:
            self._hold(session)
        elif update.kind is CallUpdateKind.RESUMED:
            self._resume(session)
        elif update.kind is not CallUpdateKind.ACCEPTED and session.transferred_to is None:
            self.spawn(self.end(session, "agent"))

    def _hold(self, session: VoiceSession) -> None:
        """The agent put the customer on hold: the parties stop hearing each other, the customer hears hold audio."""
        session.held = True
        if session.parties:
            self.parties.regraph(session)
        else:
            session.media.connect(APART)
            self.start_hold_audio(session)
        if session.agent_leg is not None and not session.held_by_phone:  # her phone shows the call held
            self.spawn(session.agent_leg.reinvite("inactive"))

    def _resume(self, session: VoiceSession) -> None:
        session.held = False
        if session.parties:
            self.parties.regraph(session)
        else:
            self.stop_hold_audio(session)
            session.media.connect(TALKING)
        if session.agent_leg is not None and not session.held_by_phone:
            self.spawn(session.agent_leg.reinvite("sendrecv"))
        session.held_by_phone = False

    def start_hold_audio(self, session: VoiceSession) -> None:
        """The customer hears hold audio (waiting in the queue, on hold, between agents)."""
        session.media.play(CUSTOMER, self.hold_audio)

    def stop_hold_audio(self, session: VoiceSession) -> None:
        session.media.play(CUSTOMER, None)

    def agent_arrived(self, session: VoiceSession) -> None:
        """The agent's leg is bridged: hold audio stops, unless the call is on hold."""
        if not session.media.apart:
            self.stop_hold_audio(session)

    def report_keys(self, session: VoiceSession) -> None:
        """DTMF the customer presses becomes call.dtmf events."""
        session.media.socket(CUSTOMER).on_key = self.customer_key_reporter(session)

    def customer_key_reporter(self, session: VoiceSession) -> Any:
        def on_key(key: str) -> None:
            self.spawn(self.core.call_dtmf(session.interaction_id, session.caller.call_id, key, leg="customer"))

        return on_key

    def uri_of(self, target: tuple[str, str]) -> str:
        """The SIP URI that reaches a (kind, value) target: numbers go to the PBX/registrar."""
        kind, value = target
        if kind == "sip" or value.startswith("sip:"):
            return value
        if self.dial_format == "digits":
            value = value.lstrip("+")
        return f"sip:{value}@{self.manager.account.domain}"

    def record(self, session: VoiceSession) -> None:
        """Record the call from its start, when every call is recorded."""
        if self.record_all:
            self.spawn(self._recording(session, "start"))

    async def _recording(self, session: VoiceSession, op: str) -> None:
        """Start, pause, resume or stop the call's recording (a stop then start makes a new file)."""
        recorder = session.media.recorder
        live = recorder is not None and not recorder.closed
        iid, call_id = session.interaction_id, session.caller.call_id
        if op == "start" and not live and self.recordings is not None and not session.done:
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", call_id)[:80]
            session.recordings += 1
            suffix = f"-{session.recordings}" if session.recordings > 1 else ""
            session.media.record(self.recordings / f"{iid}-{safe}{suffix}.wav")
            await self.core.call_recording(iid, call_id, str(session.media.recorder.path), "started")  # type: ignore[union-attr]
        elif live and recorder is not None and op in ("pause", "resume") and recorder.is_paused != (op == "pause"):
            recorder.pause() if op == "pause" else recorder.resume()
            await self.core.call_recording(iid, call_id, str(recorder.path), "paused" if op == "pause" else "resumed")
        elif live and recorder is not None and op == "stop":
            seconds = recorder.close()
            await self.core.call_recorded(iid, call_id, str(recorder.path), seconds,
                                          [list(p) for p in recorder.paused])

    async def agent_left(self, session: VoiceSession, by: str = "agent") -> None:
        """The agent (or whoever took her place) hung up. While a guest is still on the call it goes
        on: a colleague takes the interaction, or, unless ``last_agent_ends_call``, a number or SIP
        URI keeps the customer (``PartyLegs.take_over``); else the call is over."""
        if not await self.parties.take_over(session):
            await self.end(session, by)

    async def end(self, session: VoiceSession, by: str, *, outcome: str | None = None) -> None:
        """The call is over: both legs are hung up, the media closed, the core told (once)."""
        if session.done:
            return
        session.done = True
        self.sessions.pop(session.interaction_id, None)
        self.custody.changed()
        self.stop_hold_audio(session)
        legs = [session.caller, *([session.agent_leg] if session.agent_leg is not None else []),
                *await self.parties.hang_up_all(session)]
        byes = [asyncio.ensure_future(leg.hangup()) for leg in legs]  # both BYEs go out now, together
        await asyncio.wait(byes, timeout=HANGUP_GRACE_SECONDS)  # (a live party's leg is closed before we say so)
        recorder = session.media.recorder
        was_live = recorder is not None and not recorder.closed
        recorded = session.media.close()
        if recorded is not None and recorder is not None and was_live:
            try:
                await self.core.call_recorded(session.interaction_id, session.caller.call_id,
                                              str(recorder.path), recorded, [list(p) for p in recorder.paused])
            except Exception:
                log.exception("call %s: could not record its recording", session.caller.call_id)
        try:  # the interaction ends now, not after a dead phone's BYE times out
            await self.core.call_ended(session.interaction_id, session.caller.call_id, by=by,
                                       started_at=session.started_at, outcome=outcome)
        except Exception:
            log.exception("call %s: could not record its end", session.caller.call_id)
        await asyncio.gather(*byes, return_exceptions=True)

    # ---- commands from the API -----------------------------------------------------------
    def _command(self, session: VoiceSession, data: dict[str, Any]) -> None:
        action = data.get("action")
        if action == "dtmf":
            self.spawn(self._send_dtmf(session, str(data.get("digits") or "")))
        elif action == "transfer":
            self.spawn(self.phones.transfer_out(session, str(data.get("to") or "")))
        elif action == "add_party":
            self.spawn(self.parties.add(session, data))
        elif action == "party_mode":
            self.parties.set_mode(session, data)
        elif action == "drop_party":
            self.spawn(self.parties.drop(session, data))
        elif action == "transfer_to_party":
            self.spawn(self.parties.transfer(session, data))
        elif action == "recording":
            self.spawn(self._recording(session, str(data.get("op") or "")))
        else:
            log.warning("call %s: unknown command %r ignored", session.caller.call_id, action)

    async def _send_dtmf(self, session: VoiceSession, digits: str) -> None:
        """Play the digits to the customer: RFC 4733 events, else SIP INFO (application/dtmf-relay)."""
        async with session.keys:
            if session.done or not digits:
                return
            socket = session.media.socket(CUSTOMER)
            if socket.events_payload is not None:
                await send_keys(socket, digits, socket.events_payload)
            else:
                for key in digits:
                    await session.caller.info(f"Signal={key}\r\nDuration=160\r\n".encode(), "application/dtmf-relay")
            await self.core.call_dtmf(session.interaction_id, session.caller.call_id, digits, leg="customer",
                                      direction="sent")
