"""Tables of the people who work in the product and what they use: users, their sessions and
failed sign-ins, internal notes on cases, canned replies, and the extra parties of calls (guests
and monitoring supervisors). Their Core tables are aliased in ``cti/models.py`` with the rest.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class User(SQLModel, table=True):
    """A person who signs in (login and password, or single sign-on). The password is stored as an
    argon2id hash only; a deleted user's login can be taken again."""

    __tablename__ = "users"
    __table_args__ = (sa.Index("uq_user_login_live", "login", unique=True, sqlite_where=sa.text("NOT deleted"),
                               postgresql_where=sa.text("NOT deleted")),)
    id: str = Field(primary_key=True, max_length=40)
    login: str = Field(max_length=100)
    name: str = Field(max_length=200)
    password_hash: str | None = Field(default=None, max_length=200)
    role: str = Field(max_length=16)
    agent_id: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=8)
    disabled: bool = False
    deleted: bool = False
    created_at: float
    updated_at: float


class UserSession(SQLModel, table=True):
    """A signed-in browser: the SHA-256 of its cookie's secret and the CSRF token its changes carry."""

    __tablename__ = "user_sessions"
    id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(max_length=40, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    csrf: str = Field(max_length=64)
    created_at: float
    expires_at: float
    revoked_at: float | None = None


class SignInFailure(SQLModel, table=True):
    """One failed sign-in, counted against a login and an address (hashed) for the limiter."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (sa.Index("ix_sign_in_failures_key_at", "key", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80)
    at: float = Field(index=True)


class CaseNote(SQLModel, table=True):
    """An internal note on a case: for the people working it, never sent to the customer."""

    __tablename__ = "case_notes"
    __table_args__ = (sa.Index("ix_case_notes_case", "case_id", "created_at"),)
    id: str = Field(primary_key=True, max_length=40)
    case_id: str = Field(max_length=40)
    author_id: str | None = Field(default=None, max_length=40)  # the agent who wrote it (None: a supervisor or admin)
    author_role: str = Field(max_length=16)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: float


class CannedReply(SQLModel, table=True):
    """A prepared answer in one language, with fields such as {{contact.name}} filled per conversation."""

    __tablename__ = "canned_replies"
    id: str = Field(primary_key=True, max_length=40)
    title: str = Field(max_length=100)
    shortcut: str | None = Field(default=None, max_length=40)
    language: str = Field(max_length=8, index=True)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    deleted: bool = False
    created_at: float
    updated_at: float


class Recording(SQLModel, table=True):
    """A call's recording on disk (stereo WAV: customer left, agent right), with its paused stretches."""

    __tablename__ = "recordings"
    __table_args__ = (sa.Index("ix_recordings_interaction", "interaction_id"),)
    id: str = Field(primary_key=True, max_length=40)
    interaction_id: str = Field(max_length=40)
    case_id: str | None = Field(default=None, max_length=40)
    agent_id: str | None = Field(default=None, max_length=40)  # whose call it was (agents see only their own)
    call_id: str = Field(max_length=200)
    path: str = Field(max_length=500, unique=True)
    state: str = Field(max_length=16)  # recording | paused | stopped | deleted
    seconds: float | None = None
    paused: list[Any] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    started_at: float
    ended_at: float | None = None
    deleted_at: float | None = None


class CallParty(SQLModel, table=True):
    """A party brought into a call beyond the customer and the agent: a guest (consulted or in
    conference) or a supervisor monitoring it. ``state``: ringing, connected, left."""

    __tablename__ = "call_parties"
    __table_args__ = (sa.Index("ix_call_parties_interaction", "interaction_id", "created_at"),)
    id: str = Field(primary_key=True, max_length=40)
    interaction_id: str = Field(max_length=40)
    role: str = Field(max_length=16)  # guest | supervisor
    kind: str = Field(max_length=16)  # agent | number | sip
    target: str = Field(max_length=200)  # the agent id, the number or the SIP URI dialled
    mode: str = Field(max_length=16)  # consult | conference (guest); listen | whisper | barge (supervisor)
    state: str = Field(max_length=16)
    requested_by: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=200)  # why it left or never joined
    created_at: float
    updated_at: float
    joined_at: float | None = None
    left_at: float | None = None
