"""API tokens: random secrets shown once, stored as SHA-256 hashes, looked up in constant time.

A token may expire (``expires_in`` at creation) and stops working when it is revoked or when its
agent is deleted (``revoke_agent_tokens``). A refused token says why (``token_revoked``,
``token_expired``, ``invalid_token``): the caller learns nothing it did not already hold, since
only the holder of the secret can ask about it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from cti import models
from cti.errors import InvalidInput
from cti.ids import new_id
from cti.services.actors import Actor, Role, check_role
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx
from cti.storage.prepared import Prepared

API_TOKENS = models.api_tokens
TOKEN_PREFIX = "cti_"


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(tx: Tx, *, role: str, agent_id: str | None = None, name: str | None = None,
                 expires_in: float | None = None) -> tuple[Record, str]:
    """Create a token; return (row, secret). The secret is never stored or shown again."""
    check_role(tx.conn, role, agent_id, holder="token")
    if role != Role.AGENT and agent_id:
        raise InvalidInput("only agent tokens carry an agent_id", details={"agent_id": "only for role agent"})
    if expires_in is not None and expires_in <= 0:
        raise InvalidInput("expires_in must be a positive number of seconds", details={"expires_in": "must be > 0"})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = Record(id=new_id("tok"), name=name, role=str(role), agent_id=agent_id, token_hash=hash_token(secret),
                 created_at=tx.now, revoked_at=None,
                 expires_at=tx.now + expires_in if expires_in is not None else None)
    tx.conn.execute(API_TOKENS.insert(), row)
    return row, secret


def revoke_token(tx: Tx, token_id: str) -> Record:
    """Revoke a token (it stops working at once on every node)."""
    row = fetch_one(tx.conn, API_TOKENS, token_id, what="token")
    if row["revoked_at"] is None:
        update_row(tx.conn, API_TOKENS, row, {"revoked_at": tx.now})
    return row


def revoke_agent_tokens(tx: Tx, agent_id: str) -> int:
    """Revoke every live token of an agent (the agent was deleted); how many."""
    return (
        tx.conn.execute(
            sa.update(API_TOKENS)
            .where(API_TOKENS.c.agent_id == agent_id, API_TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=tx.now)
        ).rowcount
        or 0
    )


_by_hash = sa.select(API_TOKENS).where(API_TOKENS.c.token_hash == sa.bindparam("digest"))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a presented token does not authenticate: the error code and the sentence."""

    code: str
    message: str
    expires_at: float | None = None  # a cached answer for a live token must not outlive its expiry


UNKNOWN = Refusal("invalid_token", "the bearer token is not valid")
REVOKED = Refusal("token_revoked", "the bearer token was revoked")
EXPIRED = Refusal("token_expired", "the bearer token has expired")


def find_actor(sql: Prepared, secret: str, now: float | None = None) -> Actor | Refusal:
    """The actor for a presented token, or why not. Lookup is by hash; the final compare is constant-time."""
    digest = hash_token(secret)
    row = sql.execute(_by_hash, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return UNKNOWN
    if row.revoked_at is not None:
        return REVOKED
    if row.expires_at is not None and row.expires_at <= (time.time() if now is None else now):
        return EXPIRED
    return Actor(Role(row.role), agent_id=row.agent_id, token_id=row.id, expires_at=row.expires_at)
