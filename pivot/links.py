"""Pivot links in the database: mint, find by token, open, revoke, expire (write ops over Core).

A link is bound to the case, the contact, the source interaction and the agent. Its status is
derived: ``revoked`` (an agent withdrew it), ``used`` (uses reached max_uses), ``expired``
(past expires_at), else ``active``. Opening never changes the link; the first human open is
recorded (``opened_at`` and ``pivot.opened``, with no personal data) for the pivot funnel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.channels import ChannelInfo, VoiceReach
from cti.config import ApprovalConfig
from cti.errors import Forbidden, InvalidInput, Unprocessable
from cti.event_payloads import PivotExtras, PivotPayload
from cti.events import Event, EventType, iso
from cti.ids import new_id
from cti.routing.policy import RoutingPolicy
from cti.services import render
from cti.services.actors import SYSTEM, Actor
from cti.services.interactions import CommandParams, apply_command, new_interaction
from cti.services.outbound import recipient_of, reply
from cti.services.rows import Record, by_id, fetch_one, not_found, update_row
from cti.state import Command
from cti.storage.db import Tx
from cti.storage.prepared import Prepared
from pivot import i18n
from pivot.settings import PivotConfig
from pivot.tokens import new_token, same_hash, token_hash

PIVOT_LINKS, INTERACTIONS = models.pivot_links, models.interactions
TARGETS = ("callback", "voice", "email", "chat")


@dataclass
class MintRequest:
    """What the agent asked for (POST /interactions/{id}/pivot)."""

    to: str = "callback"
    send: bool = False
    mode: str = "private"
    expires_in: float | None = None
    max_uses: int | None = None


def link_status(row: Any, now: float) -> str:
    """active, used, expired or revoked."""
    if row.revoked_at is not None:
        return "revoked"
    if row.uses >= row.max_uses:
        return "used"
    if now >= row.expires_at:
        return "expired"
    return "active"


def render_link(row: Any, now: float, *, url: str | None = None) -> dict[str, Any]:
    """The API shape of a link (the URL exists only in the answer that minted it)."""
    body = {
        "id": row.id, "status": link_status(row, now), "to": row.to, "channel": row.channel,
        "case_id": row.case_id, "contact_id": row.contact_id, "source_interaction_id": row.source_interaction_id,
        "agent_id": row.agent_id, "language": row.language, "max_uses": row.max_uses, "uses": row.uses,
        "message_id": row.message_id, "created_at": iso(row.created_at), "expires_at": iso(row.expires_at),
        "opened_at": iso(row.opened_at), "redeemed_at": iso(row.redeemed_at), "revoked_at": iso(row.revoked_at),
    }
    if url is not None:
        body["url"] = url
    return body


def link_event(event_type: EventType, row: Any, now: float, **extra: Unpack[PivotExtras]) -> Event:
    """A pivot.* event: on the case and the source interaction, for the link's agent."""
    data: PivotPayload = {"pivot_link": render_link(row, now), "channel": row.channel, **extra}
    return Event.make(event_type, case_id=row.case_id, interaction_id=row.source_interaction_id,
                      agent_id=row.agent_id, data=data, ts=now)


NEEDS = {"callback": "a connector that places calls ([connectors.sip] or [connectors.twilio])",
         "voice": "the media bridge for browsers ([connectors.sip])"}


def mint_link(tx: Tx, interaction_id: str, request: MintRequest, *, actor: Actor, config: PivotConfig,
              public_url: str, channel: ChannelInfo | None, reach: VoiceReach | None = None,
              approval: ApprovalConfig | None = None) -> dict[str, Any]:
    """Mint a link on this interaction's case (pivot.created); with ``send``, queue it to the customer
    on the interaction's own channel. Returns {"pivot_link": ..., "message"?: ...}. A link promises
    only what can happen: to a callback or a browser call only where a voice connector can do it."""
    found = tx.sql.execute(by_id(INTERACTIONS), {"id": interaction_id}).first()  # (prepared: minting is a hot path)
    if found is None:
        raise not_found("interaction", interaction_id)
    source = found._asdict()
    if actor.is_agent and source["agent_id"] != actor.agent_id:
        raise Forbidden("this interaction is not assigned to you", code="not_your_interaction")
    if reach is not None and not reach.allows(request.to):
        raise Unprocessable(f"a pivot to {request.to} needs {NEEDS[request.to]}, and none is configured",
                            code="pivot_target_unavailable", details={"to": NEEDS[request.to]})
    ttl = config.link_ttl_seconds if request.expires_in is None else request.expires_in
    if not 60 <= ttl <= config.max_ttl_seconds:
        raise InvalidInput(f"expires_in must be 60 to {int(config.max_ttl_seconds)} seconds",
                           details={"expires_in": "out of range"})
    agent_id = source["agent_id"] or actor.agent_id
    agent_name = None
    if agent_id:
        agent_name = tx.sql.execute(_agent_name, {"id": agent_id}).scalar()
    token = new_token()
    row = Record(
        id=new_id("pvl"), token_hash=token_hash(token), case_id=source["case_id"], contact_id=source["contact_id"],
        source_interaction_id=interaction_id, agent_id=agent_id, agent_name=agent_name, to=request.to,
        channel=source["channel"], language=source["language"], max_uses=request.max_uses or config.default_max_uses,
        uses=0, message_id=None, created_at=tx.now, expires_at=tx.now + ttl, opened_at=None, redeemed_at=None,
        revoked_at=None, expired_event_at=None,
    )
    tx.sql.execute(_insert_link, row)
    url = f"{public_url}/p/{token}"
    result: dict[str, Any] = {}
    if request.send:
        language = i18n.negotiate(None, fallback=source["language"])
        words = {"agent": (agent_name or "").split(" ")[0], "company": config.company_name, "url": url}
        key = {"email": "link_text_email", "chat": "link_text_chat"}.get(request.to, "link_text") + (
            "" if words["agent"] else "_no_agent")
        shown = {**words, "url": f"{public_url}/p/{STORED_TOKEN}"}  # the token lives only in the outbox item
        message = reply(tx, interaction_id, actor=actor, text=i18n.text(language, key, **words), mode=request.mode,
                        channel=channel, stored_text=i18n.text(language, key, **shown),
                        recipient=recipient_of(tx, interaction_id, prefer=channel.identity_kind if channel else None),
                        approval=approval)
        update_row(tx.conn, PIVOT_LINKS, row, {"message_id": message["id"]})
        result["message"] = render.message(message)
    tx.emit(link_event(EventType.PIVOT_CREATED, row, tx.now, sent=request.send))
    result["pivot_link"] = render_link(row, tx.now, url=url)
    return result


