"""The Twilio emulator's Media Streams: ``<Connect><Stream url>`` as Twilio runs it.

The emulator opens a WebSocket to the URL with X-Twilio-Signature (HMAC-SHA1 of the URL, no
form fields), sends ``connected`` and ``start`` (streamSid MZ..., callSid, tracks, the
``<Parameter>``s as customParameters, mediaFormat audio/x-mulaw 8000 Hz mono), then a ``media``
message for each 20 ms of the caller's audio (the RTP payload of the phone that stands for the
caller, base64) with chunk numbers and millisecond timestamps, and ``dtmf`` for the keys it
presses (RFC 4733 events). The application's ``media`` messages are buffered and played to the
caller's phone on a 20 ms clock (Twilio plays them in order); ``mark`` is echoed back once the
audio before it has played; ``clear`` empties the buffer. The stream ends when the application
closes the socket (the TwiML goes on after ``<Connect>``) or the call ends (``stop`` is sent).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import struct
import time
import xml.etree.ElementTree as ET
from collections import deque
from typing import Any

import aiohttp

from connectors.sip.relay import telephone_event


class MediaStream:
    """One stream of one call (``call`` is an EmulatedCall; its relay's leg a is the caller's phone)."""

    def __init__(self, call: Any, stream: ET.Element, *, account_sid: str, signature: str, stream_sid: str) -> None:
        self.call, self.account_sid, self.signature, self.stream_sid = call, account_sid, signature, stream_sid
        self.url = stream.get("url", "")
        self.parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.playout: deque[bytes | str] = deque()  # payloads to play, and marks to echo once reached
        self.sequence = 1
        self.chunk = 0
        self.started = time.monotonic()
        self.media_in = self.media_out = 0
        self.heard = bytearray()  # mu-law the application sent, as played (tests look for tones in it)
        self._last_key: int | None = None

    async def run(self) -> str:
        """Stream until either side ends it; how it ended."""
        leg = self.call.relay.a
        events_payload = leg.events_payload or 101
        previous, leg.on_audio = leg.on_audio, lambda packet: self._from_phone(packet, events_payload)
        try:
            async with aiohttp.ClientSession() as http:
                try:
                    ws = await http.ws_connect(self.url, headers={"X-Twilio-Signature": self.signature})
                except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as exc:
                    return f"stream failed: {exc}"
                self._queue({"event": "connected", "protocol": "Call", "version": "1.0.0"})
                self._queue({"event": "start", "start": {
                    "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call.sid,
                    "tracks": ["inbound"], "customParameters": self.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
                tasks = [asyncio.ensure_future(self._send(ws)), asyncio.ensure_future(self._play(ws))]
                receiving = asyncio.ensure_future(self._receive(ws))
                ended = asyncio.ensure_future(self.call.done.wait())
                await asyncio.wait({receiving, ended}, return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():  # the call ended: the application's close may be in flight at that moment
                    await asyncio.wait({receiving}, timeout=0.5)
                how = "stream closed by the application" if receiving.done() else "call ended"
                if not ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await ws.send_str(json.dumps(self._numbered({"event": "stop", "stop": {
                            "accountSid": self.account_sid, "callSid": self.call.sid}})))
                    await ws.close()
                for task in (*tasks, receiving, ended):
                    task.cancel()
                return how
        finally:
            leg.on_audio = previous

    def _numbered(self, message: dict[str, Any]) -> dict[str, Any]:
        message = {**message, "sequenceNumber": str(self.sequence)}
        if message["event"] != "connected":
            message["streamSid"] = self.stream_sid
        self.sequence += 1
        return message

    def _queue(self, message: dict[str, Any]) -> None:
        self.outgoing.put_nowait(self._numbered(message))

    def _from_phone(self, packet: bytes, events_payload: int) -> None:
        if len(packet) <= 12:
            return
        payload_type = packet[1] & 0x7F
        if payload_type == 0:
            self.chunk += 1
            self._queue({"event": "media", "media": {
                "track": "inbound", "chunk": str(self.chunk),
                "timestamp": str(int((time.monotonic() - self.started) * 1000)),
                "payload": base64.b64encode(packet[12 + 4 * (packet[0] & 0x0F):]).decode()}})
        elif payload_type == events_payload:
            event = telephone_event(packet, events_payload)
            if event is not None and event[2] and event[1] != self._last_key:
                self._last_key = event[1]
                self._queue({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": event[0]}})

    async def _send(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                await ws.send_str(json.dumps(await self.outgoing.get()))

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            event = data.get("event")
            if event == "media":
                self.playout.extend(self._frames(base64.b64decode(data["media"]["payload"])))
                self.media_in += 1
            elif event == "mark":
                self.playout.append(str(data["mark"]["name"]))
            elif event == "clear":
                marks = [item for item in self.playout if isinstance(item, str)]
                self.playout.clear()
                for name in marks:  # (Twilio answers the marks of cleared audio at once)
                    self._queue({"event": "mark", "mark": {"name": name}})

    @staticmethod
    def _frames(audio: bytes) -> list[bytes]:
        return [audio[i:i + 160] for i in range(0, len(audio), 160)]

    async def _play(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Play the buffered audio to the caller's phone, one frame each 20 ms."""
        leg, sequence, timestamp, ssrc = self.call.relay.a, 0, 0, b"MZst"
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            while self.playout and isinstance(self.playout[0], str):
                self._queue({"event": "mark", "mark": {"name": self.playout.popleft()}})
            if self.playout:
                frame = self.playout.popleft()
                assert isinstance(frame, bytes)
                header = struct.pack("!BBHI", 0x80, 0, sequence & 0xFFFF, timestamp & 0xFFFFFFFF) + ssrc
                leg.send_own(header + frame)
                if len(self.heard) < 8000 * 120:
                    self.heard += frame
                self.media_out += 1
                sequence, timestamp = sequence + 1, timestamp + len(frame)
            due += 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))
