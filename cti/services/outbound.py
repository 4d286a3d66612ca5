"""Outbound messages and the durable outbox.

A reply is stored as a message in state ``queued`` together with an outbox item in the same
transaction, so an accepted reply is never lost; the delivery worker (cti/delivery.py) sends
it, retrying with backoff, and marks it sent (message.sent) or failed (message.failed).
Outbound webhooks use the same outbox.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti import models
from cti.channels import ChannelInfo
from cti.config import ApprovalConfig
from cti.errors import Conflict, Forbidden, InvalidInput, Unprocessable
from cti.event_payloads import DeliveryFacts
from cti.events import Event, EventType
from cti.ids import new_id
from cti.services import render
from cti.services.actors import Actor
from cti.services.approval_policy import hold_reasons
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx

MESSAGES, INTERACTIONS, OUTBOX = models.messages, models.interactions, models.outbox
REPLYABLE_STATES = ("active", "held")


def enqueue_delivery(tx: Tx, *, kind: str, target: str, url: str, payload: dict[str, Any],
                     message_id: str | None = None) -> Record:
    """Add an outbox item, due now."""
    row = Record(id=new_id("out"), kind=kind, target=target, url=url, payload=payload, message_id=message_id,
                 state="pending", attempts=0, next_attempt_at=tx.now, last_error=None, created_at=tx.now,
                 done_at=None)
    tx.conn.execute(OUTBOX.insert(), row)
    return row


def reply(tx: Tx, interaction_id: str, *, actor: Actor, text: str, mode: str | None,
          channel: ChannelInfo | None, recipient: dict[str, str], stored_text: str | None = None,
          approval: ApprovalConfig | None = None, template: dict[str, Any] | None = None,
          media: dict[str, Any] | None = None) -> Record:
    """Store an agent's reply and queue it for delivery on the interaction's channel.

    ``stored_text`` is what the message row, events and timeline keep when the text sent holds a
    secret (a pivot link's token): the secret lives only in the outbox item until it is delivered.
    A public reply that ``approval`` holds is stored ``held`` and waits for a supervisor
    (cti/services/approvals.py); it is not a first response until it is approved."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    if actor.is_agent and row["agent_id"] != actor.agent_id:
        raise Forbidden("this interaction is not assigned to you", code="not_your_interaction")
    if row["state"] not in REPLYABLE_STATES:
        raise Conflict(f"cannot reply to an interaction that is {row['state']}", code="invalid_transition",
                       details={"state": row["state"], "command": "reply"})
    if row["channel"] == "voice":
        raise Unprocessable("voice interactions take no written replies", code="channel_not_written")
    if channel is None or not channel.sends:
        raise Unprocessable(f"channel {row['channel']!r} has no outbound delivery configured",
                            code="channel_not_configured", details={"channel": row["channel"]})
    if mode == "template" and not channel.templates:
        raise Unprocessable(f"channel {row['channel']!r} sends no templates", code="templates_not_supported",
                            details={"mode": "template"})
    if template is not None:
        _check_template(template, channel.templates)
    if media is not None and not channel.sends_media:
        raise Unprocessable(f"channel {row['channel']!r} sends no files", code="media_not_supported",
                            details={"media": "not on this channel"})
    if channel.reply_problem is not None:
        problem = channel.reply_problem(mode, last_inbound(tx.conn, interaction_id), tx.now)
        if problem is not None:
            raise Unprocessable(problem[1], code=problem[0], details={"mode": mode or "default",
                                                                      "suggestion": "send a pivot link"})
    agent_id = actor.agent_id or row["agent_id"]
    reasons = hold_reasons(tx.conn, approval, text=text, mode=mode, public_channel=channel.public_reply,
                           agent_id=agent_id) if approval is not None else []
    message = _queue_message(tx, row, text=text, mode=mode, agent_id=agent_id, channel=channel,
                             recipient=recipient, stored_text=stored_text, held_for=reasons, template=template,
                             media=media)
    if row["first_response_at"] is None and not reasons:
        update_row(tx.conn, INTERACTIONS, row, {"first_response_at": tx.now, "updated_at": tx.now})
    return message


def _check_template(template: dict[str, Any], known: dict[str, int]) -> None:
    wanted = known.get(template["name"])
    if wanted is None:
        raise Unprocessable(f"no template {template['name']!r} is configured for this channel", code="unknown_template",
                            details={"template.name": "not configured", "templates": ", ".join(sorted(known))})
    if len(template.get("parameters") or []) != wanted:
        raise InvalidInput(f"template {template['name']!r} takes {wanted} parameter(s)",
                           details={"template.parameters": f"{wanted} expected"})


def last_inbound(conn: Any, interaction_id: str) -> dict[str, Any] | None:
    """The interaction's newest inbound message as a channel's reply rules read it, or None."""
    row = conn.execute(
        sa.select(MESSAGES.c.external_id, MESSAGES.c.created_at, MESSAGES.c.meta)
        .where(MESSAGES.c.interaction_id == interaction_id, MESSAGES.c.direction == "inbound")
        .order_by(MESSAGES.c.created_at.desc())
        .limit(1)
    ).first()
    return {"external_id": row.external_id, "created_at": row.created_at, "meta": row.meta or {}} if row else None


def acknowledge(tx: Tx, interaction_id: str, *, channel: ChannelInfo, recipient: dict[str, str]) -> Record:
    """Queue the channel's automatic acknowledgement of a new case (mode ``auto``: the connector
    renders its own acknowledgement text and marks it automatic). Not a first response."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    return _queue_message(tx, row, text="Automatic acknowledgement of your message.", mode="auto", agent_id=None,
                          channel=channel, recipient=recipient)


def notify_customer(tx: Tx, interaction_id: str, *, text: str, channel: ChannelInfo,
                    mode: str | None = "private", stored_text: str | None = None,
                    recipient: dict[str, str] | None = None) -> Record:
    """Queue a message from the server itself (no agent) on an interaction in any state, e.g. to
    say a callback could not reach the customer. Not counted as an agent's first response.
    ``stored_text``: what is kept instead of a text that holds a secret (a survey's token)."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    return _queue_message(tx, row, text=text, mode=mode, agent_id=None, channel=channel, stored_text=stored_text,
                          recipient=recipient or recipient_of(tx, interaction_id, prefer=channel.identity_kind))


def _queue_message(tx: Tx, row: Record, *, text: str, mode: str | None, agent_id: str | None,
                   channel: ChannelInfo, recipient: dict[str, str], stored_text: str | None = None,
                   held_for: list[str] | None = None, template: dict[str, Any] | None = None,
                   media: dict[str, Any] | None = None) -> Record:
    message = Record(
        id=new_id("msg"), interaction_id=row["id"], case_id=row["case_id"], channel=row["channel"],
        direction="outbound", external_id=None, mode=mode, subject=None, text=stored_text or text,
        status="held" if held_for else "queued", error=None, agent_id=agent_id, created_at=tx.now, sent_at=None,
        attachments=[_sent_file(media)] if media else None,
        meta={"approval": {"reasons": held_for, "state": "waiting"}} if held_for else None,
    )
    tx.conn.execute(MESSAGES.insert(), message)
    payload = {
        "type": "message",
        "channel": row["channel"],
        "message": {**render.message(message), "text": text},
        "to": recipient,
        "thread_id": row["thread_key"] if not str(row["thread_key"] or "").startswith("contact:") else None,
        "interaction_id": row["id"],
        "case_id": row["case_id"],
        **_thread_facts(tx, row),
    }
    if template is not None:
        payload["template"] = template  # (the connector sends the template; the text is what people read)
    if media is not None:
        payload["media"] = media  # (the connector sends the file by its link, the text as its caption)
    if stored_text is not None and stored_text != text:
        payload["stored_text"] = stored_text  # what the finished item keeps instead of the secret (_scrubbed)
    item = enqueue_delivery(tx, kind="channel", target=row["channel"], url=channel.outbound_url or "",
                            payload=payload, message_id=message["id"])
    if held_for:  # the delivery worker takes only pending items
        update_row(tx.conn, OUTBOX, item, {"state": "held"})
        tx.emit(Event.make(EventType.MESSAGE_APPROVAL_REQUESTED, case_id=row["case_id"], interaction_id=row["id"],
                           agent_id=agent_id or row["agent_id"], queue=row["queue"],
                           data={"message": render.message(message), "approval": {"reasons": held_for}}))
        return message
    tx.emit(Event.make(EventType.MESSAGE_QUEUED, case_id=row["case_id"], interaction_id=row["id"],
                       agent_id=agent_id or row["agent_id"], queue=row["queue"],
                       data={"message": render.message(message)}))
    return message


def _sent_file(media: dict[str, Any]) -> dict[str, Any]:
    """A file sent by link, as the message's attachment (the network fetches it; nothing is kept here)."""
    name = media.get("filename") or media["url"].rsplit("/", 1)[-1].split("?")[0][:240] or media["type"]
    return {"filename": name, "content_type": media["type"], "size": 0, "url": media["url"]}


def _thread_facts(tx: Tx, interaction: Record) -> dict[str, Any]:
    """Subject and earlier external ids, for channels that thread replies (email, X)."""
    earlier = tx.conn.execute(
        sa.select(MESSAGES.c.external_id, MESSAGES.c.direction).where(MESSAGES.c.interaction_id == interaction["id"],
                                                        MESSAGES.c.external_id.is_not(None))
        .order_by(MESSAGES.c.created_at.desc()).limit(20)).all()[::-1]
    inbound = [m.external_id for m in earlier if m.direction == "inbound"]
    subject = tx.conn.execute(sa.select(models.cases.c.subject).where(models.cases.c.id == interaction["case_id"])
                              ).scalar()
    last = last_inbound(tx.conn, interaction["id"])
    return {"subject": subject, "in_reply_to": inbound[-1] if inbound else None,
            "references": [m.external_id for m in earlier],
            "last_inbound": last}


def recipient_of(tx: Tx, interaction_id: str, *, prefer: str | None = None) -> dict[str, str]:
    """The identity a reply on this interaction goes to: the contact's identity of the channel's
    kind (``prefer``: an X user id on X, a phone number on SMS), else their first identity."""
    contact_id = tx.conn.execute(
        sa.select(INTERACTIONS.c.contact_id).where(INTERACTIONS.c.id == interaction_id)
    ).scalar()
    if contact_id is None:
        fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    IDENTITIES = models.identities
    rows = tx.conn.execute(sa.select(IDENTITIES.c.kind, IDENTITIES.c.value).where(IDENTITIES.c.contact_id == contact_id)
                           .order_by(IDENTITIES.c.created_at)).all()
    row = next((r for r in rows if r.kind == prefer), rows[0] if rows else None)
    return {"kind": row.kind, "value": row.value} if row else {}


def mark_delivered(tx: Tx, item_id: str, *, external_id: str | None = None) -> None:
    """The far end took it: outbox item done, message sent (message.sent)."""
    item = fetch_one(tx.conn, OUTBOX, item_id, what="outbox_item")
    if item["state"] != "pending":
        return
    update_row(tx.conn, OUTBOX, item, {"state": "done", "done_at": tx.now, "attempts": item["attempts"] + 1,
                                  **_scrubbed(tx, item)})
    if item["message_id"]:
        _finish_message(tx, item["message_id"], status="sent", external_id=external_id, error=None)


PROGRESS = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}  # a status only moves forward
NETWORK_EVENTS = {"sent": EventType.MESSAGE_SENT, "delivered": EventType.MESSAGE_DELIVERED,
                  "read": EventType.MESSAGE_READ, "failed": EventType.MESSAGE_FAILED}