def open_written_pivot(tx: Tx, link: Any, *, channel: str, direction: str, thread_key: str, policy: RoutingPolicy,
                       language: str | None = None) -> Record:
    """The interaction a link opens on its case for a written channel (email, the web chat): the
    link's agent keeps the conversation (assigned at once), else it waits in the queue."""
    row = new_interaction(tx, case_id=link["case_id"], contact_id=link["contact_id"], channel=channel,
                          direction=direction, initiation="pivot", thread_key=thread_key, language=language,
                          source_interaction_id=link["source_interaction_id"], routing={"pivot_link_id": link["id"]})
    if link["agent_id"]:
        return apply_command(tx, row["id"], Command.ASSIGN, actor=SYSTEM, policy=policy,
                             params=CommandParams(agent_id=link["agent_id"]))
    return apply_command(tx, row["id"], Command.ENQUEUE, actor=SYSTEM, policy=policy)


STORED_TOKEN = "…"  # what the stored message, events and timeline show in place of a sent link's token
_by_hash = sa.select(PIVOT_LINKS).where(PIVOT_LINKS.c.token_hash == sa.bindparam("h"))
_agent_name = sa.select(models.agents.c.name).where(models.agents.c.id == sa.bindparam("id"))
_insert_link = PIVOT_LINKS.insert()


def find_link(conn: Connection | Prepared, token: str) -> Any | None:
    """The link whose token this is, or None (the stored hash is compared in constant time).
    ``conn``: a connection, or the database's prepared point-read statements."""
    computed = token_hash(token)
    row = conn.execute(_by_hash, {"h": computed}).first()
    if row is None or not same_hash(row.token_hash, computed):
        return None
    return row


def record_open(tx: Tx, link_id: str) -> None:
    """The first human open of a link: opened_at and pivot.opened (later opens change nothing)."""
    done = tx.conn.execute(
        PIVOT_LINKS.update()
        .where(PIVOT_LINKS.c.id == link_id, PIVOT_LINKS.c.opened_at.is_(None))
        .values(opened_at=tx.now)
    )
    if done.rowcount:
        row = fetch_one(tx.conn, PIVOT_LINKS, link_id, what="pivot_link")
        tx.emit(link_event(EventType.PIVOT_OPENED, row, tx.now))


def revoke_link(tx: Tx, link_id: str, *, actor: Actor) -> dict[str, Any]:
    """Withdraw a link; an agent only their own. Revoking twice is harmless."""
    row = fetch_one(tx.conn, PIVOT_LINKS, link_id, what="pivot_link", for_update=True)
    if actor.is_agent and row["agent_id"] != actor.agent_id:
        raise Forbidden("this link is not yours", code="not_your_pivot_link")
    if row["revoked_at"] is None:
        update_row(tx.conn, PIVOT_LINKS, row, {"revoked_at": tx.now})
        tx.emit(link_event(EventType.PIVOT_EXPIRED, Record(row), tx.now, reason="revoked"))
    return render_link(Record(row), tx.now)


def expire_links(tx: Tx, *, limit: int = 200) -> int:
    """pivot.expired for links that ran out of time unused (once each). Returns how many."""
    rows = tx.conn.execute(
        sa.select(PIVOT_LINKS)
        .where(
            PIVOT_LINKS.c.expires_at <= tx.now,
            PIVOT_LINKS.c.expired_event_at.is_(None),
            PIVOT_LINKS.c.revoked_at.is_(None),
            PIVOT_LINKS.c.uses < PIVOT_LINKS.c.max_uses,
        )
        .limit(limit)
    ).all()
    for row in rows:
        done = tx.conn.execute(
            PIVOT_LINKS.update()
            .where(PIVOT_LINKS.c.id == row.id, PIVOT_LINKS.c.expired_event_at.is_(None))
            .values(expired_event_at=tx.now)
        )
        if done.rowcount:
            tx.emit(link_event(EventType.PIVOT_EXPIRED, row, tx.now, reason="expired"))
    return len(rows)
