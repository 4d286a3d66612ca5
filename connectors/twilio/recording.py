"""Recording Twilio calls in dial mode through Twilio's own recording (the call's audio never
reaches our media bridge, so Twilio records it).

``call.command`` "recording" start/pause/resume/stop maps onto Twilio's Call Recordings resource:
create (``RecordingChannels=dual``: the caller on the first channel, the agent on the second),
update ``Status=paused`` with ``PauseBehavior=skip`` (nothing of the pause is kept, as on our own
bridge), ``in-progress``, ``stopped``. Once a recording is stopped, or its call has ended, the
connector waits for Twilio to finish it (``status`` completed, polled with backoff and a limit)
and downloads the WAV into the recordings directory, so the API serves, ranges and deletes it
like any other (``call.recorded``). Twilio's copy is left where it is; delete it there by policy.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from connectors.backoff import Backoff
from connectors.base import Core

log = logging.getLogger(__name__)
RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
MAX_BYTES = 512 * 1024 * 1024  # ~4.6 hours of dual-channel 8 kHz 16-bit audio
FINISH_ATTEMPTS = 9  # polls for "completed" (0.5 s doubling to 15 s: about a minute and a half)


@dataclass
class LiveRecording:
    sid: str
    path: Path
    call_sid: str
    started: float = field(default_factory=time.monotonic)
    paused_at: float | None = None
    paused: list[list[float]] = field(default_factory=list)  # (from, to) in seconds since it began


class TwilioRecordings:
    """The live recording of each Twilio call this connector controls (one at a time per call)."""

    def __init__(self, core: Core, client: Client, http: aiohttp.ClientSession, *, account_sid: str,
                 auth_token: str, api_base: str, directory: Path) -> None:
        self.core, self.client, self.http = core, client, http
        self.auth = aiohttp.BasicAuth(account_sid, auth_token)
        self.media_base = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Recordings"
        self.directory = directory
        self.live: dict[str, LiveRecording] = {}  # interaction id -> its recording

    async def command(self, iid: str, call_sid: str, op: str) -> None:
        """Start, pause, resume or stop the call's recording."""
        recording = self.live.get(iid)
        try:
            if op == "start" and recording is None:
                await self._start(iid, call_sid)
            elif recording is not None and op in ("pause", "resume") and (recording.paused_at is None) == (
                    op == "pause"):
                status = "paused" if op == "pause" else "in-progress"
                await self.client.calls(call_sid).recordings(recording.sid).update_async(
                    status=status, pause_behavior="skip")
                self._mark(recording, op)
                await self.core.call_recording(iid, call_sid, str(recording.path), "paused" if op == "pause"
                                               else "resumed")
            elif recording is not None and op == "stop":
                await self.client.calls(call_sid).recordings(recording.sid).update_async(
                    status="stopped")
                await self.finish(iid)
        except TwilioRestException as exc:
            log.warning("Twilio call %s: recording %s refused (%s): %s", call_sid, op, exc.status, exc.msg)

    async def _start(self, iid: str, call_sid: str) -> None:
        created = await self.client.calls(call_sid).recordings.create_async(recording_channels="dual")
        sid = str(created.sid or "")
        if not RECORDING_SID.match(sid):
            log.warning("Twilio call %s: the recording's sid %r is not a recording sid", call_sid, sid)
            return
        recording = self.live[iid] = LiveRecording(sid, self.directory / f"{iid}-{sid}.wav", call_sid)
        await self.core.call_recording(iid, call_sid, str(recording.path), "started")

    @staticmethod
    def _mark(recording: LiveRecording, op: str) -> None:
        now = time.monotonic()
        if op == "pause":
            recording.paused_at = now
        elif recording.paused_at is not None:
            recording.paused.append([round(recording.paused_at - recording.started, 3),
                                     round(now - recording.started, 3)])
            recording.paused_at = None

    async def finish(self, iid: str) -> None:
        """The recording was stopped or its call ended: once Twilio has completed it, fetch the audio
        and tell the core (``call.recorded``). Gives up (logged) after ``FINISH_ATTEMPTS`` polls."""
        recording = self.live.pop(iid, None)
        if recording is None:
            return
        self._mark(recording, "resume")  # (a stretch still paused ends with the recording)
        backoff = Backoff(15.0, first=0.5)
        for _ in range(FINISH_ATTEMPTS):
            try:
                found = await self.client.recordings(recording.sid).fetch_async()
            except TwilioRestException as exc:
                if exc.status == 404:
                    log.warning("Twilio recording %s is gone", recording.sid)
                    return
                found = None
            if found is not None and found.status == "completed":
                seconds = float(found.duration or 0)
                if await self._download(recording):
                    await self.core.call_recorded(iid, recording.call_sid, str(recording.path), seconds,
                                                  recording.paused)
                return
            if found is not None and found.status == "absent":
                log.warning("Twilio recording %s is absent (nothing was recorded)", recording.sid)
                return
            await backoff.wait()
        log.warning("Twilio recording %s did not complete; it stays at Twilio", recording.sid)

    async def _download(self, recording: LiveRecording) -> bool:
        """The recording's WAV from Twilio into our file (written aside, then renamed)."""
        part = recording.path.with_suffix(".part")
        size = 0
        try:
            recording.path.parent.mkdir(parents=True, exist_ok=True)
            timeout = aiohttp.ClientTimeout(total=300, sock_read=30)
            async with self.http.get(f"{self.media_base}/{recording.sid}.wav", auth=self.auth,
                                     timeout=timeout) as response:
                if response.status != 200:
                    log.warning("Twilio recording %s: the audio answered %s", recording.sid, response.status)
                    return False
                with part.open("wb") as out:
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        size += len(chunk)
                        if size > MAX_BYTES:
                            raise ValueError(f"larger than {MAX_BYTES} bytes")
                        out.write(chunk)
            part.replace(recording.path)
            return True
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            log.warning("Twilio recording %s could not be fetched: %s", recording.sid, exc)
            part.unlink(missing_ok=True)
            return False
