"""The event stream in the OpenAPI document: one schema per event type, with its ``data`` payload.

Every event is ``{seq, type, ts, case_id?, interaction_id?, agent_id?, data}``. What ``data`` holds
is the event type's TypedDict in ``cti/event_payloads.py`` (the same classes mypy checks every
emitting call against); the schemas here are generated from them, with the resource snapshots
pointing at the API's own schemas (``InteractionOut``...). A test checks that every type in the
catalogue has one and that real events match it."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from cti.event_payloads import PAYLOADS
from cti.events import EventType

REF = "#/components/schemas/"
PART = "EventPart."  # components of payloads (Party, DeliveryFacts...)
_STR_OR_NULL = {"type": ["string", "null"]}
SNAPSHOTS = {  # payload keys that hold one of the API's resources
    "interaction": {"$ref": REF + "InteractionOut"}, "message": {"$ref": REF + "MessageOut"},
    "case": {"$ref": REF + "CaseOut"}, "agent": {"$ref": REF + "AgentOut"}, "contact": {"$ref": REF + "ContactOut"},
    "pivot_link": {"type": "object", "description": "a pivot link as GET /api/v1/pivot-links/{id} answers "
                                                    "(never its URL)"},
    "callback": {"type": "object", "description": "a callback as GET /api/v1/callbacks/{id} answers (number masked)"},
    "identity": {"type": "object", "description": "the identity: its kind and value (contact.linked: as "
                                                  "IdentityOut)"}, "policy": {"type": "object",
                                                          "description": "the routing policy now in force"},
}


def _payload(shape: type[Any], parts: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of one payload TypedDict; the TypedDicts it nests go to ``parts``."""
    schema = TypeAdapter(shape).json_schema(ref_template=REF + PART + "{model}")
    for name, part in schema.pop("$defs", {}).items():
        parts[PART + name] = part
    for key, snapshot in SNAPSHOTS.items():
        if key in schema.get("properties", {}):
            schema["properties"][key] = snapshot
    schema["description"] = (shape.__doc__ or "").strip()
    return schema


def payload_schema(event_type: EventType) -> dict[str, Any]:
    """The schema of ``data`` for one event type (its parts not included)."""
    return _payload(PAYLOADS[event_type], {})


def event_schemas() -> dict[str, Any]:
    """Components: ``Event`` (one of every type), ``Event.<type>`` for each, and the payloads' parts."""
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
                "queue": _STR_OR_NULL, "data": _payload(PAYLOADS[event_type], out)}}
    out["Event"] = {"oneOf": [{"$ref": REF + name} for name in names],
                    "discriminator": {"propertyName": "type",
                                      "mapping": {n.removeprefix("Event."): REF + n for n in names}}}
    return out
