"""Social listening as a step of ingest (inside the write op): noise and unrouted posts are kept
in ``social_mentions`` instead of becoming interactions; routed ones get their score and a
priority before the interaction is created (so routing sees it at once)."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.ids import new_id
from cti.services.inbound import InboundItem
from cti.social.rules import score, screen_post
from cti.social.settings import SocialConfig
from cti.storage.db import Tx

IDENTITIES, INTERACTIONS, CONTACTS, MESSAGES, SOCIAL_MENTIONS = (
    models.identities,
    models.interactions,
    models.contacts,
    models.messages,
    models.social_mentions,
)
DAY = 86_400.0


_contact = (
    sa.select(CONTACTS.c.id, CONTACTS.c.attributes)
    .join(IDENTITIES, IDENTITIES.c.contact_id == CONTACTS.c.id)
    .where(IDENTITIES.c.kind == sa.bindparam("kind"), IDENTITIES.c.value == sa.bindparam("value"))
)
_other_channels = sa.select(sa.func.count(sa.distinct(INTERACTIONS.c.channel))).where(
    INTERACTIONS.c.contact_id == sa.bindparam("contact"), INTERACTIONS.c.channel != sa.bindparam("channel"),
    INTERACTIONS.c.created_at > sa.bindparam("since"))


def screen(tx: Tx, item: InboundItem, config: SocialConfig) -> InboundItem | None:
    """The item to ingest (scored), or None when it was kept as an unrouted or noise mention."""
    meta = dict(item.metadata or {})
    decision = screen_post(item.text, meta, item.from_value, config)
    contact = tx.sql.execute(_contact, {"kind": item.from_kind, "value": item.from_value}).first()
    if decision.route and contact is not None and config.duplicate_window_seconds and meta.get("kind") in (
            "mention", "comment"):
        again = tx.conn.execute(
            sa.select(MESSAGES.c.id)
            .join(INTERACTIONS, INTERACTIONS.c.id == MESSAGES.c.interaction_id)
            .where(
                INTERACTIONS.c.contact_id == contact.id,
                MESSAGES.c.channel == item.channel,
                MESSAGES.c.text == item.text,
                MESSAGES.c.direction == "inbound",
                MESSAGES.c.created_at > tx.now - config.duplicate_window_seconds,
            )
            .limit(1)
        ).first()
        if again is not None:
            decision = dataclasses.replace(decision, route=False, status="noise", reason="duplicate post")
    if not decision.route:
        _keep_mention(tx, item, decision.status, decision.reason)
        return None
    others = 0
    if contact is not None:
        others = tx.sql.execute(_other_channels, {"contact": contact.id, "channel": item.channel,
                                                  "since": tx.now - DAY}).scalar() or 0
    scoring = score(item.text, meta, dict(contact.attributes or {}) if contact is not None else {}, others, config)
    scoring["listening"] = decision.reason or "private message"
    return dataclasses.replace(item, priority=item.priority + scoring["priority"], scoring=scoring)


def _keep_mention(tx: Tx, item: InboundItem, status: str, reason: str) -> None:
    if (
        item.external_id
        and tx.conn.execute(
            sa.select(SOCIAL_MENTIONS.c.id).where(
                SOCIAL_MENTIONS.c.channel == item.channel, SOCIAL_MENTIONS.c.external_id == item.external_id
            )
        ).first()
        is not None
    ):
        return  # the network delivered it again
    row: dict[str, Any] = {"id": new_id("smn"), "channel": item.channel, "external_id": item.external_id,
                           "author_kind": item.from_kind, "author": item.from_value, "text": item.text,
                           "status": status, "reason": reason, "meta": item.metadata, "created_at": tx.now}
    tx.conn.execute(SOCIAL_MENTIONS.insert(), row)
