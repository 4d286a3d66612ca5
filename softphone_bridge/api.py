"""Routes into the media bridge: the agent's browser softphone, and Twilio Media Streams.

- ``POST /api/v1/interactions/{id}/softphone``: an agent whose ``voice_endpoint`` is ``browser``
  answers an accepted call in the desktop: a WebRTC offer in, the answer out. The call must be
  hers, active or held; on a node without the media bridge the request is passed on to the node
  that has it (softphone_bridge/forward.py).
- ``GET /media/twilio``: Twilio's Media Streams WebSocket (``<Connect><Stream>`` in the TwiML the
  Twilio connector answers with when ``media = "stream"``). The handshake must carry a valid
  X-Twilio-Signature of one of the running Twilio connectors; the ``start`` message names the
  interaction (a custom parameter) and the call, which must match the stored call.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, Field

from connectors.media import MediaBridge
from cti import models
from cti.api.context import Services, services
from cti.api.framework import Api, Call
from cti.api.queries import get_row
from cti.errors import Conflict, Forbidden, InvalidInput, Unauthorized, Unavailable
from cti.services.actors import Role
from cti.services.parties import invited_party
from softphone_bridge.forward import to_media_node
from softphone_bridge.twilio_stream import TwilioStreamLeg

log = logging.getLogger(__name__)
api = Api()
INTERACTIONS = models.interactions


class SoftphoneOffer(BaseModel):
    type: Literal["offer"]
    sdp: str = Field(min_length=10, max_length=64_000)


SDP_OUT = {"type": "object", "required": ["type", "sdp"],
           "properties": {"type": {"type": "string", "enum": ["answer"]}, "sdp": {"type": "string"}}}


def media_bridge(svc: Services) -> MediaBridge | None:
    """This server's media bridge (the SIP connector carries it), or None when it runs elsewhere."""
    return svc.connectors.media_bridge()


@api.route("POST", "/api/v1/interactions/{id}/softphone", summary="Answer a call in the browser: the agent's "
           "WebRTC offer in, the answer out (agents whose voice_endpoint is browser)", tag="interactions",
           role=Role.AGENT, body=SoftphoneOffer, response=SDP_OUT, errors=(400, 403, 404, 409, 503))
async def softphone(call: Call) -> dict[str, Any]:
    svc, iid = services(call.request), call.path("id")
    row = await svc.db.read(lambda c: get_row(c, INTERACTIONS, iid, "interaction"))
    if row.agent_id is None or row.agent_id != call.actor.agent_id:
        raise Forbidden("only the agent the call is assigned to answers it", code="not_your_interaction")
    if row.channel != "voice" or row.state not in ("active", "held"):
        raise Conflict("only an accepted call can be answered in the browser", code="not_an_active_call",
                       details={"channel": row.channel, "state": row.state})
    agent = await svc.db.read(lambda c: get_row(c, models.agents, row.agent_id, "agent"))
    if agent.voice_endpoint != "browser":
        raise Conflict("your calls ring your phone; set voice_endpoint to browser to answer here",
                       code="not_browser_endpoint", details={"voice_endpoint": agent.voice_endpoint})
    bridge = media_bridge(svc)
    if bridge is None:  # the media is on another node of the cluster
        return await to_media_node(call.request, await call.request.read())  # type: ignore[return-value]
    payload = bridge.codec_of(iid)
    if payload is None:  # (a MakeCall's audio is set up a moment after the accept: the desktop retries)
        raise Conflict("the call has no audio here yet, or is over; try again in a moment",
                       code="not_ringing_in_browser")
    answered = await _answered_leg(call.body.sdp, payload)
    refused = bridge.answer_in_browser(iid, answered.leg)
    if refused is not None:
        await answered.leg.hangup()
        raise Conflict(refused, code="not_ringing_in_browser")
    return {"type": "answer", "sdp": answered.answer}


@dataclass
class _Answered:
    leg: Any  # softphone_bridge.webrtc.BrowserLeg
    answer: str


async def _answered_leg(offer: str, payload: int) -> _Answered:
    """A browser's WebRTC leg in the call's codec, answered; 400 for an offer it cannot use."""
    from softphone_bridge.webrtc import BrowserLeg

    leg = BrowserLeg(payload_type=payload)
    try:
        return _Answered(leg, await leg.answer(offer))
    except Exception as exc:
        await leg.hangup()
        raise InvalidInput(f"the offer could not be used: {exc}", code="invalid_offer",
                           details={"sdp": "not a usable WebRTC audio offer"}) from exc


