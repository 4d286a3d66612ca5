"""People: users (admin) and sign-in sessions (everyone).

``POST /api/v1/sessions`` checks a login and password and answers the user, the session's CSRF
token and the ``cti_session`` cookie (HttpOnly, SameSite=Lax, Secure when the public URL is
https). The cookie then authenticates the pages and the API alike; a request that changes
anything with it must carry ``X-CSRF-Token`` (checked in ``cti/app.py:_authenticate``). Bearer
tokens stay for integrations. The rules (same 401 for an unknown login and a wrong password,
the failure limiter, sign-out everywhere at once) are in ``cti/services/people.py``.
"""

from __future__ import annotations

import time
from typing import Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti import models
from cti.api.context import Services, services
from cti.api.framework import Api, Call, json_response
from cti.api.queries import page
from cti.errors import Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized
from cti.passwords import needs_rehash, password_problem
from cti.services.actors import Role
from cti.services.people import (
    COOKIE,
    LANGUAGES,
    close_session,
    create_user,
    delete_user,
    failure_keys,
    find_session,
    open_session,
    record_failure,
    render_user,
    retry_after,
    update_user,
    user_by_login,
)

api = Api()
USERS = models.users
Language = Literal["en", "fi", "zh", "ko", "pl"]
assert set(LANGUAGES) == {"en", "fi", "zh", "ko", "pl"}
USER_OUT = {"type": "object", "required": ["id", "login", "name", "role"], "properties": {
    "id": {"type": "string"}, "login": {"type": "string"}, "name": {"type": "string"},
    "role": {"enum": ["admin", "supervisor", "agent"]}, "agent_id": {"type": ["string", "null"]},
    "language": {"type": ["string", "null"]}, "disabled": {"type": "boolean"},
    "created_at": {"type": "string"}, "updated_at": {"type": "string"}}}
SESSION_OUT = {"type": "object", "required": ["user", "csrf"], "properties": {
    "user": USER_OUT, "csrf": {"type": "string", "description": "send as X-CSRF-Token with every change"},
    "expires_at": {"type": "string"}}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Body):
    login: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=256)
    role: Literal["admin", "supervisor", "agent"]
    agent_id: str | None = Field(default=None, max_length=100)
    language: Language | None = None


class UserPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    role: Literal["admin", "supervisor", "agent"] | None = None
    agent_id: str | None = Field(default=None, max_length=100)
    language: Language | None = None
    disabled: bool | None = None


class SignIn(_Body):
    login: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


