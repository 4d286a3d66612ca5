"""Talk now, from inside the widget: ``POST /chat/v1/voice`` (a WebRTC offer in, the answer out).

The same bridge as a pivot page's "talk now": a voice link is minted on the visitor's chat (so the
pivot funnel counts it like any other) and redeemed at once for a browser call on the same case,
offered first to the agent who has the chat. On a node without the media bridge the request goes
to the node that has it, token and all (``softphone_bridge.forward``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from cti.api.context import services
from cti.api.framework import Api, Call, parse_body
from cti.api.schemas import Body
from cti.errors import Unavailable
from cti.services.actors import SYSTEM
from pivot.links import MintRequest, mint_link
from pivot.pages import PIVOT_SITE
from pivot.voice import bridge_browser
from softphone_bridge.api import media_bridge
from softphone_bridge.forward import to_media_node
from webchat.api import TAG, live_interaction
from webchat.site import site, visitor_of

api = Api()


class OfferBody(Body):
    sdp: str = Field(min_length=10, max_length=60_000)
    type: str = Field(pattern=r"^offer$")


@api.route("POST", "/chat/v1/voice", summary="Talk in the browser on the same case (a WebRTC offer in, the answer "
           "out)", tag=TAG, role=None, raw=True, errors=(400, 401, 403, 404, 422, 503))
async def talk_now(call: Call) -> web.StreamResponse:
    request = call.request
    chat, svc = site(request), services(request)
    chat.check_origin(request)
    visitor = await visitor_of(request)
    if not svc.voice_reach.browser:
        raise Unavailable("browser calls need the media bridge ([connectors.sip]), and none is configured",
                          code="voice_unavailable")
    bridge = media_bridge(svc)
    if bridge is None:
        return await to_media_node(request, await request.read())
    body = await parse_body(request, OfferBody)
    assert isinstance(body, OfferBody)
    interaction_id = await live_interaction(svc, visitor, chat.settings.name)
    pivot, public_url = request.app[PIVOT_SITE], svc.config.server.resolved_public_url()

    def mint(tx: Any) -> str:
        made = mint_link(tx, interaction_id, MintRequest(to="voice", max_uses=1), actor=SYSTEM, config=pivot.settings,
                         public_url=public_url, channel=None, reach=svc.voice_reach)
        return str(made["pivot_link"]["id"])

    link_id = await svc.db.write(mint)
    return web.json_response(await bridge_browser(svc, bridge, link_id, body.sdp, pivot.settings))
