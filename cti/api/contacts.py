"""Contacts, identities, cases and the case timeline."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti import models
from cti.api import schemas as s
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.queries import get_row, page, require_case_access, require_contact_access
from cti.bus import row_to_event
from cti.services import render
from cti.services.actors import Role
from cti.services.contacts import link_identity, update_case

api = Api()
TIMELINE_LIMIT = 5000


@api.route("GET", "/api/v1/contacts", summary="List contacts", tag="contacts", role=Role.SUPERVISOR,
           query=s.ContactsQuery, response=s.list_of(s.ContactOut))
async def list_contacts(call: Call) -> dict[str, Any]:
    q = call.query
    filters = []
    if q.identity:
        filters.append(models.contacts.c.id.in_(
            sa.select(models.identities.c.contact_id).where(models.identities.c.value == q.identity)))
    rows, nxt = await services(call.request).db.read(
        lambda c: page(c, models.contacts, filters, limit=q.limit, after=q.after))
    return {"items": [render.contact(r) for r in rows], "next": nxt}


@api.route("GET", "/api/v1/contacts/{id}", summary="Get a contact with its identities", tag="contacts",
           role=Role.AGENT, response=s.ContactOut, errors=(403, 404))
async def get_contact(call: Call) -> dict[str, Any]:
    contact_id = call.path("id")

    def read(conn: Any) -> dict[str, Any]:
        row = get_row(conn, models.contacts, contact_id, "contact")
        require_contact_access(conn, call.actor, contact_id)
        identities = conn.execute(sa.select(models.identities).where(models.identities.c.contact_id == contact_id)
                                  .order_by(models.identities.c.created_at)).all()
        return render.contact(row, identities)

    return await services(call.request).db.read(read)


@api.route("POST", "/api/v1/contacts/{id}/identities", summary="Link an identity to a contact", tag="contacts",
           role=Role.SUPERVISOR, body=s.IdentityBody, response=s.IdentityOut, status=201, errors=(400, 404, 409))
async def add_identity(call: Call) -> dict[str, Any]:
    contact_id, kind, value = call.path("id"), call.body.kind, call.body.value
    row = await services(call.request).db.write(lambda tx: link_identity(tx, contact_id, kind, value))
    return render.identity(row)


@api.route("GET", "/api/v1/cases", summary="List cases", tag="cases", role=Role.AGENT,
           query=s.CasesQuery, response=s.list_of(s.CaseOut))
async def list_cases(call: Call) -> dict[str, Any]:
    q = call.query
    filters = []
    if q.status:
        filters.append(models.cases.c.status == q.status)
    if q.contact_id:
        filters.append(models.cases.c.contact_id == q.contact_id)
    if call.actor.is_agent:
        filters.append(models.cases.c.id.in_(sa.select(models.interactions.c.case_id)
                                             .where(models.interactions.c.agent_id == call.actor.agent_id)))
    rows, nxt = await services(call.request).db.read(
        lambda c: page(c, models.cases, filters, limit=q.limit, after=q.after))
    return {"items": [render.case(r) for r in rows], "next": nxt}


@api.route("GET", "/api/v1/cases/{id}", summary="Get a case", tag="cases", role=Role.AGENT,
           response=s.CaseOut, errors=(403, 404))
async def get_case(call: Call) -> dict[str, Any]:
    case_id = call.path("id")

    def read(conn: Any) -> dict[str, Any]:
        row = get_row(conn, models.cases, case_id, "case")
        require_case_access(conn, call.actor, case_id)
        return render.case(row)

    return await services(call.request).db.read(read)


@api.route("PATCH", "/api/v1/cases/{id}", summary="Change a case's status, priority or subject", tag="cases",
           role=Role.AGENT, body=s.CasePatch, response=s.CaseOut, errors=(400, 403, 404))
async def patch_case(call: Call) -> dict[str, Any]:
    case_id, fields = call.path("id"), call.body.model_dump(exclude_none=True)
    db = services(call.request).db

    def check(c: Any) -> None:
        get_row(c, models.cases, case_id, "case")
        require_case_access(c, call.actor, case_id)

    await db.read(check)
    return render.case(await db.write(lambda tx: update_case(tx, case_id, fields)))


@api.route("GET", "/api/v1/cases/{id}/timeline", summary="Everything that happened on a case, in order",
           tag="cases", role=Role.AGENT, errors=(403, 404),
           response={"type": "object", "required": ["case", "interactions", "entries"], "properties": {
               "case": {"$ref": "#/components/schemas/CaseOut"},
               "interactions": {"type": "array", "items": {"$ref": "#/components/schemas/InteractionOut"}},
               "messages": {"type": "array", "description": "every message of the case in order, each outbound "
                            "one with its delivery state (queued, sent, failed with the reason) and attempts",
                            "items": {"$ref": "#/components/schemas/MessageOut"}},
               "entries": {"type": "array", "items": {"$ref": "#/components/schemas/EventOut"}}}})
async def timeline(call: Call) -> dict[str, Any]:
    case_id = call.path("id")

    def read(conn: Any) -> dict[str, Any]:
        case = get_row(conn, models.cases, case_id, "case")
        require_case_access(conn, call.actor, case_id)
        interactions = conn.execute(sa.select(models.interactions).where(models.interactions.c.case_id == case_id)
                                    .order_by(models.interactions.c.created_at)).all()
        events = conn.execute(sa.select(models.events).where(models.events.c.case_id == case_id)
                              .order_by(models.events.c.seq).limit(TIMELINE_LIMIT)).all()
        messages = conn.execute(
            sa.select(models.messages, models.outbox.c.attempts, models.outbox.c.next_attempt_at,
                      models.outbox.c.last_error)
            .select_from(models.messages.outerjoin(models.outbox, models.outbox.c.message_id == models.messages.c.id))
            .where(models.messages.c.case_id == case_id)
            .order_by(models.messages.c.created_at).limit(TIMELINE_LIMIT)).all()
        channels = {i.id: i.channel for i in interactions}
        entries = []
        for row in events:
            entry = row_to_event(row).to_json()
            if row.interaction_id in channels:
                entry["channel"] = channels[row.interaction_id]
            entries.append(entry)
        return {"case": render.case(case), "interactions": [render.interaction(i) for i in interactions],
                "messages": [render.message_with_delivery(m) for m in messages], "entries": entries}

    return await services(call.request).db.read(read)
