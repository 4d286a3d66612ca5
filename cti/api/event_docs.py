"""The event stream in the OpenAPI document: one schema per event type, with its ``data`` payload.

Every event is ``{seq, type, ts, case_id?, interaction_id?, agent_id?, data}``; what ``data`` holds
depends on the type's family (an interaction snapshot, a message, a call's facts...). The schemas
here are what clients code against; a test checks that every type in the catalogue has one and
that real events of each family match it."""

from __future__ import annotations

from typing import Any

from cti.events import EventType

REF = "#/components/schemas/"


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": True}


_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_NUM = {"type": "number"}
_PARTY = _obj(["kind", "value"], kind=_STR, value=_STR)
_LINK = {"type": "object", "description": "a pivot link as GET /api/v1/pivot-links/{id} answers (never its URL)"}
_CALLBACK = {"type": "object", "description": "a callback as GET /api/v1/callbacks/{id} answers (number masked)"}

FAMILIES: dict[str, dict[str, Any]] = {
    "interaction": _obj(["interaction"], interaction={"$ref": REF + "InteractionOut"},
                        reason=_STR, from_agent=_STR_OR_NULL, queue=_STR_OR_NULL),
    "message": _obj(["message"], message={"$ref": REF + "MessageOut"},
                    delivery=_obj(["attempts"], attempts={"type": "integer"}, error=_STR, retry_at=_STR)),
    "message.chat_state": _obj(["state", "from", "channel"], state={"enum": ["composing", "paused", "active",
                                                                           "inactive", "gone"]},
                               channel=_STR, **{"from": _PARTY}),
    "call": _obj(["call_id"], call_id=_STR, leg=_STR, by=_STR, duration=_NUM, outcome=_STR, digits=_STR,
                 to=_STR, reason=_STR, path=_STR, seconds=_NUM, **{"from": _PARTY}),
    "case": _obj(["case"], case={"$ref": REF + "CaseOut"}),
    "contact": _obj(["contact_id"], contact_id=_STR, identity={"$ref": REF + "IdentityOut"}),
    "pivot": _obj(["pivot_link", "channel"], pivot_link=_LINK, channel=_STR, sent={"type": "boolean"}),
    "callback": _obj(["callback"], callback=_CALLBACK, reason=_STR, attempt={"type": "integer"},
                     when={"enum": ["now", "later", "retry"]}, since_link_sent={"type": ["number", "null"]}),
    "agent": _obj(["agent"], agent={"$ref": REF + "AgentOut"}, deleted={"type": "boolean"}),
    "connector": _obj(["connector", "health"], connector=_STR, health={"enum": [
        "starting", "connected", "transient_disconnect", "bad_credentials", "error"]}, detail=_STR),
    "routing": _obj(["policy"], policy={"type": "object", "description": "the routing policy now in force"}),
}


def payload_schema(event_type: EventType) -> dict[str, Any]:
    """The schema of ``data`` for one event type."""
    return FAMILIES.get(event_type.value) or FAMILIES[event_type.value.split(".", 1)[0]]


def event_schemas() -> dict[str, Any]:
    """Components: ``Event`` (one of every type) and ``Event.<type>`` for each."""
    out: dict[str, Any] = {}
    names = []
    for event_type in EventType:
        name = "Event." + event_type.value
        names.append(name)
        out[name] = {
            "type": "object", "required": ["seq", "type", "ts", "data"],
            "properties": {
                "seq": {"type": "integer", "description": "the log position; resume with since=<seq>"},
                "type": {"const": event_type.value}, "ts": {"type": "string", "format": "date-time"},
                "case_id": _STR_OR_NULL, "interaction_id": _STR_OR_NULL, "agent_id": _STR_OR_NULL,
                "queue": _STR_OR_NULL, "data": payload_schema(event_type)}}
    out["Event"] = {"oneOf": [{"$ref": REF + name} for name in names],
                    "discriminator": {"propertyName": "type",
                                      "mapping": {n.removeprefix("Event."): REF + n for n in names}}}
    return out
