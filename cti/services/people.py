"""People who sign in: users (login, password hash, role, agent, language) and their sessions.

A session is a random secret in the ``cti_session`` cookie; only its SHA-256 is stored, with the
session's CSRF token (random, never derived from anything the client sends). Every request looks
the session up (an indexed point read, no cache), so signing out, disabling a user or changing
a password ends the session at once on every node.

Failed sign-ins are counted in the database per login and per client address, so the limit
holds across nodes: ``FAILURES_PER_LOGIN`` or ``FAILURES_PER_ADDRESS`` within
``FAILURE_WINDOW_SECONDS`` answer 429 until the oldest of them leaves the window. An unknown
login and a wrong password get the same 401 (and cost the same password check).

These are the synchronous ops the writer runs; password hashing happens before, off the loop
(``cti/passwords.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cti import languages, models
from cti.errors import Conflict, InvalidInput
from cti.events import iso
from cti.ids import new_id
from cti.services.actors import Actor, Role, check_role
from cti.services.rows import Record, fetch_one, not_found, update_row
from cti.storage.db import Tx
from cti.storage.prepared import Prepared

USERS, SESSIONS, FAILURES = models.users, models.user_sessions, models.sign_in_failures
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,99}$")
COOKIE = "cti_session"
SESSION_PREFIX = "ses_"
FAILURE_WINDOW_SECONDS = 15 * 60.0
FAILURES_PER_LOGIN = 10
FAILURES_PER_ADDRESS = 50
LANGUAGES = tuple(languages.LANGUAGES)


def normalize_login(raw: Any) -> str:
    """The stored form of a login (lower case); InvalidInput when it cannot be one."""
    login = str(raw or "").strip().casefold()
    if not LOGIN.match(login):
        raise InvalidInput("a login is 1-100 characters: letters, digits and . _ @ + -",
                           details={"login": "letters, digits and . _ @ + - only"})
    return login


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def render_user(row: Any) -> dict[str, Any]:
    """The API shape of a user (never the password or its hash)."""
    return {"id": row.id, "login": row.login, "name": row.name, "role": row.role, "agent_id": row.agent_id,
            "language": row.language, "disabled": bool(row.disabled), "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at)}


def create_user(tx: Tx, *, login: str, name: str, password_hash: str | None, role: str,
                agent_id: str | None = None, language: str | None = None) -> Record:
    """A new user; Conflict when the login is taken."""
    login = normalize_login(login)
    check_role(tx.conn, role, agent_id, holder="user")
    taken = tx.conn.execute(sa.select(USERS.c.id).where(USERS.c.login == login, USERS.c.deleted.is_(False))).first()
    if taken is not None:
        raise Conflict(f"the login {login} is taken", code="login_taken", details={"login": "taken"})
    row = Record(id=new_id("usr"), login=login, name=name, password_hash=password_hash, role=str(role),
                 agent_id=agent_id if role == Role.AGENT else None, language=language, disabled=False, deleted=False,
                 created_at=tx.now, updated_at=tx.now)
    tx.conn.execute(USERS.insert(), row)
    return row


def update_user(tx: Tx, user_id: str, changes: dict[str, Any]) -> Record:
    """Change a user; a new password, a new role or disabling ends the user's sessions."""
    row = _live_user(tx, user_id)
    role = changes.get("role", row["role"])
    agent_id = changes.get("agent_id", row["agent_id"])
    if "role" in changes or "agent_id" in changes:
        check_role(tx.conn, role, agent_id, holder="user")
        changes["agent_id"] = agent_id if role == Role.AGENT else None
    if any(key in changes for key in ("password_hash", "role", "agent_id", "disabled")):
        end_sessions(tx, user_id)
    update_row(tx.conn, USERS, row, {**changes, "updated_at": tx.now})
    return row


def _live_user(tx: Tx, user_id: str) -> Record:
    row = fetch_one(tx.conn, USERS, user_id, what="user")
    if row["deleted"]:
        raise not_found("user", user_id)
    return row


def disable_agent_users(tx: Tx, agent_id: str) -> None:
    """The agent was deleted: the people who signed in as that agent cannot any more."""
    users: list[str] = list(tx.conn.execute(sa.select(USERS.c.id).where(
        USERS.c.agent_id == agent_id, USERS.c.deleted.is_(False))).scalars().all())
    for user_id in users:
        tx.conn.execute(sa.update(USERS).where(USERS.c.id == user_id).values(disabled=True, updated_at=tx.now))
        end_sessions(tx, user_id)


def delete_user(tx: Tx, user_id: str) -> None:
    """Delete a user (the login can be used again); their sessions end at once."""
    row = _live_user(tx, user_id)
    update_row(tx.conn, USERS, row, {"deleted": True, "disabled": True, "updated_at": tx.now})
    end_sessions(tx, user_id)


