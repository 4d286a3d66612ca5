"""Custody of calls: which calls this process carries, and which of them have lost their party.

A part of the voice desk (connectors/sip/voice.py), sharing its ``sessions``. Every session the
desk starts is recorded durably (the connector's cursor), so whoever starts the connector next,
the same node after a crash or another node taking the lease, ends the calls whose media died
with the old process
(``call.ended`` with ``outcome: media_lost``; the agent gets wrap-up). While calls run, a
watchdog ends those whose SIP party sent no RTP for ``no_media_seconds`` (a dead phone, a lost
BYE: ``no_media``) or whose RFC 4028 session timer ran out without a refresh
(``session_expired``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from connectors.media import AGENT, CUSTOMER
from connectors.sip.call import CallLeg, OutgoingCall
from connectors.sip.incoming import IncomingCall
from connectors.sip.session import VoiceSession

log = logging.getLogger(__name__)
EndCall = Callable[..., Awaitable[None]]  # (session, by, *, outcome) -> the call is over
Spawn = Callable[[Any], None]


class CallCustody:
    """The calls one process carries (the desk's ``sessions``), kept durably, and the watchdog."""

    def __init__(self, core: Any, sessions: dict[str, VoiceSession], *, end: EndCall, spawn: Spawn,
                 no_media_seconds: float = 30.0) -> None:
        self.core, self.sessions, self.end, self.spawn = core, sessions, end, spawn
        self.no_media_seconds = no_media_seconds  # a SIP party silent this long has gone (its BYE was lost)
        self._saving: asyncio.Task[None] | None = None
        self._save_again = False

    def keep(self, session: VoiceSession) -> None:
        """A call this process now carries: recorded durably, so a successor can end it if we die."""
        self.sessions[session.interaction_id] = session
        self.changed()

    def changed(self) -> None:
        """The set of calls changed (one started or ended): record it (one write at a time)."""
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(self._save_owned())
        else:
            self._save_again = True

    async def end_all(self, seconds: float) -> None:
        """Hang up every call this process carries at once (64 at a time, BYEs in parallel), waiting
        at most ``seconds`` in all: a stopping server does not wait one BYE timeout per call."""
        limit = asyncio.Semaphore(64)

        async def end(session: VoiceSession) -> None:
            async with limit:
                await self.end(session, "server")

        pending = [asyncio.ensure_future(end(session)) for session in list(self.sessions.values())]
        if not pending:
            return
        await asyncio.wait(pending, timeout=seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _save_owned(self) -> None:
        while True:
            self._save_again = False
            owned = {iid: {"call_id": s.caller.call_id, "started_at": s.started_at}
                     for iid, s in self.sessions.items()}
            try:
                await self.core.save_cursor({"calls": owned})
            except Exception:
                log.exception("could not record which calls this process carries")
            if not self._save_again:
                return

    async def end_orphans(self) -> int:
        """End the calls that an earlier process carried (it crashed or was killed, here or on another
        node): their media died with it, so they must not stay active. call.ended says media_lost."""
        owned = (await self.core.load_cursor()).get("calls") or {}
        ended = 0
        for interaction_id, facts in owned.items():
            if interaction_id in self.sessions:
                continue
            try:
                await self.core.call_ended(interaction_id, str(facts.get("call_id") or ""), by="server",
                                           started_at=float(facts.get("started_at") or time.time()),
                                           outcome="media_lost")
                ended += 1
            except Exception:
                log.exception("could not end orphaned call %s", interaction_id)
        self.changed()
        return ended

    async def watch_media(self) -> None:
        """End calls whose SIP party stopped sending RTP (a dead phone, a lost BYE) or whose session
        timer (RFC 4028) ran out without a refresh."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                gone = self._gone_party(session, now)
                if gone is not None:
                    log.info("call %s: the %s sent nothing for %.0f s (or its session timer ran out); ending it",
                             session.caller.call_id, gone[0], self.no_media_seconds)
                    self.spawn(self.end(session, gone[0], outcome=gone[1]))

    def _gone_party(self, session: VoiceSession, now: float) -> tuple[str, str] | None:
        if session.done:
            return None
        caller = session.caller
        if isinstance(caller, CallLeg) and caller.session_expires \
                and now - caller.refreshed_at > caller.session_expires:
            return "customer", "session_expired"
        if isinstance(caller, IncomingCall | OutgoingCall) and caller.confirmed.is_set() \
                and _sends(caller) and _silent(session.media.socket(CUSTOMER), now, self.no_media_seconds):
            return "customer", "no_media"
        agent = session.agent_leg
        if isinstance(agent, OutgoingCall) and not session.media.apart and _sends(agent) \
                and _silent(session.media.socket(AGENT), now, self.no_media_seconds):
            return "agent", "no_media"
        return None


def _sends(leg: IncomingCall | OutgoingCall | CallLeg) -> bool:
    """Whether the party said it sends audio (not on hold from its own side: sendonly/inactive to us)."""
    return leg.media is None or leg.media.direction in ("sendrecv", "sendonly")


def _silent(leg: Any, now: float, seconds: float) -> bool:
    """The relay leg has a party, and it has sent nothing for ``seconds`` since it was expected."""
    return leg.peer is not None and now - max(leg.heard_at, leg.armed_at) > seconds
