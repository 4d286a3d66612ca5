"""Domain tables as SQLModel classes.

The tables of people and their tools (users, sessions, notes, canned replies, call parties) are
in ``cti/models_people.py``; every table's Core alias is here. Timestamps are stored as UTC epoch
seconds (float) so SQLite and PostgreSQL behave alike and comparisons are cheap; the API renders
them as ISO 8601. JSON columns hold small documents (skills, capacity, attributes, event data).
Hot paths use the tables' Core ``__table__``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cti.models_people import CallParty, CannedReply, CaseNote, Recording, SignInFailure, User, UserSession


def _json(**kwargs: Any) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON, **kwargs))


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    id: str = Field(primary_key=True, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] | None = _json()
    language: str | None = Field(default=None, max_length=8)  # what the customer writes in (set by people)
    created_at: float
    updated_at: float


class Identity(SQLModel, table=True):
    __tablename__ = "identities"
    __table_args__ = (sa.UniqueConstraint("kind", "value", name="uq_identity_kind_value"),)
    id: str = Field(primary_key=True, max_length=40)
    contact_id: str = Field(foreign_key="contacts.id", index=True, max_length=40)
    kind: str = Field(max_length=32)
    value: str = Field(max_length=320)
    verified: bool = False
    created_at: float


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    id: str = Field(primary_key=True, max_length=40)
    contact_id: str = Field(foreign_key="contacts.id", index=True, max_length=40)
    subject: str | None = Field(default=None, max_length=500)
    status: str = Field(default="open", max_length=16, index=True)
    priority: int = 0
    sla_due_at: float | None = None
    affinity_agent_id: str | None = Field(default=None, max_length=40)
    affinity_until: float | None = None
    created_at: float
    updated_at: float


class Interaction(SQLModel, table=True):
    __tablename__ = "interactions"
    __table_args__ = (
        sa.Index("ix_interactions_thread", "channel", "thread_key"),
        sa.Index("ix_interactions_state_queue", "state", "queue"),
        sa.Index("ix_interactions_contact", "contact_id", "created_at"),
        sa.Index("ix_interactions_created", "created_at"),
        sa.Index("ix_interactions_unrolled", "rolled_gen", "created_at"),
    )
    id: str = Field(primary_key=True, max_length=40)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=40)
    contact_id: str = Field(foreign_key="contacts.id", max_length=40)
    channel: str = Field(max_length=32)
    direction: str = Field(max_length=16)
    initiation: str = Field(max_length=16)
    state: str = Field(max_length=16)
    queue: str | None = Field(default=None, max_length=64)
    priority: int = 0
    language: str | None = Field(default=None, max_length=16)
    agent_id: str | None = Field(default=None, index=True, max_length=40)
    external_id: str | None = Field(default=None, max_length=300)
    thread_key: str | None = Field(default=None, max_length=300)
    source_interaction_id: str | None = Field(default=None, max_length=40)
    skills: dict[str, int] | None = _json()
    routing: dict[str, Any] | None = _json()
    scoring: dict[str, Any] | None = _json()  # social priority score with its factors, reply-mode suggestion
    disposition: str | None = Field(default=None, max_length=100)
    notes: str | None = None
    created_at: float
    updated_at: float
    queued_at: float | None = None
    offered_at: float | None = None
    offer_expires_at: float | None = None
    accepted_at: float | None = None
    first_response_at: float | None = None
    ended_at: float | None = None
    closed_at: float | None = None
    sla_breached_at: float | None = None  # when sla.breached was emitted (once per interaction)
    rolled_gen: int | None = None  # the report roll-up that took it (finished interactions only)
    # Raised by a database trigger on every UPDATE of the row (migration 0006), whoever writes it;
    # a read checks a cached rendering against it (cti/api/rendered.py).
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    # Inbound ids make a webhook delivered twice store one message; an outbound id is the far end's
    # and may repeat (migration 0007).
    __table_args__ = (sa.Index("uq_message_inbound_external", "channel", "external_id", unique=True,
                               sqlite_where=sa.text("direction = 'inbound'"),
                               postgresql_where=sa.text("direction = 'inbound'")),
                      sa.Index("ix_messages_external", "channel", "external_id"))
    id: str = Field(primary_key=True, max_length=40)
    interaction_id: str = Field(foreign_key="interactions.id", index=True, max_length=40)
    case_id: str = Field(max_length=40, index=True)
    channel: str = Field(max_length=32)
    direction: str = Field(max_length=16)
    external_id: str | None = Field(default=None, max_length=300)
    mode: str | None = Field(default=None, max_length=16)
    subject: str | None = Field(default=None, max_length=500)
    text: str = ""
    attachments: list[dict[str, Any]] | None = _json()
    meta: dict[str, Any] | None = _json()
    status: str = Field(max_length=16)
    error: str | None = None
    agent_id: str | None = Field(default=None, max_length=40)
    created_at: float
    sent_at: float | None = None


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    skills: dict[str, int] | None = _json()
    capacity: dict[str, int] | None = _json()
    voice_endpoint: str | None = Field(default=None, max_length=300)
    rating: float = 0.0
    needs_approval: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    state: str = Field(default="offline", max_length=16)
    state_changed_at: float
    idle_since: float
    deleted: bool = False
    created_at: float
    updated_at: float


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    id: str = Field(primary_key=True, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    role: str = Field(max_length=16)
    agent_id: str | None = Field(default=None, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: float
    revoked_at: float | None = None
    expires_at: float | None = None


class EventRecord(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_type_ts", "type", "ts"),)
    seq: int = Field(
        sa_column=sa.Column(
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False
        )
    )
    type: str = Field(max_length=48)
    ts: float
    case_id: str | None = Field(default=None, max_length=40, index=True)
    interaction_id: str | None = Field(default=None, max_length=40, index=True)
    agent_id: str | None = Field(default=None, max_length=40)
    queue: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] | None = _json()


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"
    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    types: list[str] | None = _json()
    created_at: float
    deleted: bool = False


class OutboxItem(SQLModel, table=True):
    """A durable outbound HTTP delivery (webhook or custom-channel reply), retried with backoff."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "state", "next_attempt_at"),)
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=24)
    target: str = Field(max_length=200)
    url: str = Field(max_length=2000)
    payload: dict[str, Any] | None = _json()
    message_id: str | None = Field(default=None, max_length=40)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: float
    last_error: str | None = None
    created_at: float
    done_at: float | None = None


