"""Recordings of calls by API: control on one's own call, the list, the metadata and the audio
(``audio/wav`` with Range requests). Agents reach only their own calls' recordings (403 for
another's, 404 for none); supervisors and admins all. Rules: ``cti/services/recordings.py``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.parties import own_call, require_voice
from cti.errors import Gone
from cti.services.actors import Role
from cti.services.recordings import list_recordings, readable_recording, render_recording, request_recording

api = Api()
RECORDING_OUT = {"type": "object", "required": ["id", "interaction_id", "state"], "properties": {
    "id": {"type": "string"}, "interaction_id": {"type": "string"}, "case_id": {"type": ["string", "null"]},
    "agent_id": {"type": ["string", "null"]}, "state": {"enum": ["recording", "paused", "stopped", "deleted"]},
    "seconds": {"type": ["number", "null"]},
    "paused": {"type": "array", "description": "paused stretches [from, to] in seconds of the recording's run"}}}


class RecordingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["start", "pause", "resume", "stop"]


class RecordingsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interaction_id: str | None = Field(default=None, max_length=40)
    case_id: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=200)


@api.route("POST", "/api/v1/interactions/{id}/recording", summary="Start, pause (for card numbers: nothing of the "
           "pause is kept), resume or stop recording your call", tag="calls", role=Role.AGENT, body=RecordingBody,
           status=202, errors=(403, 404, 409, 422, 503),
           response={"type": "object", "properties": {"action": {"type": "string"}}})
async def post_recording(call: Call) -> dict[str, Any]:
    svc, iid, actor, action = services(call.request), call.path("id"), call.actor, call.body.action
    await own_call(svc, iid, actor)
    require_voice(svc)
    policy = svc.config.recording.record
    await svc.db.write(lambda tx: request_recording(tx, iid, action, actor=actor, policy=policy))
    return {"action": action}


@api.route("GET", "/api/v1/recordings", summary="Recordings (agents: of their own calls), newest first",
           tag="calls", role=Role.AGENT, query=RecordingsQuery,
           response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array",
                                                                                       "items": RECORDING_OUT}}})
async def get_recordings(call: Call) -> dict[str, Any]:
    q, actor = call.query, call.actor
    return {"items": await services(call.request).db.read(lambda c: list_recordings(
        c, actor, interaction_id=q.interaction_id, case_id=q.case_id, limit=q.limit))}


@api.route("GET", "/api/v1/recordings/{id}", summary="One recording: length, paused stretches, state",
           tag="calls", role=Role.AGENT, errors=(403, 404), response=RECORDING_OUT)
async def get_recording(call: Call) -> dict[str, Any]:
    rid, actor = call.path("id"), call.actor
    return render_recording(await services(call.request).db.read(lambda c: readable_recording(c, rid, actor)))


@api.route("GET", "/api/v1/recordings/{id}/audio", summary="The recording's audio (audio/wav; Range requests)",
           tag="calls", role=Role.AGENT, errors=(403, 404, 410), raw=True, response={"type": "string"})
async def get_audio(call: Call) -> web.StreamResponse:
    rid, actor = call.path("id"), call.actor
    row = await services(call.request).db.read(lambda c: readable_recording(c, rid, actor))
    if row["state"] == "deleted" or not await asyncio.to_thread(os.path.exists, row["path"]):
        raise Gone("this recording's audio was deleted (retention)", code="recording_deleted")
    return web.FileResponse(row["path"], headers={"Content-Type": "audio/wav", "Cache-Control": "no-store",
                                                  "Content-Disposition": f'attachment; filename="{rid}.wav"'})