def end_sessions(tx: Tx, user_id: str) -> None:
    """End every live session of a user."""
    tx.conn.execute(sa.update(SESSIONS).where(SESSIONS.c.user_id == user_id, SESSIONS.c.revoked_at.is_(None))
                    .values(revoked_at=tx.now))


def user_by_login(conn: Any, login: str) -> Any | None:
    """The live user with this login (any case), or None."""
    try:
        normalized = normalize_login(login)
    except InvalidInput:
        return None
    return conn.execute(sa.select(USERS).where(USERS.c.login == normalized, USERS.c.deleted.is_(False))).first()


# ---- failed sign-ins ----------------------------------------------------------------------
def failure_keys(login: str, address: str) -> tuple[str, str]:
    """The limiter's keys: the login as typed (normalized when it can be) and the client address."""
    try:
        login_key = normalize_login(login)
    except InvalidInput:
        login_key = str(login or "")[:100].casefold()
    return f"login:{_digest(login_key)}", f"addr:{_digest(address)}"


def retry_after(conn: Any, keys: tuple[str, str], now: float) -> int | None:
    """Seconds until another try is allowed when either key is over its limit, else None."""
    since = now - FAILURE_WINDOW_SECONDS
    waits = []
    for key, limit in zip(keys, (FAILURES_PER_LOGIN, FAILURES_PER_ADDRESS), strict=True):
        times = conn.execute(sa.select(FAILURES.c.at).where(FAILURES.c.key == key, FAILURES.c.at > since)
                             .order_by(FAILURES.c.at.desc()).limit(limit)).scalars().all()
        if len(times) >= limit:
            waits.append(int(times[-1] + FAILURE_WINDOW_SECONDS - now) + 1)
    return max(waits) if waits else None


def record_failure(tx: Tx, keys: tuple[str, str]) -> None:
    """Count a failed sign-in against the login and the address (and forget old ones)."""
    tx.conn.execute(FAILURES.insert(), [{"key": key, "at": tx.now} for key in keys])
    tx.conn.execute(sa.delete(FAILURES).where(FAILURES.c.at < tx.now - FAILURE_WINDOW_SECONDS))


# ---- sessions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NewSession:
    """A session just opened: the cookie's secret (shown once) and the CSRF token."""

    secret: str
    csrf: str
    expires_at: float
    user: Record


def open_session(tx: Tx, user_id: str, *, seconds: float, password_hash: str | None = None) -> NewSession:
    """Open a session for a user who proved who they are (``password_hash``: a rehashed password to store)."""
    user = fetch_one(tx.conn, USERS, user_id, what="user")
    if password_hash is not None:
        update_row(tx.conn, USERS, user, {"password_hash": password_hash})
    secret, csrf = SESSION_PREFIX + secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    tx.conn.execute(SESSIONS.insert(), {"id": new_id("ses"), "user_id": user_id, "token_hash": _digest(secret),
                                        "csrf": csrf, "created_at": tx.now, "expires_at": tx.now + seconds,
                                        "revoked_at": None})
    return NewSession(secret, csrf, tx.now + seconds, user)


def close_session(tx: Tx, secret: str) -> None:
    """Sign out: the session stops working at once."""
    tx.conn.execute(sa.update(SESSIONS).where(SESSIONS.c.token_hash == _digest(secret),
                                              SESSIONS.c.revoked_at.is_(None)).values(revoked_at=tx.now))


_session_of = (
    sa.select(SESSIONS.c.token_hash, SESSIONS.c.csrf, SESSIONS.c.expires_at, SESSIONS.c.revoked_at,
              USERS.c.id, USERS.c.role, USERS.c.agent_id, USERS.c.disabled, USERS.c.deleted, USERS.c.language)
    .select_from(SESSIONS.join(USERS, SESSIONS.c.user_id == USERS.c.id))
    .where(SESSIONS.c.token_hash == sa.bindparam("digest"))
)


@dataclass(frozen=True, slots=True)
class SessionActor:
    """Who a live session is, and the CSRF token its changes must carry."""

    actor: Actor
    csrf: str
    language: str | None = None  # the person's own language for the pages


def find_session(sql: Prepared, secret: str, now: float) -> SessionActor | None:
    """The live session of a cookie, or None (unknown, signed out, expired, user disabled)."""
    if not secret.startswith(SESSION_PREFIX) or len(secret) > 100:
        return None
    digest = _digest(secret)
    row = sql.execute(_session_of, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None \
            or row.expires_at <= now or row.disabled or row.deleted:
        return None
    actor = Actor(Role(row.role), agent_id=row.agent_id, expires_at=row.expires_at, user_id=row.id)
    return SessionActor(actor, row.csrf, row.language)
