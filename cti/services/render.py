"""Rows to API shapes (dicts that the REST API returns and events carry)."""

from __future__ import annotations

from typing import Any

from cti.events import iso


def contact(row: Any, identities: list[Any] | None = None) -> dict[str, Any]:
    """A contact with its identities."""
    body = {
        "id": row.id,
        "name": row.name,
        "attributes": row.attributes or {},
        "language": row.language,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
    if identities is not None:
        body["identities"] = [identity(i) for i in identities]
    return body


def identity(row: Any) -> dict[str, Any]:
    """A contact identity."""
    return {
        "id": row.id,
        "contact_id": row.contact_id,
        "kind": row.kind,
        "value": row.value,
        "verified": bool(row.verified),
        "created_at": iso(row.created_at),
    }


def case(row: Any) -> dict[str, Any]:
    """A case."""
    return {
        "id": row.id,
        "contact_id": row.contact_id,
        "subject": row.subject,
        "status": row.status,
        "priority": row.priority,
        "sla_due_at": iso(row.sla_due_at),
        "affinity_agent_id": row.affinity_agent_id,
        "affinity_until": iso(row.affinity_until),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def interaction(row: Any) -> dict[str, Any]:
    """An interaction."""
    return {
        "id": row.id,
        "case_id": row.case_id,
        "contact_id": row.contact_id,
        "channel": row.channel,
        "direction": row.direction,
        "initiation": row.initiation,
        "state": row.state,
        "queue": row.queue,
        "priority": row.priority,
        "language": row.language,
        "agent_id": row.agent_id,
        "external_id": row.external_id,
        "thread_id": row.thread_key,
        "source_interaction_id": row.source_interaction_id,
        "skills": row.skills or {},
        "routing": row.routing or {},
        "scoring": row.scoring or {},
        "disposition": row.disposition,
        "notes": row.notes,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "queued_at": iso(row.queued_at),
        "offered_at": iso(row.offered_at),
        "offer_expires_at": iso(row.offer_expires_at),
        "accepted_at": iso(row.accepted_at),
        "first_response_at": iso(row.first_response_at),
        "ended_at": iso(row.ended_at),
        "closed_at": iso(row.closed_at),
    }


def message(row: Any) -> dict[str, Any]:
    """A message."""
    return {
        "id": row.id,
        "interaction_id": row.interaction_id,
        "case_id": row.case_id,
        "channel": row.channel,
        "direction": row.direction,
        "external_id": row.external_id,
        "mode": row.mode,
        "subject": row.subject,
        "text": row.text,
        "status": row.status,
        "error": row.error,
        "agent_id": row.agent_id,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
        "attachments": row.attachments or [],
        "metadata": row.meta or {},
    }


def message_with_delivery(row: Any) -> dict[str, Any]:
    """A message with its outbox state (outbound): attempts, the last error, when the next try is due."""
    out = message(row)
    if row.direction == "outbound" and row.attempts is not None:
        out["delivery"] = {"attempts": row.attempts, "last_error": row.last_error,
                           "next_attempt_at": iso(row.next_attempt_at) if row.status == "queued" else None}
    return out


def agent(row: Any) -> dict[str, Any]:
    """An agent."""
    return {
        "id": row.id,
        "name": row.name,
        "skills": row.skills or {},
        "capacity": row.capacity or {},
        "voice_endpoint": row.voice_endpoint,
        "rating": row.rating,
        "needs_approval": bool(row.needs_approval),
        "state": row.state,
        "state_changed_at": iso(row.state_changed_at),
        "idle_since": iso(row.idle_since),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def token(row: Any) -> dict[str, Any]:
    """An API token (never its secret)."""
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "agent_id": row.agent_id,
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
        "expires_at": iso(row.expires_at) if getattr(row, "expires_at", None) is not None else None,
    }


def webhook(row: Any) -> dict[str, Any]:
    """A webhook subscription (never its secret)."""
    return {"id": row.id, "url": row.url, "types": row.types or [], "created_at": iso(row.created_at)}
