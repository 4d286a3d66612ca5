"""Routes of the agent desktop (``/desk``), the wallboard (``/wallboard``) and their static files."""

from __future__ import annotations

import functools
import time
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web

from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import NotFound
from cti.services.people import COOKIE, find_session
from cti.web import i18n

api = Api()
SCRIPTS = ("cti.js", "desk.js", "desk-work.js", "desk-call.js", "desk-contact.js", "desk-guest.js", "wallboard.js",
           "wallboard-approvals.js", "reports-forecast.js",
           "reports.js", "voice.js", "softphone.js", "webrtc-audio.js")
STATIC = {**{name: "application/javascript" for name in SCRIPTS}, "style.css": "text/css"}
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
                                      "frame-ancestors 'none'; base-uri 'none'"}


@functools.lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("cti.web", "templates"), autoescape=True,
                              auto_reload=False)


@functools.lru_cache(maxsize=8)
def _static(name: str) -> bytes:
    return resources.files("cti.web").joinpath("static", name).read_bytes()


def _page(template: str, **values: Any) -> web.Response:
    html = templates().get_template(template).render(**values)
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=HEADERS)


async def _signed_in_page(call: Call, template: str) -> web.Response:
    """A page behind the sign-in panel, in its reader's language (cti/web/i18n.py)."""
    svc = services(call.request)
    own = None
    secret = call.request.cookies.get(COOKIE, "")
    if secret:
        now = time.time()
        found = await svc.db.read_point(lambda sql: find_session(sql, secret, now))
        own = found.language if found is not None else None
    lang = i18n.negotiate(call.request.headers.get("Accept-Language"), requested=call.request.query.get("lang") or own)
    oidc = svc.config.auth.oidc
    return _page(template, lang=lang, t=functools.partial(i18n.text, lang), messages=i18n.catalogue(lang),
                 languages=i18n.LANGUAGES, sso_name=oidc.name if oidc else "", page_path=call.request.path)


@api.route("GET", "/", summary="The index: links to the pages, the API reference and the health checks",
           tag="pages", role=None, raw=True)
async def index(call: Call) -> web.StreamResponse:
    from cti import __version__

    return _page("index.html.j2", version=__version__)


@api.route("GET", "/desk", summary="The agent desktop (an agent signs in with a password, or an agent token)",
           tag="pages", role=None,
           raw=True)
async def desk(call: Call) -> web.StreamResponse:
    return await _signed_in_page(call, "desk.html.j2")


@api.route("GET", "/wallboard", summary="The supervisor wallboard (a supervisor signs in with a password, or a "
           "token)", tag="pages",
           role=None, raw=True)
async def wallboard(call: Call) -> web.StreamResponse:
    return await _signed_in_page(call, "wallboard.html.j2")


@api.route("GET", "/reports", summary="Reports: the summary over a period, with charts and CSV", tag="pages",
           role=None, raw=True)
async def reports(call: Call) -> web.StreamResponse:
    return await _signed_in_page(call, "reports.html.j2")


@api.route("GET", "/static/{name}", summary="Static files of the pages", tag="pages", role=None, raw=True,
           errors=(404,))
async def static(call: Call) -> web.StreamResponse:
    name = call.path("name")
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}", code="not_found")
    return web.Response(body=_static(name), content_type=STATIC[name], headers=HEADERS)
