"""A Twilio call's audio over a Media Streams WebSocket as a party of the media bridge.

Twilio opens the WebSocket (``<Connect><Stream>`` in the call's TwiML) and sends JSON messages:
``connected``, ``start`` (streamSid, callSid, customParameters, mediaFormat audio/x-mulaw 8000 Hz
mono), ``media`` (base64 mu-law of the caller's audio, in chunks of any size), ``dtmf``, ``mark``
and ``stop``. We send back ``media`` messages (base64 mu-law, played in order as they arrive, so
Twilio is the jitter buffer on that side) in 20 ms frames as the bridge produces them. The
caller's chunks are cut into 20 ms RTP frames for the bridge (``MediaLeg.send_encoded``): mu-law
both ways, so nothing is transcoded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from softphone_bridge.rtp import MediaLeg

log = logging.getLogger(__name__)
OUTBOX_FRAMES = 100  # 2 s of audio waiting for a slow socket: then the oldest frames are dropped


class TwilioStreamLeg(MediaLeg):
    """One Media Stream (one call's audio, both ways)."""

    kind = "twilio"

    def __init__(self, ws: web.WebSocketResponse, stream_sid: str, call_sid: str) -> None:
        super().__init__(call_sid, payload_type=0)
        self.ws, self.stream_sid = ws, stream_sid
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=OUTBOX_FRAMES)
        self.dropped = 0
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def from_bridge(self, payload: bytes) -> None:
        message = json.dumps({"event": "media", "streamSid": self.stream_sid,
                              "media": {"payload": base64.b64encode(payload).decode()}})
        if self.outbox.full():
            self.outbox.get_nowait()
            self.dropped += 1
        self.outbox.put_nowait(message)

    async def _write(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):  # the socket closed under us
            while True:
                message = await self.outbox.get()
                await self.ws.send_str(message)

    def take(self, message: dict[str, Any]) -> None:
        """One message from Twilio after ``start``."""
        event = message.get("event")
        if event == "media":
            media = message.get("media") or {}
            if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                return
            try:
                self.send_encoded(base64.b64decode(str(media.get("payload") or ""), validate=True))
            except binascii.Error:
                log.warning("Twilio stream %s: a media message that is not base64 ignored", self.stream_sid)
        elif event == "dtmf":
            digit = str((message.get("dtmf") or {}).get("digit") or "")
            if len(digit) == 1:
                self.key(digit)
        elif event == "stop":
            self.finish("them")

    async def close_media(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if not self.ws.closed:
            await self.ws.close()  # Twilio goes on to the TwiML after <Connect> (our <Hangup/>)
