"""The agent's tools on a conversation: internal notes on a case, and canned replies.

- ``POST /api/v1/cases/{id}/notes`` adds an internal note (anyone who may work the case);
  ``GET`` lists them. Notes show on the case timeline as ``case.note_added``, marked internal,
  and are never sent to the customer (``cti/services/notes.py``).
- ``/api/v1/canned-replies``: supervisors and admins manage them; agents list them (by
  language) and get one filled for their conversation with
  ``GET /api/v1/interactions/{id}/canned-reply?reply_id=`` (``cti/services/canned.py``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cti import models
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.queries import get_row
from cti.errors import Forbidden, InvalidInput
from cti.services.access import require_case_access
from cti.services.actors import Role
from cti.services.canned import create_reply, delete_reply, list_replies, render_reply, reply_for, update_reply
from cti.services.notes import add_note, notes_of, render_note

api = Api()
NOTE_OUT = {"type": "object", "required": ["id", "case_id", "text", "internal"], "properties": {
    "id": {"type": "string"}, "case_id": {"type": "string"}, "author_id": {"type": ["string", "null"]},
    "author_role": {"type": "string"}, "text": {"type": "string"}, "internal": {"const": True},
    "created_at": {"type": "string"}}}
REPLY_OUT = {"type": "object", "required": ["id", "title", "language", "text"], "properties": {
    "id": {"type": "string"}, "title": {"type": "string"}, "shortcut": {"type": ["string", "null"]},
    "language": {"type": "string"}, "text": {"type": "string"},
    "fields": {"type": "array", "items": {"type": "string"}}, "created_at": {"type": "string"},
    "updated_at": {"type": "string"}}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteBody(_Body):
    text: str = Field(min_length=1, max_length=4000)


class CannedReplyBody(_Body):
    title: str = Field(min_length=1, max_length=100)
    language: str = Field(min_length=2, max_length=8)
    text: str = Field(min_length=1, max_length=4000,
                      description="may use {{contact.name}}, {{agent.name}}, {{case.id}}, {{case.subject}}")
    shortcut: str | None = Field(default=None, max_length=40, description="what an agent types to pick it")


class CannedReplyPatch(_Body):
    title: str | None = Field(default=None, min_length=1, max_length=100)
    language: str | None = Field(default=None, min_length=2, max_length=8)
    text: str | None = Field(default=None, min_length=1, max_length=4000)
    shortcut: str | None = Field(default=None, max_length=40)


class RepliesQuery(_Body):
    language: str | None = Field(default=None, max_length=8)


@api.route("POST", "/api/v1/cases/{id}/notes", summary="Add an internal note to a case (never sent to the "
           "customer)", tag="cases", role=Role.AGENT, body=NoteBody, response=NOTE_OUT, status=201,
           errors=(403, 404))
async def post_note(call: Call) -> dict[str, Any]:
    case_id, actor, text = call.path("id"), call.actor, call.body.text

    def op(tx: Any) -> Any:
        get_row(tx.conn, models.cases, case_id, "case")
        require_case_access(tx.conn, actor, case_id)
        return add_note(tx, case_id, text, actor=actor)

    return render_note(await services(call.request).db.write(op))


@api.route("GET", "/api/v1/cases/{id}/notes", summary="The internal notes of a case, oldest first", tag="cases",
           role=Role.AGENT, errors=(403, 404),
           response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array",
                                                                                       "items": NOTE_OUT}}})
async def get_notes(call: Call) -> dict[str, Any]:
    case_id, actor = call.path("id"), call.actor

    def read(conn: Any) -> dict[str, Any]:
        get_row(conn, models.cases, case_id, "case")
        require_case_access(conn, actor, case_id)
        return {"items": notes_of(conn, case_id)}

    return await services(call.request).db.read(read)


@api.route("GET", "/api/v1/canned-replies", summary="Canned replies (of one language, when asked)",
           tag="canned replies", role=Role.AGENT, query=RepliesQuery,
           response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array",
                                                                                       "items": REPLY_OUT}}})
async def get_replies(call: Call) -> dict[str, Any]:
    language = call.query.language
    return {"items": await services(call.request).db.read(lambda c: list_replies(c, language))}


@api.route("POST", "/api/v1/canned-replies", summary="Add a canned reply", tag="canned replies",
           role=Role.SUPERVISOR, body=CannedReplyBody, response=REPLY_OUT, status=201)
async def post_reply(call: Call) -> dict[str, Any]:
    fields = call.body.model_dump()
    return render_reply(await services(call.request).db.write(lambda tx: create_reply(tx, fields)))


@api.route("PATCH", "/api/v1/canned-replies/{id}", summary="Change a canned reply", tag="canned replies",
           role=Role.SUPERVISOR, body=CannedReplyPatch, response=REPLY_OUT, errors=(404,))
async def patch_reply(call: Call) -> dict[str, Any]:
    reply_id = call.path("id")
    fields = {k: v for k, v in call.body.model_dump(exclude_unset=True).items() if v is not None or k == "shortcut"}
    return render_reply(await services(call.request).db.write(lambda tx: update_reply(tx, reply_id, fields)))


@api.route("DELETE", "/api/v1/canned-replies/{id}", summary="Remove a canned reply", tag="canned replies",
           role=Role.SUPERVISOR, status=204, errors=(404,))
async def remove_reply(call: Call) -> None:
    reply_id = call.path("id")
    await services(call.request).db.write(lambda tx: delete_reply(tx, reply_id))


class FillQuery(_Body):
    reply_id: str | None = Field(default=None, max_length=100, description="the canned reply (required)")


@api.route("GET", "/api/v1/interactions/{id}/canned-reply", summary="A canned reply (?reply_id=) filled for one of "
           "your conversations ({{contact.name}} and the other fields)", tag="canned replies", role=Role.AGENT,
           query=FillQuery, errors=(403, 404), response={"type": "object", "required": ["id", "language", "text"],
                                                         "properties": {"id": {"type": "string"},
                                                                        "language": {"type": "string"},
                                                                        "text": {"type": "string"}}})
async def get_filled_reply(call: Call) -> dict[str, Any]:
    reply_id, interaction_id, actor = call.query.reply_id, call.path("id"), call.actor

    def read(conn: Any) -> dict[str, Any]:
        row = get_row(conn, models.interactions, interaction_id, "interaction")
        if actor.is_agent and row.agent_id != actor.agent_id:  # first: nothing about others' work is told
            raise Forbidden("this conversation is not yours", code="not_your_interaction")
        if not reply_id:
            raise InvalidInput("name the canned reply: ?reply_id=", details={"reply_id": "required"})
        return reply_for(conn, reply_id, interaction_id)

    return await services(call.request).db.read(read)
