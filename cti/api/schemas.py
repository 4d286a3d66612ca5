"""Request and response models of the public API (they also generate the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cti.events import EventType

NAME = r"^[A-Za-z0-9_.:-]+$"
Skills = dict[str, int]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


def _check_levels(value: dict[str, int] | None, lo: int, hi: int) -> dict[str, int] | None:
    if value is None:
        return None
    for key, level in value.items():
        if not key or len(key) > 64:
            raise ValueError("keys must be 1 to 64 characters")
        if not lo <= level <= hi:
            raise ValueError(f"{key}: must be between {lo} and {hi}")
    if len(value) > 100:
        raise ValueError("at most 100 entries")
    return value


VoiceEndpoint = str


class AgentFields(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    skills: Skills | None = None
    capacity: dict[str, int] | None = None
    voice_endpoint: VoiceEndpoint | None = Field(default=None, max_length=300)
    rating: float | None = Field(default=None, ge=0, le=5)
    needs_approval: bool | None = Field(default=None, description="her public replies wait for a supervisor")

    @field_validator("skills")
    @classmethod
    def _skills(cls, v: Skills | None) -> Skills | None:
        return _check_levels(v, 0, 10)

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        return _check_levels(v, 0, 100)

    @field_validator("voice_endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is not None and v != "browser" and not v.startswith(("sip:", "sips:", "tel:")):
            raise ValueError("must be a sip:, sips: or tel: URI, or 'browser'")
        return v


class AgentCreate(AgentFields):
    id: str | None = Field(default=None, min_length=1, max_length=40, pattern=NAME)
    name: str = Field(min_length=1, max_length=200)
    state: Literal["available", "away", "offline"] | None = None


class AgentPatch(AgentFields):
    """Only the fields given change; null resets skills, capacity, endpoint and rating to defaults."""

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, v: str | None) -> str:
        if v is None:
            raise ValueError("name cannot be null")
        return v


class AgentStateBody(Body):
    state: Literal["available", "away", "offline"]


class IdentityBody(Body):
    kind: str = Field(min_length=1, max_length=32)
    value: str = Field(min_length=1, max_length=320)


class CasePatch(Body):
    status: Literal["open", "pending", "resolved", "closed"] | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    subject: str | None = Field(default=None, max_length=500)


class InboundBody(Body):
    channel: str = Field(min_length=1, max_length=64)
    from_: IdentityBody = Field(alias="from")
    text: str = Field(min_length=1, max_length=100_000)
    external_id: str = Field(min_length=1, max_length=300)
    thread_id: str | None = Field(default=None, min_length=1, max_length=300)
    subject: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")
    priority: int = Field(default=0, ge=-1000, le=1000)
    queue: str | None = Field(default=None, max_length=64)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InteractionCreate(Body):
    channel: str = Field(min_length=1, max_length=64)
    to: str | IdentityBody
    subject: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    case_id: str | None = Field(default=None, max_length=40)
    agent_id: str | None = Field(default=None, max_length=40)

    @field_validator("to")
    @classmethod
    def _to(cls, v: str | IdentityBody) -> str | IdentityBody:
        if isinstance(v, str) and not 1 <= len(v.strip()) <= 320:
            raise ValueError("must be 1 to 320 characters")
        return v


class RejectBody(Body):
    reason: str | None = Field(default=None, max_length=200)


class TransferBody(Body):
    agent_id: str | None = Field(default=None, min_length=1, max_length=40)
    queue: str | None = Field(default=None, min_length=1, max_length=64)
    number: str | None = Field(default=None, min_length=1, max_length=40)
    participant_id: str | None = Field(default=None, min_length=1, max_length=40,
                                       description="attended transfer: the consulted party takes the call")

    @model_validator(mode="after")
    def _exactly_one(self) -> TransferBody:
        if sum(x is not None for x in (self.agent_id, self.queue, self.number, self.participant_id)) != 1:
            raise ValueError("give exactly one of agent_id, queue, number or participant_id")
        return self


class DtmfBody(Body):
    digits: str = Field(pattern=r"^[0-9*#A-Da-d]{1,32}$")


class WrapupBody(Body):
    disposition: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=10_000)


class AbandonBody(Body):
    reason: str | None = Field(default=None, max_length=200)


class WebhookCreate(Body):
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://")
    types: list[str] = Field(default_factory=list, max_length=50)
    secret: str | None = Field(default=None, min_length=16, max_length=200)

    @field_validator("types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        known = {e.value for e in EventType}
        families = {e.split(".")[0] for e in known}
        for pattern in v:
            if pattern == "*" or pattern in known:
                continue
            if pattern.endswith(".*") and pattern[:-2] in families:
                continue
            raise ValueError(f"unknown event type or family: {pattern!r}")
        return v


class TokenCreate(Body):
    role: Literal["admin", "supervisor", "agent"]
    agent_id: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    expires_in: float | None = Field(default=None, gt=0, le=10 * 365 * 86400,
                                     description="seconds until the token stops working (default: never)")


# ---- queries --------------------------------------------------------------------------------
class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(Query):
    limit: int = Field(default=50, ge=1, le=500)
    after: str | None = Field(default=None, max_length=40, description="the last id of the previous page")


class AgentsQuery(Page):
    state: Literal["available", "away", "offline"] | None = None


class ContactsQuery(Page):
    identity: str | None = Field(default=None, max_length=320, description="find by identity value")


class CasesQuery(Page):
    status: Literal["open", "pending", "resolved", "closed"] | None = None
    contact_id: str | None = Field(default=None, max_length=40)


class InteractionsQuery(Page):
    state: Literal["created", "queued", "offered", "active", "held", "wrapup", "ended", "abandoned"] | None = None
    channel: str | None = Field(default=None, max_length=64)
    agent_id: str | None = Field(default=None, max_length=40)
    case_id: str | None = Field(default=None, max_length=40)
    queue: str | None = Field(default=None, max_length=64)


class EventsQuery(Query):
    since: int | None = Field(default=None, ge=0, le=2**62)
    types: str | None = Field(default=None, max_length=2000, description="comma list, e.g. interaction.*,pivot.*")
    access_token: str | None = Field(default=None, max_length=200,
                                     description="token for clients that cannot set headers (browsers' WebSocket)")


# ---- responses --------------------------------------------------------------------------------
Ts = str | None


class ErrorDetail(Out):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(Out):
    error: ErrorDetail


class IdentityOut(Out):
    id: str
    contact_id: str
    kind: str
    value: str
    verified: bool
    created_at: Ts


class ContactOut(Out):
    id: str
    name: str | None
    attributes: dict[str, Any]
    language: str | None = None
    identities: list[IdentityOut] | None = None
    created_at: Ts
    updated_at: Ts


class CaseOut(Out):
    id: str
    contact_id: str
    subject: str | None
    status: str
    priority: int
    created_at: Ts
    updated_at: Ts


class InteractionOut(Out):
    id: str
    case_id: str
    contact_id: str
    channel: str
    direction: str
    initiation: str
    state: str
    queue: str | None
    priority: int
    agent_id: str | None
    source_interaction_id: str | None
    routing: dict[str, Any]
    scoring: dict[str, Any] = Field(default_factory=dict,
                                    description="social priority score: factors, reply-mode suggestion")
    created_at: Ts


class AttachmentOut(Out):
    filename: str
    content_type: str
    size: int
    sha256: str | None = None
    stored: str | None = Field(default=None, description="path of the content under the data folder")
    dropped: str | None = Field(default=None, description="why the content was not kept (e.g. over the size limit)")


class DeliveryOut(Out):
    attempts: int
    last_error: str | None = None
    next_attempt_at: Ts = None


class MessageOut(Out):
    id: str
    interaction_id: str
    case_id: str
    channel: str
    direction: str
    external_id: str | None = None
    mode: str | None = Field(default=None, description="public, private, or auto (an automatic acknowledgement)")
    subject: str | None = None
    text: str
    status: str = Field(description="received; queued, sent or failed for outbound")
    error: str | None = None
    attachments: list[AttachmentOut] = []
    metadata: dict[str, Any] = Field(default_factory=dict,
                                     description="channel facts, e.g. auto_submitted, message_id, html_reduced")
    created_at: Ts
    sent_at: Ts = None
    agent_id: str | None = None
    delivery: DeliveryOut | None = Field(default=None, description="outbound, on the case timeline: the outbox's "
                                         "attempts, the last error and when the next try is due")


class AgentOut(Out):
    id: str
    name: str
    skills: dict[str, int]
    capacity: dict[str, int]
    voice_endpoint: str | None
    rating: float
    needs_approval: bool = False
    state: str


class TokenOut(Out):
    id: str
    role: str
    agent_id: str | None
    created_at: Ts
    expires_at: Ts | None = None
    revoked_at: Ts | None = None
    token: str | None = None


class WebhookOut(Out):
    id: str
    url: str
    types: list[str]
    secret: str | None = None


class EventOut(Out):
    seq: int
    type: str
    ts: str
    data: dict[str, Any]


class InboundOut(Out):
    message: MessageOut
    interaction_id: str
    case_id: str
    contact_id: str
    duplicate: bool


def list_of(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI schema of a page: {items: [...], next}."""
    return {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{model.__name__}"}},
        "next": {"type": ["string", "null"]}}}
