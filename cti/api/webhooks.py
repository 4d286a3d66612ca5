"""Vendor webhooks: ``/webhooks/<connector name>[/<kind>]`` on every node.

The connector's sans-IO handler (``Channel.webhook``) answers the vendor's GET checks, verifies
the signature (401 when missing, 403 when wrong; nothing is stored), and parses the body (400
when malformed). The messages are stored in one transaction before the answer (store first:
routing and replies happen after), so a vendor's retry after a lost answer finds the same
external ids and stores nothing twice. Bodies are read to their end, however they arrive; past
``MAX_BODY`` they answer 413. A signed body the handler cannot read answers 400, never 500.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from connectors.base import (
    DeliveryUpdate,
    InboundMessage,
    Received,
    WebhookHandler,
    WebhookRejected,
    WebhookRequest,
    WebhookTools,
)
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import ApiError, NotFound

api = Api()
MAX_BODY = 1024 * 1024


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The whole body, however it arrives (slowly, chunked, header first), refused with 413 past ``limit``."""
    too_large = _reject(WebhookRejected(413, "payload_too_large", f"webhook bodies are limited to {limit} bytes"))
    if (request.content_length or 0) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _reject(exc: WebhookRejected) -> ApiError:
    error = ApiError(str(exc), code=exc.code)
    error.status = exc.status
    return error


async def _handle(call: Call, kind: str) -> web.StreamResponse:
    request, name = call.request, call.path("name")
    svc = services(request)
    handler: WebhookHandler | None = svc.webhook_handlers.get(name)
    if handler is None:
        raise NotFound(f"no webhook for {name!r} (is [connectors.{name}] configured?)", code="unknown_webhook")
    body = await read_capped(request, MAX_BODY)
    form: dict[str, str] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise _reject(WebhookRejected(400, "malformed_event", "the form is not UTF-8")) from exc
    public = svc.config.server.public_url.rstrip("/")
    url = public + request.path_qs if public else str(request.url)
    wreq = WebhookRequest(method=request.method, url=url, path_kind=kind,
                          headers={k.lower(): v for k, v in request.headers.items()},
                          query=dict(request.query), body=body, form=form)
    try:
        if request.method == "GET":
            reply = handler.challenge(wreq)
            if reply is None:
                raise WebhookRejected(400, "not_a_check", "this GET is not a check the vendor makes")
        else:
            handler.verify(wreq)
            try:
                items = handler.parse(wreq)
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
                # Signed but not what the vendor sends (a field of the wrong type, nesting beyond
                # reason): refused whole, nothing stored.
                raise WebhookRejected(400, "malformed_event", f"the event could not be read: {exc}"[:300]) from exc
            gateway = svc.connectors.gateway(name)
            items = list(await handler.complete(items, WebhookTools(
                http=svc.connectors.http, data_dir=svc.connectors.data_dir, channel=name)))
            messages = [i for i in items if isinstance(i, InboundMessage)]
            received = iter(await gateway.receive_many(messages) if messages else [])
            stored: list[Received | str | None] = []
            for item in items:
                if isinstance(item, InboundMessage):
                    stored.append(next(received))
                elif isinstance(item, DeliveryUpdate):
                    await gateway.delivery_update(item)
                    stored.append(None)
                else:
                    stored.append(await gateway.call_event(item))
            svc.metrics.webhooks_received.labels(name, "stored" if items else "empty").inc()
            reply = handler.reply(wreq, stored)
    except WebhookRejected as exc:
        svc.metrics.webhooks_received.labels(name, str(exc.status)).inc()
        raise _reject(exc) from exc
    return web.Response(status=reply.status, text=reply.body, content_type=reply.content_type)


def _routes(method: str, path: str, kind: Any) -> None:
    async def endpoint(call: Call) -> web.StreamResponse:
        return await _handle(call, call.path("kind") if kind is None else kind)

    endpoint.__name__ = f"webhook_{method.lower()}{'_kind' if kind is None else ''}"
    api.route(method, path, summary=f"Vendor webhook ({method}): signature-checked, stored before the answer",
              tag="webhooks", role=None, raw=True, errors=(400, 401, 403, 404, 413))(endpoint)


for _method in ("GET", "POST"):
    _routes(_method, "/webhooks/{name}", "")
    _routes(_method, "/webhooks/{name}/{kind}", None)
