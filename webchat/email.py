"""When nobody can chat: the conversation continues by email, on the same case (a write op).

The visitor gives an address (``webchat.visitors.email_for`` checks and remembers it). What is
waiting in the chat queue stops waiting (abandoned, reason ``moved_to_email``, so reports count it
as the customer's choice), an email interaction opens on the same case in the queue, and the first
email goes out with the case's tag, so the customer's answer threads back into it. An agent then
answers by email with the chat transcript in the case's timeline.
"""

from __future__ import annotations

import sqlalchemy as sa

from cti import models
from cti.channels import ChannelInfo
from cti.routing.policy import RoutingPolicy
from cti.services.actors import SYSTEM
from cti.services.interactions import CommandParams, apply_command, new_interaction
from cti.services.outbound import notify_customer
from cti.services.rows import Record
from cti.state import Command
from cti.storage.db import Tx
from webchat.visitors import Visitor

INTERACTIONS = models.interactions
WAITING = ("queued", "offered")


def continue_by_email(tx: Tx, visitor: Visitor, case_id: str, *, address: str, email: ChannelInfo,
                      chat_channel: str, policy: RoutingPolicy, text: str) -> Record:
    """Move the visitor's waiting chat to email on ``case_id``; the new email interaction."""
    waiting: list[str] = [*tx.conn.execute(sa.select(INTERACTIONS.c.id).where(
        INTERACTIONS.c.channel == chat_channel, INTERACTIONS.c.thread_key == visitor.id,
        INTERACTIONS.c.state.in_(WAITING)).order_by(INTERACTIONS.c.created_at)).scalars()]
    for interaction_id in waiting:
        apply_command(tx, interaction_id, Command.ABANDON, actor=SYSTEM, policy=policy,
                      params=CommandParams(reason="moved_to_email"))
    row = new_interaction(tx, case_id=case_id, contact_id=visitor.contact_id, channel=email.name,
                          direction="outbound", initiation="webchat", thread_key=f"contact:{visitor.contact_id}",
                          source_interaction_id=waiting[-1] if waiting else None, policy=policy)
    notify_customer(tx, row["id"], channel=email, mode=None, recipient={"kind": "email", "value": address}, text=text)
    return row