@api.route("POST", "/api/v1/interactions/{id}/participants/{pid}/softphone", summary="Join a call you are asked "
           "into (a colleague's consult or conference) or monitor it from the browser: your WebRTC offer in, the "
           "answer out", tag="calls", role=Role.AGENT, body=SoftphoneOffer, response=SDP_OUT,
           errors=(400, 404, 409, 503))
async def party_softphone(call: Call) -> dict[str, Any]:
    svc, iid, pid, actor = services(call.request), call.path("id"), call.path("pid"), call.actor
    await svc.db.read(lambda c: invited_party(c, iid, pid, actor))  # 404 for anyone else's, 409 once answered
    bridge = media_bridge(svc)
    if bridge is None:
        return await to_media_node(call.request, await call.request.read())  # type: ignore[return-value]
    payload = bridge.codec_of(iid)
    if payload is None:
        raise Conflict("the call is not here, or is over", code="not_ringing_in_browser")
    leg = await _answered_leg(call.body.sdp, payload)
    refused = bridge.join_party(iid, pid, leg.leg)
    if refused is not None:
        await leg.leg.hangup()
        raise Conflict(refused, code="not_ringing_in_browser")
    return {"type": "answer", "sdp": leg.answer}


@api.route("GET", "/media/twilio", summary="Twilio Media Streams (WebSocket; signed by Twilio): a call's "
           "8 kHz mu-law audio into the media bridge", tag="voice", role=None, raw=True, status=101,
           response={"type": "string", "description": "Twilio Media Streams messages"},
           errors=(400, 401, 403, 503))
async def twilio_media(call: Call) -> web.StreamResponse:
    request, svc = call.request, services(call.request)
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise Unauthorized("X-Twilio-Signature is required", code="signature_missing")
    public = svc.config.server.public_url.rstrip("/")
    url = (public.replace("http", "ws", 1) if public else f"ws://{request.host}") + request.path_qs
    if not svc.connectors.media_stream_signed(url, signature):
        raise Forbidden("the signature does not match the stream URL", code="signature_invalid")
    bridge = media_bridge(svc)
    if bridge is None:
        raise Unavailable("the media bridge (the SIP connector) runs on another server", code="voice_unavailable")
    ws = web.WebSocketResponse(max_msg_size=256 * 1024, heartbeat=30)
    if not ws.can_prepare(request).ok:
        raise InvalidInput("this is a WebSocket endpoint", code="websocket_required")
    await ws.prepare(request)
    leg = None
    try:
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError):
                data = json.loads(message.data)
                if not isinstance(data, dict):
                    continue
                if leg is None and data.get("event") == "start":
                    leg = await _start(svc, bridge, ws, data)
                    if leg is None:
                        break
                elif leg is not None:
                    leg.take(data)
    finally:
        if leg is not None:
            leg.finish("them")
    return ws


async def _start(svc: Services, bridge: MediaBridge, ws: web.WebSocketResponse,
                 data: dict[str, Any]) -> TwilioStreamLeg | None:
    """Bridge the stream when its start message names a queued call of ours; None (and close) else."""
    start = data.get("start") or {}
    params = start.get("customParameters") or {}
    iid, call_sid = str(params.get("interaction") or ""), str(start.get("callSid") or "")
    stream_sid = str(start.get("streamSid") or data.get("streamSid") or "")
    fmt = start.get("mediaFormat") or {}
    row = (
        await svc.db.read(lambda c: c.execute(INTERACTIONS.select().where(INTERACTIONS.c.id == iid)).first())
        if iid
        else None
    )
    problem = ("no such call" if row is None or row.channel != "voice" or row.external_id != call_sid else
               "the call is over" if row.state in ("wrapup", "ended", "abandoned") else
               "the call's audio is already streaming" if bridge.codec_of(iid) is not None else
               "the stream must be audio/x-mulaw at 8000 Hz" if fmt and (
                   fmt.get("encoding") != "audio/x-mulaw" or int(fmt.get("sampleRate") or 0) != 8000) else "")
    if problem or not stream_sid:
        log.warning("Twilio stream %s for %r refused: %s", stream_sid, iid, problem or "no streamSid")
        await ws.close(code=4400, message=(problem or "no streamSid").encode())
        return None
    leg = TwilioStreamLeg(ws, stream_sid, call_sid)
    await bridge.adopt(iid, leg)
    return leg
