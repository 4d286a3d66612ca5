"""The customer's side of a pivot link: the landing page and the callback form (public routes).

GET never consumes or changes a link (link-preview bots such as Twitterbot fetch links first);
only the first open by a person is recorded, as ``pivot.opened``. The form is protected by a
double-submit CSRF token (pivot.tokens). Unknown links answer a 404 page, expired, used or
revoked ones a 410 page pointing back to the original channel; both do the same lookup, so
they take the same time as a valid link. Pages are mobile-first, with no external assets, and
forbid framing, referrers (the token is in the URL) and caching.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jinja2
import sqlalchemy as sa
from aiohttp import web
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError

from cti import models
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.config import Config
from cti.errors import Forbidden, Gone, InvalidInput, NotFound, RateLimited, Unavailable
from cti.services.identities import normalize_identity
from cti.storage.db import Database, Tx
from pivot import i18n
from pivot.callbacks import request_callback
from pivot.email import continue_by_email
from pivot.guard import MissLimiter
from pivot.hours import parse_choice, slots
from pivot.links import find_link, link_status, record_open
from pivot.numbers import NumberRefused, check_callback_number
from pivot.settings import PivotConfig
from pivot.tokens import client_key, form_token, form_token_valid, mask_number, new_nonce, token_hash
from pivot.voice import bridge_browser
from softphone_bridge.api import media_bridge
from softphone_bridge.forward import to_media_node

api = Api()
COOKIE = "cti_pivot"
PREVIEW_BOTS = re.compile(r"twitterbot|facebookexternalhit|facebot|slackbot|linkedinbot|whatsapp|telegrambot|"
                          r"discordbot|skypeuripreview|googlebot|bingbot|applebot|redditbot|embedly|iframely|"
                          r"pinterest|vkshare|mastodon|bluesky|cardyb|preview", re.IGNORECASE)
HEADERS = {
    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'self'; "
                               "connect-src 'self'; media-src 'self' blob:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
CHANNEL_NAMES = {"x": "X", "facebook": "Messenger", "instagram": "Instagram", "email": "email", "xmpp": "chat",
                 "sms": "SMS", "voice": "phone"}
SETTING_KEY = "pivot.secret"
IDENTITIES = models.identities
_contact_phone = (
    sa.select(IDENTITIES.c.value)
    .where(IDENTITIES.c.contact_id == sa.bindparam("contact_id"), IDENTITIES.c.kind == "phone")
    .order_by(IDENTITIES.c.created_at)
    .limit(1)
)


@dataclass
class PivotSite:
    """What the pages share: settings, templates, the form secret and the guessing limiter."""

    config: Config
    settings: PivotConfig
    secret: bytes
    limiter: MissLimiter
    templates: jinja2.Environment
    secure_cookie: bool
    _options: tuple[int, Markup] | None = None

    @classmethod
    async def create(cls, config: Config, settings: PivotConfig, db: Database) -> PivotSite:
        """Load (or create, once for all nodes) the form secret."""
        if settings.secret:
            secret = settings.secret
        else:
            try:
                secret = await db.write(_shared_secret)
            except IntegrityError:  # another node starting at the same moment stored its own first
                secret = await db.write(_shared_secret)
        env = jinja2.Environment(loader=jinja2.PackageLoader("pivot", "templates"), autoescape=True,
                                 enable_async=False, trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        return cls(config, settings, secret.encode(), MissLimiter(settings.misses_per_client_per_minute), env,
                   config.server.resolved_public_url().startswith("https:"))

    def client(self, request: web.Request) -> str:
        """A keyed hash of the client's address (no addresses are stored)."""
        address = request.remote or ""
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
            address = forwarded or address
        return client_key(self.secret, address)

    def slot_options(self, now: float) -> Markup:
        """The <option>s of "call me at a time", rendered once a minute (they change at most that often)."""
        minute = int(now // 60)
        if self._options is None or self._options[0] != minute:
            zone = self.settings.timezone
            html = "".join(f'<option value="{s.isoformat()}">{s.strftime("%Y-%m-%d %H:%M")} {escape(zone)}</option>'
                           for s in slots(self.settings, now))
            self._options = (minute, Markup(html))
        return self._options[1]

    def page(self, template: str, status: int, language: str, request: web.Request, **values: Any) -> web.Response:
        """Render a page in the language, with the protective headers."""
        words = i18n.MESSAGES[language]
        html = self.templates.get_template(template).render(
            t=words, lang=language, languages=i18n.LANGUAGES, company=self.settings.company_name,
            continue_url=self.settings.continue_urls.get(values.pop("source_channel", ""), ""),
            base=_base_path(request.path), **values)
        response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                                headers=HEADERS)
        return response


