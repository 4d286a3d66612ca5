"""Single sign-on routes (``[auth.oidc]``; the flow and its checks are in ``cti/sso.py``).

``GET /api/v1/sessions/oidc?next=/desk`` sends the browser to the provider; the provider sends it
back to ``GET /api/v1/sessions/oidc/callback``, which opens the same session as a password
sign-in (the ``cti_session`` cookie) and returns to the page. A sign-on that fails returns to
the page with ``?sso_error=CODE`` (``sso_refused``, ``sso_failed``, ``sso_unknown_user``,
``sso_unavailable``), which the sign-in panel explains; nothing is signed in.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import NotFound
from cti.services.people import COOKIE, open_session, user_by_login
from cti.sso import PENDING_COOKIE, PENDING_SECONDS, Pending, SignOnFailed, safe_next

api = Api()
log = logging.getLogger(__name__)
COOKIE_PATH = "/api/v1/sessions/oidc"
_CODE = re.compile(r"^[\x21-\x7e]{1,2048}$")


class StartQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    next: str = Field(default="/desk", max_length=200, description="the page to return to (a path of this server)")


class CallbackQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")  # providers add their own parameters (iss, session_state, ...)
    code: str | None = Field(default=None, max_length=2048)
    state: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=200)


@api.route("GET", "/api/v1/sessions/oidc", summary="Single sign-on: go to the OpenID provider ([auth.oidc])",
           tag="people", role=None, query=StartQuery, errors=(404,), raw=True)
async def start_sign_on(call: Call) -> web.StreamResponse:
    svc = services(call.request)
    if svc.sso is None:
        raise NotFound("single sign-on is not configured ([auth.oidc])", code="sso_off")
    pending = Pending.new(call.query.next)
    try:
        url = await svc.sso.authorization_url(pending)
    except SignOnFailed as failed:
        log.warning("single sign-on cannot start: %s", failed)
        return _back(pending.next_path, failed.code)
    response = _redirect(url, 302)
    response.set_cookie(PENDING_COOKIE, pending.cookie(), max_age=PENDING_SECONDS, httponly=True, samesite="Lax",
                        secure=_secure(call), path=COOKIE_PATH)
    return response


@api.route("GET", "/api/v1/sessions/oidc/callback", summary="Single sign-on: where the OpenID provider returns "
           "(opens the session cookie, then back to the page)", tag="people", role=None, query=CallbackQuery,
           errors=(404,), raw=True)
async def finish_sign_on(call: Call) -> web.StreamResponse:
    svc = services(call.request)
    if svc.sso is None:
        raise NotFound("single sign-on is not configured ([auth.oidc])", code="sso_off")
    q, next_path = call.query, "/desk"
    try:
        pending = Pending.from_cookie(call.request.cookies.get(PENDING_COOKIE, ""))
        next_path = pending.next_path
        if q.error is not None:
            raise SignOnFailed("sso_refused", f"the provider answered {q.error}")
        if not q.code or not _CODE.match(q.code) or not q.state:
            raise SignOnFailed("sso_failed", "the provider's answer has no code or state")
        login = await svc.sso.login_of(q.code, q.state, pending)
        user = await svc.db.read(lambda c: user_by_login(c, login))
        if user is None or user.disabled:
            raise SignOnFailed("sso_unknown_user", f"no user has the login {login!r}")
    except SignOnFailed as failed:
        log.info("single sign-on refused (%s): %s", failed.code, failed)
        response = _back(next_path, failed.code)
        response.del_cookie(PENDING_COOKIE, path=COOKIE_PATH)
        return response
    seconds = svc.config.auth.session_hours * 3600
    session = await svc.db.write(lambda tx: open_session(tx, user.id, seconds=seconds))
    response = _redirect(safe_next(next_path))
    response.set_cookie(COOKIE, session.secret, max_age=int(seconds), httponly=True, samesite="Lax",
                        secure=_secure(call), path="/")
    response.del_cookie(PENDING_COOKIE, path=COOKIE_PATH)
    return response


def _back(next_path: str, code: str) -> web.Response:
    return _redirect(f"{safe_next(next_path)}?{urlencode({'sso_error': code})}")


def _redirect(location: str, status: int = 303) -> web.Response:
    return web.Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})


def _secure(call: Call) -> bool:
    return services(call.request).config.server.resolved_public_url().startswith("https:")
