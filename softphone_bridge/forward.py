"""Voice requests that reach a node without the media bridge go to the node that has it.

A call's media lives on the node holding the lease of the SIP connector (the connector whose class
says ``media_bridge``). The lease row names where the other nodes reach its holder
(``holder_url``, from ``[server] internal_url``). A browser's WebRTC offer (a pivot page's "talk now", the agent's
softphone) that lands elsewhere is passed on as it came (the same method, path, body, token,
cookie), with ``X-CTI-Forwarded-By`` so it is passed on once at most, and the holder's answer is
returned unchanged (plus ``X-CTI-Media-Node``, the holder's URL): the holder checks everything
again, and its SDP answer names its own addresses, so the browser's media goes straight to it.
"""

from __future__ import annotations

import logging
import time

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from cti import models
from cti.api.context import Services, services
from cti.errors import Unavailable

log = logging.getLogger(__name__)
FORWARDED_BY = "X-CTI-Forwarded-By"
MEDIA_NODE = "X-CTI-Media-Node"
PASSED_HEADERS = ("Authorization", "Cookie", "Content-Type", "User-Agent", "Accept-Language")
LEASES = models.leases


async def media_node_url(svc: Services) -> str | None:
    """Where the node that carries the media is reached, when that is another live node."""
    names = svc.connectors.media_leases()
    if not names:
        return None
    now, node = time.time(), svc.node_id
    return await svc.db.read(
        lambda c: c.execute(
            sa.select(LEASES.c.holder_url)
            .where(
                LEASES.c.name.in_(names),
                LEASES.c.expires_at > now,
                LEASES.c.holder != node,
                LEASES.c.holder_url.is_not(None),
            )
            .limit(1)
        ).scalar()
    )


async def to_media_node(request: web.Request, body: bytes) -> web.Response:
    """The media node's answer to this request; 503 ``voice_unavailable`` when there is none."""
    svc = services(request)
    url = None if request.headers.get(FORWARDED_BY) else await media_node_url(svc)
    if url is None:
        raise Unavailable("no server of the cluster carries call audio right now (the SIP connector is not "
                          "running); ask for a callback", code="voice_unavailable")
    headers = {name: value for name in PASSED_HEADERS if (value := request.headers.get(name))}
    headers[FORWARDED_BY] = svc.node_id
    try:
        async with svc.connectors.http.request(
                request.method, url + request.path_qs, data=body, headers=headers,
                timeout=aiohttp.ClientTimeout(total=15)) as answer:
            payload = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after")}
            kept[MEDIA_NODE] = url  # (who answered: for operators reading traces)
            return web.Response(status=answer.status, body=payload, headers=kept)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("could not pass a voice request on to %s: %s", url, exc)
        raise Unavailable("the server that carries call audio did not answer", code="voice_unavailable") from exc