class Setting(SQLModel, table=True):
    """Small shared documents (the live routing policy) seen by every node."""

    __tablename__ = "settings"
    key: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] | None = _json()
    updated_at: float


class Lease(SQLModel, table=True):
    """A time-limited claim that one node runs a singleton (router, a connector account)."""

    __tablename__ = "leases"
    name: str = Field(primary_key=True, max_length=120)
    holder: str = Field(max_length=120)
    expires_at: float
    holder_url: str | None = Field(default=None, max_length=300)  # where other nodes reach the holder


class PivotLink(SQLModel, table=True):
    """A link that moves a customer from a written channel to voice on the same case.

    Only the SHA-256 of the token is stored; the token itself exists in the URL sent to the
    customer and nowhere else. ``agent_name`` is copied at mint so the landing page needs one read."""

    __tablename__ = "pivot_links"
    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=40)
    contact_id: str = Field(foreign_key="contacts.id", max_length=40)
    source_interaction_id: str = Field(max_length=40, index=True)
    agent_id: str | None = Field(default=None, max_length=40)
    agent_name: str | None = Field(default=None, max_length=200)
    to: str = Field(max_length=16)
    channel: str = Field(max_length=32)
    language: str | None = Field(default=None, max_length=16)
    max_uses: int = 1
    uses: int = 0
    message_id: str | None = Field(default=None, max_length=40)
    created_at: float
    expires_at: float
    opened_at: float | None = None
    redeemed_at: float | None = None
    revoked_at: float | None = None
    expired_event_at: float | None = None


class Callback(SQLModel, table=True):
    """A call the customer asked for: when, to which number, and every attempt's outcome."""

    __tablename__ = "callbacks"
    __table_args__ = (
        sa.Index("ix_callbacks_due", "state", "due_at"),
        sa.Index("ix_callbacks_number", "number", "created_at"),
        sa.Index("ix_callbacks_client", "client_key", "created_at"),
    )
    id: str = Field(primary_key=True, max_length=40)
    pivot_link_id: str | None = Field(default=None, max_length=40, index=True)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=40)
    contact_id: str = Field(foreign_key="contacts.id", max_length=40)
    source_interaction_id: str | None = Field(default=None, max_length=40)
    agent_id: str | None = Field(default=None, max_length=40)
    number: str = Field(max_length=32)
    client_key: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=16)
    due_at: float
    attempts: int = 0
    max_attempts: int = 3
    interaction_id: str | None = Field(default=None, max_length=40, index=True)
    last_outcome: str | None = Field(default=None, max_length=32)
    history: list[dict[str, Any]] | None = _json()
    notify: str | None = Field(default=None, max_length=16)
    link_sent_at: float | None = None
    connected_at: float | None = None
    created_at: float
    updated_at: float