def _checked_password(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise InvalidInput(f"the password needs {problem}", code="weak_password", details={"password": problem})
    return password


@api.route("POST", "/api/v1/users", summary="Create a user who signs in with a password", tag="people",
           role=Role.ADMIN, body=UserCreate, response=USER_OUT, status=201, errors=(409,))
async def post_user(call: Call) -> dict[str, Any]:
    b, svc = call.body, services(call.request)
    hashed = await svc.passwords.hash(_checked_password(b.password))
    row = await svc.db.write(lambda tx: create_user(tx, login=b.login, name=b.name, password_hash=hashed, role=b.role,
                                                    agent_id=b.agent_id, language=b.language))
    return render_user(row)


@api.route("GET", "/api/v1/users", summary="List users", tag="people", role=Role.ADMIN)
async def list_users(call: Call) -> dict[str, Any]:
    rows, nxt = await services(call.request).db.read(
        lambda c: page(c, USERS, [USERS.c.deleted.is_(False)], limit=100, after=call.request.query.get("after")))
    return {"items": [render_user(r) for r in rows], "next": nxt}


@api.route("PATCH", "/api/v1/users/{id}", summary="Change a user (a new password, role or disabling ends their "
           "sessions)", tag="people", role=Role.ADMIN, body=UserPatch, response=USER_OUT, errors=(404,))
async def patch_user(call: Call) -> dict[str, Any]:
    svc, user_id = services(call.request), call.path("id")
    changes = call.body.model_dump(exclude_unset=True)
    for key in ("name", "password", "role", "disabled"):  # (null there means no change; agent_id, language: clear)
        if changes.get(key, "") is None:
            del changes[key]
    password = changes.pop("password", None)
    if password is not None:
        changes["password_hash"] = await svc.passwords.hash(_checked_password(password))
    row = await svc.db.write(lambda tx: update_user(tx, user_id, changes))
    return render_user(row)


@api.route("DELETE", "/api/v1/users/{id}", summary="Delete a user (their sessions end at once)", tag="people",
           role=Role.ADMIN, status=204, errors=(404,))
async def remove_user(call: Call) -> None:
    user_id = call.path("id")
    await services(call.request).db.write(lambda tx: delete_user(tx, user_id))


@api.route("POST", "/api/v1/sessions", summary="Sign in with a login and password: the user, the CSRF token and "
           "the session cookie", tag="people", role=None, body=SignIn, response=SESSION_OUT, errors=(400, 401, 429),
           raw=True)
async def sign_in(call: Call) -> web.StreamResponse:
    svc, b = services(call.request), call.body
    origin = call.request.headers.get("Origin")
    if origin and not _same_site(origin, call.request, svc):  # (no login CSRF: another site cannot sign you in)
        raise Forbidden("sign in from this server's own pages", code="cross_site")
    keys = failure_keys(b.login, call.request.remote or "")
    now = time.time()
    wait = await svc.db.read(lambda c: retry_after(c, keys, now))
    if wait is not None:
        raise RateLimited("too many failed sign-ins; wait before trying again", code="too_many_attempts",
                          retry_after=wait)
    user = await svc.db.read(lambda c: user_by_login(c, b.login))
    stored = user.password_hash if user is not None and not user.disabled else None
    matched = await svc.passwords.check(stored, b.password)
    if not matched or user is None:
        await svc.db.write(lambda tx: record_failure(tx, keys))
        raise Unauthorized("the login or the password is wrong", code="bad_credentials")
    rehashed = await svc.passwords.hash(b.password) if needs_rehash(user.password_hash) else None
    seconds = svc.config.auth.session_hours * 3600
    session = await svc.db.write(lambda tx: open_session(tx, user.id, seconds=seconds, password_hash=rehashed))
    response = json_response(_session_body(session.user, session.csrf, session.expires_at))
    response.set_cookie(COOKIE, session.secret, max_age=int(seconds), httponly=True, samesite="Lax",
                        secure=svc.config.server.resolved_public_url().startswith("https:"), path="/")
    return response


def _same_site(origin: str, request: web.Request, svc: Services) -> bool:
    """Whether a browser's Origin is this server (as reached, or its public URL)."""
    host = urlsplit(origin).netloc.lower()
    public = urlsplit(svc.config.server.resolved_public_url()).netloc.lower()
    return bool(host) and host in (request.host.lower(), public)


def _session_body(user: Any, csrf: str, expires_at: float) -> dict[str, Any]:
    from cti.events import iso

    return {"user": render_user(user), "csrf": csrf, "expires_at": iso(expires_at)}


async def _current(svc: Services, request: web.Request) -> tuple[Any, Any]:
    secret = request.cookies.get(COOKIE, "")
    now = time.time()
    found = await svc.db.read_point(lambda sql: find_session(sql, secret, now)) if secret else None
    if found is None or found.actor.user_id is None:
        raise NotFound("not signed in with a session (a bearer token has no session)", code="no_session")
    user_id = found.actor.user_id
    user = await svc.db.read(lambda c: c.execute(sa.select(USERS).where(USERS.c.id == user_id)).first())
    return found, user


@api.route("GET", "/api/v1/sessions/current", summary="Who is signed in, and the session's CSRF token",
           tag="people", role=Role.AGENT, response=SESSION_OUT, errors=(404,))
async def current_session(call: Call) -> dict[str, Any]:
    found, user = await _current(services(call.request), call.request)
    return _session_body(user, found.csrf, found.actor.expires_at)


@api.route("DELETE", "/api/v1/sessions/current", summary="Sign out: the cookie stops working at once, on every "
           "node", tag="people", role=Role.AGENT, status=204, errors=(404,), raw=True)
async def sign_out(call: Call) -> web.StreamResponse:
    svc = services(call.request)
    await _current(svc, call.request)
    secret = call.request.cookies.get(COOKIE, "")
    await svc.db.write(lambda tx: close_session(tx, secret))
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response
