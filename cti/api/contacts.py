"""Contacts, identities, cases and the case timeline."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from cti import models
from cti.api import schemas as s
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.queries import get_row, page, require_case_access, require_contact_access
from cti.bus import row_to_event
from cti.errors import InvalidInput
from cti.services import render
from cti.services.access import require_case_reading
from cti.services.actors import Role
from cti.services.contacts import link_identity, update_case
from cti.services.parties import MONITOR_EVENTS
from cti.services.profiles import contact_history, import_contacts, parse_contacts_csv, update_profile

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


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: str | None = Field(default=None, max_length=16, description="a language tag such as fi or zh-Hans")
    attributes: dict[str, Any] | None = Field(default=None, description="merged into the contact's attributes; a key "
                                              "set to null is removed (vip, lifetime_value, purchases feed priority)")


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    after: str | None = Field(default=None, max_length=100, description="the next page: the cursor `next` gave")


HISTORY_OUT = {"type": "object", "required": ["items", "next"], "properties": {
    "items": {"type": "array", "items": {"type": "object", "required": ["case", "interactions", "last_message"],
                                         "properties": {"case": {"$ref": "#/components/schemas/CaseOut"},
                                                        "channels": {"type": "array", "items": {"type": "string"}},
                                                        "interactions": {"type": "array", "items": {"type": "object"}},
                                                        "last_message": {"type": ["object", "null"]}}}},
    "next": {"type": ["string", "null"]}}}
IMPORT_OUT = {"type": "object", "required": ["created", "updated", "errors"], "properties": {
    "created": {"type": "integer"}, "updated": {"type": "integer"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "line": {"type": "integer"}, "message": {"type": "string"}, "details": {"type": "object"}}}}}}


@api.route("PATCH", "/api/v1/contacts/{id}", summary="Change a contact's name, language or attributes (attributes "
           "merge; null removes a key)", tag="contacts", role=Role.AGENT, body=ContactPatch, response=s.ContactOut,
           errors=(403, 404))
async def patch_contact(call: Call) -> dict[str, Any]:
    contact_id, actor = call.path("id"), call.actor
    changes = call.body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        del changes["name"]

    def op(tx: Any) -> Any:
        get_row(tx.conn, models.contacts, contact_id, "contact")
        require_contact_access(tx.conn, actor, contact_id)
        return update_profile(tx, contact_id, changes)

    return render.contact(await services(call.request).db.write(op))


@api.route("GET", "/api/v1/contacts/{id}/history", summary="Every case of a contact, newest first, with its "
           "interactions and last message", tag="contacts", role=Role.AGENT, query=HistoryQuery,
           response=HISTORY_OUT, errors=(403, 404))
async def contact_history_route(call: Call) -> dict[str, Any]:
    contact_id, q, actor = call.path("id"), call.query, call.actor

    def read(conn: Any) -> dict[str, Any]:
        get_row(conn, models.contacts, contact_id, "contact")
        require_contact_access(conn, actor, contact_id)
        items, nxt = contact_history(conn, contact_id, limit=q.limit, before=q.after)
        return {"items": items, "next": nxt}

    return await services(call.request).db.read(read)


@api.route("POST", "/api/v1/contacts/import", summary="Import contacts from CSV (text/csv): an identity column finds "
           "or creates each contact, other columns become attributes", tag="contacts", role=Role.SUPERVISOR,
           response=IMPORT_OUT, errors=(400, 413))
async def import_contacts_route(call: Call) -> dict[str, Any]:
    request = call.request
    if request.content_type not in ("text/csv", "text/plain"):
        raise InvalidInput("send the CSV as text/csv", code="invalid_csv", details={"content_type": "text/csv"})
    try:
        text = (await request.read()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the CSV must be UTF-8", code="invalid_csv", details={"csv": "not UTF-8"}) from exc
    kinds, rows = parse_contacts_csv(text)
    result = await services(request).db.write(lambda tx: import_contacts(tx, kinds, rows))
    return result.as_dict()


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


@api.route("GET", "/api/v1/cases/{id}/timeline", summary="Everything that happened on a case, in order (an agent "
           "reads every case of a customer it serves)",
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
        require_case_reading(conn, call.actor, case_id, case.contact_id)
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
            private = row.type in MONITOR_EVENTS or (row.type == "call.command" and not row.agent_id)
            if private and call.actor.is_agent:
                continue  # monitoring is for supervisors: the monitored agent never learns of it
            entry = row_to_event(row).to_json()
            if row.interaction_id in channels:
                entry["channel"] = channels[row.interaction_id]
            entries.append(entry)
        return {"case": render.case(case), "interactions": [render.interaction(i) for i in interactions],
                "messages": [render.message_with_delivery(m) for m in messages], "entries": entries}

    return await services(call.request).db.read(read)