def record_delivery(tx: Tx, channel: str, external_id: str, status: str, error: str | None) -> bool:
    """A network's word on a message it was given (by the id it gave): sent, delivered, read, or
    failed with its reason. Statuses only move forward (a late "delivered" after "read" changes
    nothing; a message read is never failed afterwards); False when nothing changed."""
    row = tx.conn.execute(sa.select(MESSAGES.c.id).where(
        MESSAGES.c.channel == channel, MESSAGES.c.external_id == external_id,
        MESSAGES.c.direction == "outbound")).first()
    if row is None or status not in NETWORK_EVENTS:
        return False
    message = fetch_one(tx.conn, MESSAGES, row.id, what="message", for_update=True)
    current = message["status"]
    if status == "failed":
        if current in ("failed", "read", "rejected"):
            return False
        changes: dict[str, Any] = {"status": "failed", "error": (error or "failed")[:1000]}
    elif PROGRESS.get(current, 99) >= PROGRESS[status]:
        return False
    else:
        changes = {"status": status, **({"sent_at": tx.now} if message["sent_at"] is None else {})}
    update_row(tx.conn, MESSAGES, message, changes)
    emit_message(tx, NETWORK_EVENTS[status], message)
    return True


def mark_attempt_failed(tx: Tx, item_id: str, *, error: str, retry_at: float | None) -> None:
    """A failed attempt: try again at retry_at, or give up (message.failed) when it is None."""
    item = fetch_one(tx.conn, OUTBOX, item_id, what="outbox_item")
    if item["state"] != "pending":
        return
    attempts = item["attempts"] + 1
    if retry_at is not None:
        update_row(tx.conn, OUTBOX, item, {"attempts": attempts, "next_attempt_at": retry_at, "last_error": error})
        if item["message_id"]:
            message = fetch_one(tx.conn, MESSAGES, item["message_id"], what="message")
            emit_message(tx, EventType.MESSAGE_RETRYING, message, delivery={
                "attempts": attempts, "error": error, "retry_at": render.iso(retry_at)})
        return
    update_row(tx.conn, OUTBOX, item, {"attempts": attempts, "state": "failed", "done_at": tx.now, "last_error": error,
                                  **_scrubbed(tx, item)})
    if item["message_id"]:
        _finish_message(tx, item["message_id"], status="failed", external_id=None, error=error)


