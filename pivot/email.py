"""A pivot to email: the customer gives (or confirms) an address on the link's page and the case
continues by email, threaded.

Redeeming the link (``pivot.redeemed``) links the address to the customer (when no one else has
it), opens an email interaction on the same case for the link's agent (initiation ``pivot``, the
link in its routing facts), and sends the first email from the support address: the case's
subject with its ``[#cas_...]`` tag, so the customer's answer threads back into this interaction
(by In-Reply-To) or at least this case (by the tag). ``pivot.connected`` is told once, when the
customer's first email arrives on it (``EmailPivots``, a message listener): the conversation has
moved, as a callback has when the customer answers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti import models
from cti.channels import ChannelInfo
from cti.errors import Gone, Unprocessable
from cti.events import EventType
from cti.routing.policy import RoutingPolicy
from cti.services.contacts import link_identity
from cti.services.outbound import notify_customer
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx
from pivot.i18n import MESSAGES
from pivot.links import link_event, link_status, open_written_pivot

PIVOT_LINKS, IDENTITIES, INTERACTIONS = models.pivot_links, models.identities, models.interactions


def continue_by_email(tx: Tx, link_id: str, *, address: str, channel: ChannelInfo, policy: RoutingPolicy,
                      language: str, company: str) -> Record:
    """Redeem the link for email at ``address`` (already validated); the new email interaction."""
    link = fetch_one(tx.conn, PIVOT_LINKS, link_id, what="pivot_link", for_update=True)
    status = link_status(Record(link), tx.now)
    if status != "active":
        raise Gone("this link can no longer be used", code="pivot_link_gone", details={"status": status})
    if not channel.sends:
        raise Unprocessable("email is not configured", code="channel_not_configured", details={"channel": "email"})
    update_row(tx.conn, PIVOT_LINKS, link, {"uses": link["uses"] + 1, "redeemed_at": tx.now})
    _link_address(tx, link["contact_id"], address)
    row = open_written_pivot(tx, link, channel=channel.name, direction="outbound",
                             thread_key=f"contact:{link['contact_id']}", policy=policy)
    notify_customer(tx, row["id"], channel=channel, mode=None, recipient={"kind": "email", "value": address},
                    text=MESSAGES[language]["email_first"].format(company=company))
    tx.emit(link_event(EventType.PIVOT_REDEEMED, link, tx.now, interaction_id=row["id"]))
    return row


def _link_address(tx: Tx, contact_id: str, address: str) -> None:
    owner = tx.conn.execute(sa.select(IDENTITIES.c.contact_id).where(
        IDENTITIES.c.kind == "email", IDENTITIES.c.value == address)).scalar()
    if owner is None:  # (someone else's address stays theirs: the email still goes to it, on this case)
        link_identity(tx, contact_id, "email", address)


class EmailPivots:
    """Tells ``pivot.connected`` when the customer's first message arrives on a pivoted written
    interaction: the first email after a pivot to email, the first chat message after one to chat."""

    identity_kinds = frozenset({"email", "webchat"})

    def message_received(self, tx: Tx, interaction: Any) -> None:
        routing = dict(interaction.routing or {})
        link_id = routing.get("pivot_link_id")
        if interaction.initiation != "pivot" or not link_id or routing.get("pivot_connected"):
            return
        link = tx.conn.execute(sa.select(PIVOT_LINKS).where(PIVOT_LINKS.c.id == link_id)).first()
        if link is None:
            return
        routing["pivot_connected"] = True  # (once: the interaction remembers it was told)
        tx.conn.execute(INTERACTIONS.update().where(INTERACTIONS.c.id == interaction.id).values(routing=routing))
        tx.emit(link_event(EventType.PIVOT_CONNECTED, link, tx.now, interaction_id=interaction.id,
                           since_link_sent=round(tx.now - link.created_at, 3)))