class SocialMention(SQLModel, table=True):
    """A public post that did not become an interaction: unrouted (no listening rule matched) or
    noise (spam, duplicate, link-only, blocked account). Kept for reporting."""

    __tablename__ = "social_mentions"
    __table_args__ = (sa.UniqueConstraint("channel", "external_id", name="uq_social_mention_channel_external"),)
    id: str = Field(primary_key=True, max_length=40)
    channel: str = Field(max_length=32)
    external_id: str | None = Field(default=None, max_length=300)
    author_kind: str = Field(max_length=32)
    author: str = Field(max_length=320)
    text: str = ""
    status: str = Field(max_length=16, index=True)
    reason: str = Field(max_length=200)
    meta: dict[str, Any] | None = _json()
    created_at: float = Field(index=True)



class Survey(SQLModel, table=True):
    """A satisfaction survey sent after wrap-up: one answer (1-5 and a comment) per survey.

    Only the SHA-256 of the token is stored, as for pivot links."""

    __tablename__ = "surveys"
    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    interaction_id: str = Field(max_length=40, unique=True)
    case_id: str = Field(max_length=40)
    agent_id: str | None = Field(default=None, max_length=40)
    channel: str = Field(max_length=32)
    queue: str | None = Field(default=None, max_length=64)
    interaction_created_at: float = Field(index=True)  # reports count a rating where its interaction began
    language: str | None = Field(default=None, max_length=16)
    created_at: float
    expires_at: float
    answered_at: float | None = Field(default=None, index=True)
    rating: int | None = None
    comment: str | None = None


class ChatVisitor(SQLModel, table=True):
    """A visitor of the web chat widget: the conversation a visitor token reaches (only its SHA-256
    is kept). The visitor is a contact with the identity ``webchat:<id>``; ``case_id`` is the case
    the conversation is on now (a new case when the old one closed)."""

    __tablename__ = "chat_visitors"
    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    contact_id: str = Field(max_length=40)
    case_id: str | None = Field(default=None, max_length=40)
    origin: str = Field(max_length=300)
    language: str | None = Field(default=None, max_length=16)
    created_at: float
    last_seen_at: float
    expires_at: float = Field(index=True)


class ReportBlock(SQLModel, table=True):
    """The finished interactions that began on one UTC day, as columns of numbers
    (cti/report_facts.py): what reports read instead of a million rows. ``keys`` is the codebook:
    each component's values (channel, queue, agent, direction) that the elements' codes point at."""

    __tablename__ = "report_blocks"
    day: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True, autoincrement=False))
    gen: int = Field(index=True)
    count: int
    keys: dict[str, list[str | None]] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))


def _table(model: type[SQLModel]) -> sa.Table:
    """The model's table (SQLModel sets ``__table__`` on table models; its stubs do not say so)."""
    return model.__table__  # type: ignore[attr-defined]


contacts = _table(Contact)
identities = _table(Identity)
cases = _table(Case)
interactions = _table(Interaction)
messages = _table(Message)
agents = _table(Agent)
api_tokens = _table(ApiToken)
events = _table(EventRecord)
webhooks = _table(Webhook)
outbox = _table(OutboxItem)
settings = _table(Setting)
leases = _table(Lease)
pivot_links = _table(PivotLink)
callbacks = _table(Callback)
social_mentions = _table(SocialMention)
users = _table(User)
user_sessions = _table(UserSession)
sign_in_failures = _table(SignInFailure)
case_notes = _table(CaseNote)
canned_replies = _table(CannedReply)
call_parties = _table(CallParty)
recordings = _table(Recording)
surveys = _table(Survey)
report_blocks = _table(ReportBlock)
chat_visitors = _table(ChatVisitor)
metadata = SQLModel.metadata
