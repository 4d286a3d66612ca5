"""A supervisor's decision on a held reply (cti/services/approval_policy.py says which are held).

A held reply is a message in status ``held`` with its outbox item in state ``held``: stored like
any accepted reply (so it survives a restart), never picked up by the delivery worker. Approving
(as written or edited) turns both into an ordinary queued reply, at that moment its first
response (the service-level clock ran while it waited); rejecting keeps the text, marks the
message ``rejected`` with the reason, and the item is never sent. Who decided, when, what was
changed and why are kept on the message (``metadata.approval``) and in the event log.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti import models
from cti.errors import Conflict, InvalidInput
from cti.event_payloads import ApprovalFacts
from cti.events import Event, EventType
from cti.services import render
from cti.services.actors import Actor
from cti.services.outbound import validate_text
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx

MESSAGES, OUTBOX, INTERACTIONS = models.messages, models.outbox, models.interactions


def held_replies(conn: Any, limit: int = 200) -> list[dict[str, Any]]:
    """Replies waiting for a decision, oldest first, each with its interaction's agent and queue."""
    AGENTS = models.agents
    rows = conn.execute(
        sa.select(MESSAGES, INTERACTIONS.c.queue, INTERACTIONS.c.state.label("interaction_state"),
                  AGENTS.c.name.label("agent_name"))
        .join(INTERACTIONS, INTERACTIONS.c.id == MESSAGES.c.interaction_id)
        .outerjoin(AGENTS, AGENTS.c.id == MESSAGES.c.agent_id)
        .where(MESSAGES.c.status == "held").order_by(MESSAGES.c.created_at).limit(limit)).all()
    return [{**render.message(r), "queue": r.queue, "interaction_state": r.interaction_state,
             "agent_name": r.agent_name} for r in rows]


def decide(tx: Tx, message_id: str, *, actor: Actor, decision: str, text: str | None,
           reason: str | None) -> Record:
    """Approve (``text``: the edited reply) or reject (``reason`` required) a held reply."""
    message = fetch_one(tx.conn, MESSAGES, message_id, what="message", for_update=True)
    if message["status"] != "held":
        raise Conflict(f"this reply is not waiting for approval (it is {message['status']})", code="not_held",
                       details={"status": message["status"]})
    item = tx.conn.execute(sa.select(OUTBOX).where(OUTBOX.c.message_id == message_id, OUTBOX.c.state == "held")
                           ).first()
    approval = dict((message["meta"] or {}).get("approval") or {})
    by = actor.label
    approval.update(by=by, decided_at=render.iso(tx.now))
    facts: ApprovalFacts = {"by": by}
    if decision == "reject":
        if not reason or not reason.strip():
            raise InvalidInput("a rejection needs a reason for the agent", details={"reason": "required"})
        approval.update(state="rejected", reason=reason.strip())
        facts["reason"] = reason.strip()
        update_row(tx.conn, MESSAGES, message, {"status": "rejected", "error": reason.strip(),
                                                "meta": {**(message["meta"] or {}), "approval": approval}})
        if item is not None:
            tx.conn.execute(sa.update(OUTBOX).where(OUTBOX.c.id == item.id)
                            .values(state="rejected", done_at=tx.now, last_error="rejected by a supervisor"))
        _emit(tx, EventType.MESSAGE_REJECTED, message, facts)
        return message
    changes: dict[str, Any] = {"status": "queued"}
    payload = dict(item.payload) if item is not None else {}
    if text is not None and text != message["text"]:
        if "stored_text" in payload:
            raise Conflict("this reply carries a pivot link: approve or reject it as it is", code="cannot_edit_link")
        text = validate_text(text)
        approval.update(edited=True, original_text=message["text"])
        facts["edited"], facts["original_text"] = True, message["text"]
        changes["text"] = text
        payload["message"] = {**(payload.get("message") or {}), "text": text}
    approval["state"] = "approved"
    changes["meta"] = {**(message["meta"] or {}), "approval": approval}
    update_row(tx.conn, MESSAGES, message, changes)
    if item is not None:
        tx.conn.execute(sa.update(OUTBOX).where(OUTBOX.c.id == item.id)
                        .values(state="pending", next_attempt_at=tx.now, payload=payload))
    tx.conn.execute(sa.update(INTERACTIONS).where(INTERACTIONS.c.id == message["interaction_id"],
                                                  INTERACTIONS.c.first_response_at.is_(None))
                    .values(first_response_at=tx.now, updated_at=tx.now))
    _emit(tx, EventType.MESSAGE_APPROVED, message, facts)
    return message


def _emit(tx: Tx, event_type: EventType, message: Record, facts: ApprovalFacts) -> None:
    interaction = tx.conn.execute(sa.select(INTERACTIONS.c.agent_id, INTERACTIONS.c.queue)
                                  .where(INTERACTIONS.c.id == message["interaction_id"])).first()
    tx.emit(Event.make(event_type, case_id=message["case_id"], interaction_id=message["interaction_id"],
                       agent_id=message["agent_id"] or (interaction.agent_id if interaction else None),
                       queue=interaction.queue if interaction else None,
                       data={"message": render.message(message), "approval": facts}))