def _shared_secret(tx: Tx) -> str:
    SETTINGS = models.settings
    found = tx.conn.execute(sa.select(SETTINGS.c.value).where(SETTINGS.c.key == SETTING_KEY)).scalar()
    if found:
        return str(found["secret"])
    value = secrets.token_urlsafe(32)
    tx.conn.execute(SETTINGS.insert().values(key=SETTING_KEY, value={"secret": value}, updated_at=tx.now))
    return value


def _base_path(path: str) -> str:
    """/p/{token} of any page of the link."""
    return "/".join(path.split("/")[:3])


PIVOT_SITE: web.AppKey[PivotSite] = web.AppKey("pivot_site", PivotSite)


def site(request: web.Request) -> PivotSite:
    """The pivot pages' shared parts."""
    return request.app[PIVOT_SITE]


def _language(request: web.Request, link: Any | None) -> str:
    return i18n.negotiate(request.headers.get("Accept-Language"), requested=request.query.get("lang"),
                          fallback=link.language if link is not None else None)


def _channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


async def _lookup(request: web.Request, token: str) -> tuple[Any, str | None, web.Response | None]:
    """(link, contact phone, early response): 429 for a guessing client, 404 unknown, 410 gone. The
    link is None only when there is an early response."""
    pivot, now = site(request), time.time()
    client = pivot.client(request)
    wait = pivot.limiter.retry_after(client, now)
    if wait is not None:
        response = pivot.page("message.html.j2", 429, _language(request, None), request,
                              title_key="busy_title", body_key="busy_body", channel="")
        response.headers["Retry-After"] = str(wait)
        return None, None, response

    def read(sql: Any) -> tuple[Any | None, str | None]:
        link = find_link(sql, token[:200])
        if link is None:
            return None, None
        return link, sql.execute(_contact_phone, {"contact_id": link.contact_id}).scalar()

    link, phone = await services(request).db.read_point(read)  # two index lookups, inline
    if link is None:
        pivot.limiter.miss(client, now)
        return None, None, pivot.page("message.html.j2", 404, _language(request, None), request,
                                      title_key="missing_title", body_key="missing_body", channel="")
    if link_status(link, now) != "active":
        return link, phone, _gone(request, link)
    return link, phone, None


def _gone(request: web.Request, link: Any) -> web.Response:
    return site(request).page("message.html.j2", 410, _language(request, link), request, title_key="gone_title",
                              body_key="gone_body", channel=_channel_name(link.channel), source_channel=link.channel)


def _form(request: web.Request, link: Any, phone: str | None, *, status: int = 200, error: str | None = None,
          typed: str = "") -> web.Response:
    pivot, now = site(request), time.time()
    language = _language(request, link)
    nonce = request.cookies.get(COOKIE) or ""
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", nonce):
        nonce = new_nonce()
    agent = (link.agent_name or "").split(" ")[0]
    reach = services(request).voice_reach
    response = pivot.page(
        "landing.html.j2", status, language, request, agent=agent, channel=_channel_name(link.channel),
        source_channel=link.channel,
        phone_masked=mask_number(phone) if phone else None, error_key=f"error_{error}" if error else None,
        typed=typed, csrf=form_token(pivot.secret, link.token_hash, nonce),
        slots=pivot.slot_options(now), can_call=reach.calls, can_talk=reach.browser,
        expires=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(link.expires_at)), to=link.to,
        action=f"{_base_path(request.path)}/callback")
    response.set_cookie(COOKIE, nonce, httponly=True, samesite="Strict", secure=pivot.secure_cookie,
                        path="/p/", max_age=int(max(60, link.expires_at - now)))
    return response


