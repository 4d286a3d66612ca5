"""Inbound items from any channel: find or create contact, case and interaction; store the message.

Idempotent on (channel, external_id): a vendor that delivers the same item twice gets the
stored message back and nothing changes. Threading: a message joins the live interaction of
its thread: the thread of the newest earlier message it references (email In-Reply-To and
References), else the channel's thread id, else the contact's conversation on that channel.
A case the sender quotes (an email subject tag) is joined when no reference matched, the case
belongs to the sender and is still open. When the thread's interaction has ended, a new
interaction opens on the same case if the case is still open, else on a new case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.event_payloads import MessagePayload
from cti.events import Event, EventType
from cti.ids import new_id
from cti.routing.policy import RoutingPolicy
from cti.services import render
from cti.services.cases import open_case
from cti.services.contacts import find_or_create_contact
from cti.services.interactions import new_interaction
from cti.services.rows import Record
from cti.state import TERMINAL_STATES
from cti.storage.db import Tx

MESSAGES, INTERACTIONS, CASES = models.messages, models.interactions, models.cases

# The direction is a literal, not a parameter: only then can SQLite (and PostgreSQL's generic plans)
# use the partial unique index over inbound messages (migration 0007) instead of scanning the table.
_find_message = sa.select(MESSAGES).where(
    MESSAGES.c.channel == sa.bindparam("channel"),
    MESSAGES.c.external_id == sa.bindparam("xid"),
    sa.text("messages.direction = 'inbound'"),
)
_last_in_thread = (
    sa.select(
        INTERACTIONS.c.id, INTERACTIONS.c.state, INTERACTIONS.c.case_id, INTERACTIONS.c.queue, INTERACTIONS.c.agent_id
    )
    .where(INTERACTIONS.c.channel == sa.bindparam("channel"), INTERACTIONS.c.thread_key == sa.bindparam("thread"))
    .order_by(INTERACTIONS.c.created_at.desc())
    .limit(1)
)
_referenced = (
    sa.select(INTERACTIONS.c.thread_key)
    .select_from(MESSAGES.join(INTERACTIONS, MESSAGES.c.interaction_id == INTERACTIONS.c.id))
    .where(
        MESSAGES.c.channel == sa.bindparam("channel"),
        MESSAGES.c.external_id.in_(sa.bindparam("refs", expanding=True)),
        INTERACTIONS.c.contact_id == sa.bindparam("contact_id"),
    )
    .order_by(MESSAGES.c.created_at.desc())
    .limit(1)
)
_last_on_case = (
    sa.select(
        INTERACTIONS.c.id,
        INTERACTIONS.c.state,
        INTERACTIONS.c.case_id,
        INTERACTIONS.c.queue,
        INTERACTIONS.c.agent_id,
        INTERACTIONS.c.thread_key,
    )
    .where(INTERACTIONS.c.case_id == sa.bindparam("case_id"), INTERACTIONS.c.channel == sa.bindparam("channel"))
    .order_by(INTERACTIONS.c.created_at.desc())
    .limit(1)
)
_case_of_contact = sa.select(CASES.c.id).where(
    CASES.c.id == sa.bindparam("case_id"),
    CASES.c.contact_id == sa.bindparam("contact_id"),
    sa.or_(CASES.c.status == "open", CASES.c.status == "pending"),
)
_case_status = sa.select(CASES.c.status, CASES.c.priority).where(CASES.c.id == sa.bindparam("case_id"))
_contact_of_interaction = sa.select(INTERACTIONS.c.contact_id).where(INTERACTIONS.c.id == sa.bindparam("iid"))
_insert_message = MESSAGES.insert()
_touch_interaction = (
    INTERACTIONS.update().where(INTERACTIONS.c.id == sa.bindparam("iid")).values(updated_at=sa.bindparam("now"))
)


@dataclass(frozen=True)
class InboundItem:
    """A normalized inbound message from any channel."""

    channel: str
    from_kind: str
    from_value: str
    text: str
    external_id: str | None = None
    thread_id: str | None = None
    subject: str | None = None
    name: str | None = None
    language: str | None = None
    priority: int = 0
    queue: str | None = None
    metadata: dict[str, Any] | None = None
    references: tuple[str, ...] = ()
    case_hint: str | None = None
    attachments: list[dict[str, Any]] | None = None
    scoring: dict[str, Any] | None = None  # social listening's score and reply-mode suggestion


@dataclass(frozen=True)
class InboundResult:
    """What ingest did: the message and whether it was new."""

    message: dict[str, Any]
    interaction_id: str
    case_id: str
    contact_id: str
    created: bool
    case_created: bool = False


def ingest(tx: Tx, item: InboundItem, policy: RoutingPolicy) -> InboundResult:
    """Store one inbound message (the write op behind POST /api/v1/inbound and every connector)."""
    now = tx.now
    if item.external_id:
        existing = tx.sql.execute(_find_message, {"channel": item.channel, "xid": item.external_id}).first()
        if existing is not None:
            return InboundResult(render.message(existing), existing.interaction_id, existing.case_id,
                                 _contact_of(tx, existing.interaction_id), created=False)

    contact_id = find_or_create_contact(tx, item.from_kind, item.from_value, item.name)

    thread_key, last, hinted_case = _thread_of(tx, item, contact_id)
    case_created = False
    if last is not None and last.state not in TERMINAL_STATES:
        interaction_id, case_id, queue, agent_id = last.id, last.case_id, last.queue, last.agent_id
        tx.sql.execute(_touch_interaction, {"iid": interaction_id, "now": now})
    else:
        if hinted_case is not None and last is None:
            case_id, case_priority = hinted_case, _case_priority(tx, hinted_case)
        else:
            case_id, case_priority, case_created = _case_for(tx, item, contact_id, last)
        row = new_interaction(
            tx, case_id=case_id, contact_id=contact_id, channel=item.channel, direction="inbound",
            initiation="inbound", queue=item.queue, priority=item.priority + case_priority,
            language=item.language, external_id=item.thread_id or item.external_id, thread_key=thread_key,
            scoring=item.scoring, policy=policy,
        )
        interaction_id, queue, agent_id = row["id"], row["queue"], None

    message = Record(
        id=new_id("msg"), interaction_id=interaction_id, case_id=case_id, channel=item.channel,
        direction="inbound", external_id=item.external_id, mode=None, subject=item.subject, text=item.text,
        status="received", error=None, agent_id=None, created_at=now, sent_at=None,
        attachments=item.attachments or None, meta=item.metadata or None,
    )
    tx.sql.execute(_insert_message, message)
    body = render.message(message)
    data: MessagePayload = {"message": body, "from": {"kind": item.from_kind, "value": item.from_value}}
    if item.metadata:
        data["metadata"] = item.metadata
    tx.emit(Event.make(EventType.MESSAGE_RECEIVED, case_id=case_id, interaction_id=interaction_id,
                       agent_id=agent_id, queue=queue, data=data))
    return InboundResult(body, interaction_id, case_id, contact_id, created=True, case_created=case_created)


def _thread_of(tx: Tx, item: InboundItem, contact_id: str) -> tuple[str, Any, str | None]:
    """(thread key, the thread's last interaction or None, a case the sender quoted or None)."""
    if item.references:
        key = tx.conn.execute(_referenced, {"channel": item.channel, "refs": list(item.references[-50:]),
                                            "contact_id": contact_id}).scalar()
        if key is not None:
            return key, _last(tx, item.channel, key), None
    if item.case_hint:
        case_id = tx.sql.execute(_case_of_contact, {"case_id": item.case_hint, "contact_id": contact_id}).scalar()
        if case_id is not None:
            last = tx.sql.execute(_last_on_case, {"case_id": case_id, "channel": item.channel}).first()
            if last is not None:
                return last.thread_key, last, None
            return item.thread_id or f"contact:{contact_id}", None, case_id
    key = item.thread_id or f"contact:{contact_id}"
    return key, _last(tx, item.channel, key), None


def _last(tx: Tx, channel: str, thread_key: str) -> Any:
    return tx.sql.execute(_last_in_thread, {"channel": channel, "thread": thread_key}).first()


def _case_priority(tx: Tx, case_id: str) -> int:
    row = tx.sql.execute(_case_status, {"case_id": case_id}).first()
    return row.priority if row is not None else 0


def _contact_of(tx: Tx, interaction_id: str) -> str:
    return tx.sql.execute(_contact_of_interaction, {"iid": interaction_id}).scalar()


def _case_for(tx: Tx, item: InboundItem, contact_id: str, last: Any) -> tuple[str, int, bool]:
    """(case id, its priority, whether it is new): the open case of the thread's last interaction, or a new case."""
    if last is not None:
        status = tx.sql.execute(_case_status, {"case_id": last.case_id}).first()
        if status is not None and status.status in ("open", "pending"):
            return last.case_id, status.priority, False
    case = open_case(tx, contact_id, item.subject or _subject_from(item.text))
    return case["id"], 0, True


def _subject_from(text: str) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line[:120]