def _scrubbed(tx: Tx, item: Record) -> dict[str, Any]:
    """A finished item keeps the text as stored on its message (a sent link's token is not kept).
    Only items queued with a ``stored_text`` change: no read on the ordinary delivery path."""
    payload = item["payload"]
    if not isinstance(payload, dict) or "stored_text" not in payload:
        return {}
    stored = payload["stored_text"]
    kept = {k: v for k, v in payload.items() if k != "stored_text"}
    return {"payload": {**kept, "message": {**(payload.get("message") or {}), "text": stored}}}


def _finish_message(tx: Tx, message_id: str, *, status: str, external_id: str | None, error: str | None) -> None:
    message = fetch_one(tx.conn, MESSAGES, message_id, what="message")
    changes: dict[str, Any] = {"status": status, "error": error}
    if status == "sent":
        changes["sent_at"] = tx.now
        if external_id:
            changes["external_id"] = external_id
    update_row(tx.conn, MESSAGES, message, changes)
    emit_message(tx, EventType.MESSAGE_SENT if status == "sent" else EventType.MESSAGE_FAILED, message)


def emit_message(tx: Tx, event_type: EventType, message: Record, *, delivery: DeliveryFacts | None = None) -> None:
    """An event about an outbound message, to its agent (or the interaction's) and queue."""
    interaction = tx.conn.execute(
        sa.select(INTERACTIONS.c.agent_id, INTERACTIONS.c.queue).where(INTERACTIONS.c.id == message["interaction_id"])
    ).first()
    tx.emit(Event.make(
        event_type, case_id=message["case_id"], interaction_id=message["interaction_id"],
        agent_id=message["agent_id"] or (interaction.agent_id if interaction else None),
        queue=interaction.queue if interaction else None,
        data={"message": render.message(message), "delivery": delivery} if delivery else
             {"message": render.message(message)},
    ))


def validate_text(text: Any, *, field: str = "text", limit: int = 100_000) -> str:
    """A non-empty message text within the limit."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text must be a non-empty string", details={field: "required"})
    if len(text) > limit:
        raise InvalidInput(f"text is longer than {limit} characters", details={field: "too long"})
    return text
