"""Web chat visitors in the database: start a conversation, find it by its token, move it along.

A visitor is a contact with the identity ``webchat:<visitor id>``; the visitor token (in the
widget's storage on the company's page) is the only key to the conversation, and only its SHA-256
is stored. A token reaches its own conversation and nothing else: every route finds the visitor
by the token's hash and reads only that visitor's case. A pivot link ``to: "chat"`` starts a
visitor on the link's case and contact, so the customer continues the same conversation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.errors import Gone
from cti.events import EventType
from cti.ids import new_id
from cti.routing.policy import RoutingPolicy
from cti.services.contacts import find_or_create_contact, link_identity
from cti.services.identities import normalize_identity
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx
from pivot.links import link_event, link_status, open_written_pivot

VISITORS, IDENTITIES, CONTACTS = models.chat_visitors, models.identities, models.contacts
PIVOT_LINKS = models.pivot_links
TOKEN_PREFIX = "wct_"
TOKEN_SHAPE = re.compile(r"^wct_[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """A visitor token: 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Visitor:
    """The conversation a token reaches."""

    id: str
    contact_id: str
    case_id: str | None
    origin: str
    language: str | None
    last_seen_at: float


_by_hash = sa.select(VISITORS).where(VISITORS.c.token_hash == sa.bindparam("h"))


@dataclass(frozen=True)
class Start:
    """What the visitor told the pre-chat form (all optional) and where the widget runs."""

    origin: str
    name: str | None = None
    email: str | None = None
    language: str | None = None


def _visitor(row: Any) -> Visitor:
    return Visitor(row.id, row.contact_id, row.case_id, row.origin, row.language, row.last_seen_at)


def find_visitor(conn: Any, token: str, now: float) -> Visitor | None:
    """The live visitor of this token, else None (malformed, unknown or expired alike)."""
    if not TOKEN_SHAPE.match(token):
        return None
    row = conn.execute(_by_hash, {"h": token_hash(token)}).first()
    if row is None or row.expires_at <= now:
        return None
    return _visitor(row)


def start_visitor(tx: Tx, start: Start, *, days: float) -> tuple[str, Visitor]:
    """A new visitor (a contact with a webchat identity); (token, visitor)."""
    visitor_id = new_id("wv")
    contact_id = find_or_create_contact(tx, "webchat", visitor_id, start.name)
    if start.email:
        _remember_email(tx, contact_id, start.email)
    return _insert(tx, visitor_id, contact_id, None, start, days)


def start_pivot_visitor(tx: Tx, link_id: str, start: Start, *, channel: str, days: float,
                        policy: RoutingPolicy) -> tuple[str, Visitor]:
    """Redeem a ``to: "chat"`` link: a visitor on the link's contact and case, and a web chat
    interaction there for the link's agent (or the queue), so the agent sees it at once."""
    link = fetch_one(tx.conn, PIVOT_LINKS, link_id, what="pivot_link", for_update=True)
    status = link_status(Record(link), tx.now)
    if status != "active" or link["to"] != "chat":
        raise Gone("this link can no longer be used", code="pivot_link_gone", details={"status": status})
    update_row(tx.conn, PIVOT_LINKS, link, {"uses": link["uses"] + 1, "redeemed_at": tx.now})
    visitor_id = new_id("wv")
    link_identity(tx, link["contact_id"], "webchat", visitor_id)
    row = open_written_pivot(tx, link, channel=channel, direction="inbound", thread_key=visitor_id, policy=policy,
                             language=link["language"])
    tx.emit(link_event(EventType.PIVOT_REDEEMED, link, tx.now, interaction_id=row["id"]))
    return _insert(tx, visitor_id, link["contact_id"], link["case_id"], start, days)


def _insert(tx: Tx, visitor_id: str, contact_id: str, case_id: str | None, start: Start,
            days: float) -> tuple[str, Visitor]:
    token = new_token()
    row = Record(id=visitor_id, token_hash=token_hash(token), contact_id=contact_id, case_id=case_id,
                 origin=start.origin[:300], language=start.language, created_at=tx.now, last_seen_at=tx.now,
                 expires_at=tx.now + days * 86_400)
    tx.conn.execute(VISITORS.insert().values(**row))
    return token, _visitor(Record(row))


def _remember_email(tx: Tx, contact_id: str, typed: str) -> None:
    """An address the visitor typed is not proven theirs: it joins their contact only while nobody
    else has it (never merging into a stranger's history); otherwise the agent sees it as given."""
    _, address = normalize_identity("email", typed, field="email")
    owner = tx.conn.execute(sa.select(IDENTITIES.c.contact_id).where(
        IDENTITIES.c.kind == "email", IDENTITIES.c.value == address)).scalar()
    if owner is None:
        link_identity(tx, contact_id, "email", address)
        return
    if owner != contact_id:
        contact = tx.conn.execute(sa.select(CONTACTS.c.attributes).where(CONTACTS.c.id == contact_id)).first()
        attributes = dict((contact.attributes if contact else None) or {})
        attributes["email_given"] = address
        tx.conn.execute(CONTACTS.update().where(CONTACTS.c.id == contact_id).values(attributes=attributes))


def email_for(tx: Tx, visitor: Visitor, typed: str) -> str:
    """Validate and remember the address a visitor gives to continue by email; the address."""
    _, address = normalize_identity("email", typed, field="email")
    _remember_email(tx, visitor.contact_id, address)
    return address


_case_of = sa.select(VISITORS.c.case_id).where(VISITORS.c.id == sa.bindparam("id"))


def case_of(conn: Any, visitor_id: str) -> str | None:
    """The case the visitor's conversation is on now (a socket's visitor may be older)."""
    found = conn.execute(_case_of, {"id": visitor_id}).scalar()
    return str(found) if found else None


def moved_to_case(tx: Tx, visitor_id: str, case_id: str) -> None:
    """The visitor's conversation is on this case now (the old one had closed)."""
    tx.conn.execute(VISITORS.update().where(VISITORS.c.id == visitor_id).values(case_id=case_id))


def seen(tx: Tx, visitor_id: str, days: float) -> None:
    """The token was used: it lasts ``days`` from now."""
    tx.conn.execute(VISITORS.update().where(VISITORS.c.id == visitor_id)
                    .values(last_seen_at=tx.now, expires_at=tx.now + days * 86_400))
