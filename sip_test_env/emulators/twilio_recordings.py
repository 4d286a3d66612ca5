"""Twilio's Call Recordings, emulated on the calls the emulator carries (dial mode): the REST
resource the twilio library calls, recording the real RTP the emulator relays between the caller
and the dialled party.

- ``POST .../Calls/{CallSid}/Recordings.json`` (``RecordingChannels`` mono|dual) -> 201, status
  ``in-progress``; a call that is not live answers 404 (code 21220, as Twilio does for a call not
  in progress);
- ``POST .../Calls/{CallSid}/Recordings/{Sid}.json`` ``Status`` paused|in-progress|stopped,
  ``PauseBehavior`` skip (nothing of the pause is kept, not even its length) or silence (the
  default: the pause is silence of its length); ``Twilio.CURRENT`` names the call's live recording;
- ``GET .../Recordings/{Sid}.json``: status in-progress, paused, stopped, processing (half a second
  after a stop, as Twilio takes a moment), completed; ``duration`` in whole seconds as a string;
- ``GET .../Recordings/{Sid}.wav``: the audio (8 kHz 16-bit, the caller on the first channel);
  HTTP basic auth with the account's credentials.
A recording still live when its call ends is completed with it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors.sip.recorder import Recorder
from sip_test_env.emulators.twiml_engine import EmulatedCall, sid

PROCESSING_SECONDS = 0.5


class EmulatedRecording:
    def __init__(self, call: EmulatedCall, path: Path) -> None:
        self.sid, self.call_sid = sid("RE"), call.sid
        self.recorder = Recorder(path)
        self.status = "in-progress"
        self.silent = False  # paused with PauseBehavior=silence: time runs, nothing is heard
        self.duration: int | None = None
        self.created = time.time()
        call.relay.record(lambda packet: self._add(0, packet), lambda packet: self._add(1, packet))

    def _add(self, channel: int, packet: bytes) -> None:
        if not self.silent:
            self.recorder.add(channel, packet)

    def pause(self, behavior: str) -> None:
        if self.status == "in-progress":
            self.status = "paused"
            if behavior == "skip":
                self.recorder.pause()
            else:
                self.silent = True

    def resume(self) -> None:
        if self.status == "paused":
            self.status, self.silent = "in-progress", False
            self.recorder.resume()

    def stop(self) -> None:
        if self.status in ("in-progress", "paused"):
            self.duration = int(self.recorder.close())
            self.status = "processing"

    def as_json(self, account_sid: str) -> dict[str, Any]:
        return {"sid": self.sid, "account_sid": account_sid, "call_sid": self.call_sid, "status": self.status,
                "channels": 2, "source": "StartCallRecordingAPI", "api_version": "2010-04-01",
                "duration": None if self.duration is None else str(self.duration),
                "date_created": formatdate(self.created, usegmt=True),
                "start_time": formatdate(self.created, usegmt=True), "conference_sid": None,
                "uri": f"/2010-04-01/Accounts/{account_sid}/Recordings/{self.sid}.json"}


class RecordingsApi:
    """Mixed into the Twilio emulator: its Recordings routes, and completing recordings with calls."""

    account_sid: str
    calls_by_sid: dict[str, EmulatedCall]
    recordings: dict[str, EmulatedRecording]
    _auth: Any
    _spawn: Any

    def add_recording_routes(self, router: web.UrlDispatcher, base: str) -> None:
        self.recordings = {}
        self._recording_dir = Path(tempfile.mkdtemp(prefix="twilio-recordings-"))
        router.add_post(base + "/Calls/{call}/Recordings.json", self.create_recording)
        router.add_post(base + "/Calls/{call}/Recordings/{rec}.json", self.update_recording)
        router.add_get(base + "/Recordings/{rec}.json", self.fetch_recording)
        router.add_get(base + "/Recordings/{rec}.wav", self.recording_audio)

    async def create_recording(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        call = self.calls_by_sid.get(request.match_info["call"])
        if call is None or call.done.is_set() or call.status != "in-progress":
            return web.json_response({"code": 21220, "message": "Call is not in-progress. Cannot record call.",
                                      "status": 404}, status=404)
        recording = EmulatedRecording(call, self._recording_dir / f"{sid('X')}.wav")
        self.recordings[recording.sid] = recording
        call.log.append("recording started")
        return web.json_response(recording.as_json(self.account_sid), status=201)

    async def update_recording(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        form = await request.post()
        name, call_sid = request.match_info["rec"], request.match_info["call"]
        live = [r for r in self.recordings.values() if r.call_sid == call_sid and r.status in ("in-progress", "paused")]
        recording = live[-1] if name == "Twilio.CURRENT" and live else self.recordings.get(name)
        if recording is None or recording.call_sid != call_sid:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        status = str(form.get("Status") or "")
        if status == "paused":
            recording.pause(str(form.get("PauseBehavior") or "silence"))
        elif status == "in-progress":
            recording.resume()
        elif status == "stopped":
            self._complete(recording)
        else:
            return web.json_response({"code": 20001, "message": f"Invalid Status {status!r}", "status": 400},
                                     status=400)
        return web.json_response(recording.as_json(self.account_sid))

    async def fetch_recording(self, request: web.Request) -> web.Response:
        recording = self.recordings.get(request.match_info["rec"])
        return self._auth(request) or (web.json_response(recording.as_json(self.account_sid)) if recording else
                                       web.json_response({"code": 20404, "status": 404}, status=404))

    async def recording_audio(self, request: web.Request) -> web.StreamResponse:
        refused = self._auth(request)
        if refused:
            return refused
        recording = self.recordings.get(request.match_info["rec"])
        if recording is None or recording.status != "completed":
            return web.json_response({"code": 20404, "status": 404}, status=404)
        return web.FileResponse(recording.recorder.path, headers={"Content-Type": "audio/x-wav"})

    def _complete(self, recording: EmulatedRecording) -> None:
        recording.stop()

        async def done() -> None:
            await asyncio.sleep(PROCESSING_SECONDS)
            recording.status = "completed"

        self._spawn(done())

    def complete_recordings_of(self, call: EmulatedCall) -> None:
        """The call ended: its live recordings end with it."""
        for recording in self.recordings.values():
            if recording.call_sid == call.sid and recording.status in ("in-progress", "paused"):
                self._complete(recording)