async def _posted_form(call: Call) -> tuple[Any, int]:
    """The page's form as posted, when its double-submit CSRF token holds: (form, 0); else (None,
    400) for something that is not this page's form (not UTF-8, not a form) or (None, 403)."""
    request, pivot = call.request, site(call.request)
    try:
        form = await request.post() if request.content_type in ("application/x-www-form-urlencoded",
                                                                     "multipart/form-data") else {}
    except (UnicodeDecodeError, ValueError):
        return None, 400
    if not form_token_valid(pivot.secret, token_hash(call.path("token")), request.cookies.get(COOKIE),
                            str(form.get("csrf") or "")):
        return None, 403
    return form, 0


@api.route("GET", "/p/{token}", summary="Pivot landing page (never consumes the link)", tag="pivot pages",
           role=None, raw=True, errors=(404, 410, 429))
async def landing_page(call: Call) -> web.StreamResponse:
    request = call.request
    link, phone, early = await _lookup(request, call.path("token"))
    if early is not None:
        return early
    if link.opened_at is None and not PREVIEW_BOTS.search(request.headers.get("User-Agent", "")):
        await services(request).db.write(lambda tx: record_open(tx, link.id))
    if link.to == "email":
        return await _email_form(request, link)
    if link.to == "chat":  # (the widget redeems the link when it starts the conversation)
        return site(request).page("chat.html.j2", 200, _language(request, link), request, token=call.path("token"),
                                  agent=(link.agent_name or "").split(" ")[0], channel=_channel_name(link.channel),
                                  can_chat=services(request).channels.first_of_kind("webchat") is not None)
    return _form(request, link, phone)


async def _email_form(request: web.Request, link: Any, *, status: int = 200, error: str | None = None,
                      typed: str = "", sent_to: str | None = None) -> web.Response:
    pivot, now = site(request), time.time()
    nonce = request.cookies.get(COOKIE) or ""
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", nonce):
        nonce = new_nonce()
    on_file = await services(request).db.read(lambda c: _email_on_file(c, link.contact_id))
    response = pivot.page(
        "email.html.j2", status, _language(request, link), request, agent=(link.agent_name or "").split(" ")[0],
        channel=_channel_name(link.channel), source_channel=link.channel, email_masked=mask_email(on_file),
        can_email=services(request).channels.first_of_kind("email") is not None,
        error_key=f"error_{error}" if error else None, typed=typed,
        sent_to=sent_to, csrf=form_token(pivot.secret, link.token_hash, nonce),
        expires=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(link.expires_at)),
        action=f"{_base_path(request.path)}/email")
    response.set_cookie(COOKIE, nonce, httponly=True, samesite="Strict", secure=pivot.secure_cookie,
                        path="/p/", max_age=int(max(60, link.expires_at - now)))
    return response


def _email_on_file(conn: Any, contact_id: str) -> str | None:
    found = conn.execute(sa.select(IDENTITIES.c.value).where(
        IDENTITIES.c.contact_id == contact_id, IDENTITIES.c.kind == "email").order_by(IDENTITIES.c.created_at)
        .limit(1)).scalar()
    return str(found) if found else None


def mask_email(address: str | None) -> str | None:
    """n***@example.com: enough for the customer to recognise, little for whoever holds the link."""
    if not address or "@" not in address:
        return None
    local, domain = address.split("@", 1)
    return f"{local[:1]}***@{domain}"


@api.route("POST", "/p/{token}/email", summary="Continue the case by email (form: email, csrf)",
           tag="pivot pages", role=None, raw=True, errors=(403, 404, 410, 422, 429))
async def continue_by_email_page(call: Call) -> web.StreamResponse:
    request = call.request
    link, _, early = await _lookup(request, call.path("token"))
    if early is not None:
        return early
    pivot = site(request)
    channel = services(request).channels.first_of_kind("email")
    if link.to != "email" or channel is None:
        return await _email_form(request, link, status=503 if channel is None else 404)
    form, refused = await _posted_form(call)
    if form is None:
        return await _email_form(request, link, status=refused, error="csrf")
    typed = str(form.get("email") or "").strip()[:254]
    svc = services(request)
    if not typed:
        on_file: str | None = await svc.db.read(lambda c: _email_on_file(c, link.contact_id))
        typed = on_file or ""
    try:
        _, address = normalize_identity("email", typed, field="email")
    except InvalidInput:
        return await _email_form(request, link, status=422, error="invalid_email", typed=typed)
    language, policy = _language(request, link), svc.policies.current
    try:
        await svc.db.write(lambda tx: continue_by_email(tx, link.id, address=address, channel=channel,
                                                       policy=policy, language=language,
                                                       company=pivot.settings.company_name))
    except Gone:
        return _gone(request, link)
    return await _email_form(request, link, sent_to=address)


@api.route("POST", "/p/{token}/callback", summary="Ask for a callback (form: phone, when=now|ISO time, csrf)",
           tag="pivot pages", role=None, raw=True, errors=(403, 404, 410, 422, 429))
async def request_callback_page(call: Call) -> web.StreamResponse:
    request = call.request
    link, phone, early = await _lookup(request, call.path("token"))
    if early is not None:
        return early
    pivot, now = site(request), time.time()
    if not services(request).voice_reach.calls:  # (the page did not offer it: no connector places calls)
        return _form(request, link, phone, status=503)
    form, refused = await _posted_form(call)
    if form is None:
        return _form(request, link, phone, status=refused, error="csrf")
    typed = str(form.get("phone") or "").strip()
    try:
        number = check_callback_number(typed or phone or "", pivot.settings).e164
    except NumberRefused as exc:
        return _form(request, link, phone, status=422, error=exc.code, typed=typed[:40])
    when = str(form.get("when") or "now").strip()
    due_at = None if when == "now" else parse_choice(when, pivot.settings, now)
    if when != "now" and due_at is None:
        return _form(request, link, phone, status=422, error="invalid_time", typed=typed[:40])
    client = pivot.client(request)
    try:
        callback = await services(request).db.write(
            lambda tx: request_callback(tx, link.id, number=number, due_at=due_at, client=client,
                                        config=pivot.settings))
    except RateLimited as exc:
        response = _form(request, link, phone, status=429, error="rate_limited", typed=typed[:40])
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Gone:
        return _gone(request, link)
    language = _language(request, link)
    agent = (link.agent_name or "").split(" ")[0] or pivot.settings.company_name
    return pivot.page("done.html.j2", 200, language, request, agent=agent, number=mask_number(number),
                      when=None if due_at is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(due_at)),
                      callback_id=callback["id"])


@api.route("POST", "/p/{token}/voice", summary="Talk in the browser: a WebRTC offer in, the answer out "
           "({sdp, type, csrf}); CSRF-protected like the form", tag="pivot pages", role=None, raw=True,
           errors=(400, 403, 404, 410, 429, 503))
async def browser_voice(call: Call) -> web.StreamResponse:
    request = call.request
    link, _, early = await _lookup(request, call.path("token"))
    if early is not None:  # (script on the page reads JSON errors)
        if early.status == 429:
            raise RateLimited("too many tries", retry_after=int(early.headers.get("Retry-After", "60")))
        if early.status == 410:
            raise Gone("this link can no longer be used", code="pivot_link_gone")
        raise NotFound("no such link", code="pivot_link_not_found")
    pivot, svc = site(request), services(request)
    if not svc.voice_reach.browser:
        raise Unavailable("browser calls need the media bridge ([connectors.sip]), and none is configured",
                          code="voice_unavailable")
    bridge = media_bridge(svc)
    if bridge is None:  # the media is on another node of the cluster: it answers
        return await to_media_node(request, await request.read())
    try:
        body = await request.json() if (request.content_length or 0) < 64_000 else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("sdp"), str) or body.get("type") != "offer":
        raise InvalidInput("send {sdp, type: offer, csrf}", code="invalid_offer", details={"sdp": "required"})
    if not form_token_valid(pivot.secret, token_hash(call.path("token")), request.cookies.get(COOKIE),
                            str(body.get("csrf") or "")):
        raise Forbidden("the page's form token is missing or wrong; open the link again", code="csrf_failed")
    return web.json_response(await bridge_browser(svc, bridge, link.id, body["sdp"], pivot.settings))
