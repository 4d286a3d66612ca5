"""Canned replies: prepared answers per language, with a few fields filled per conversation.

A reply's text may use ``{{contact.name}}``, ``{{agent.name}}``, ``{{case.id}}`` and
``{{case.subject}}``. Filling is plain substitution of those names only (no template language
runs on text a supervisor typed, so nothing in a reply can reach beyond its fields); a field that
is unknown is refused when the reply is saved, and a field with no value (a contact without a
name) becomes empty, with the spaces around it tidied.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.errors import InvalidInput
from cti.events import iso
from cti.ids import new_id
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx

REPLIES = models.canned_replies
INTERACTIONS, CASES, CONTACTS, AGENTS = models.interactions, models.cases, models.contacts, models.agents
FIELD = re.compile(r"\{\{\s*([a-z_.]+)\s*\}\}")
FIELDS = ("contact.name", "agent.name", "case.id", "case.subject")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TEXT = 4000


def render_reply(row: Any) -> dict[str, Any]:
    """The API shape of a canned reply."""
    return {"id": row["id"], "title": row["title"], "shortcut": row["shortcut"], "language": row["language"],
            "text": row["text"], "fields": sorted(set(FIELD.findall(row["text"]))),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "title" in out and not 1 <= len(str(out["title"]).strip()) <= 100:
        raise InvalidInput("a title is 1 to 100 characters", details={"title": "1 to 100 characters"})
    if "language" in out and not LANGUAGE.match(str(out["language"])):
        raise InvalidInput("language is a language tag such as fi", details={"language": "a language tag"})
    if out.get("shortcut") is not None and not SHORTCUT.match(str(out["shortcut"])):
        raise InvalidInput("a shortcut is a short lower-case word", details={"shortcut": "a-z, 0-9, - and _"})
    if "text" in out:
        text = str(out["text"])
        if not 1 <= len(text.strip()) <= MAX_TEXT:
            raise InvalidInput(f"the text is 1 to {MAX_TEXT} characters", details={"text": "length"})
        unknown = sorted(set(FIELD.findall(text)) - set(FIELDS))
        if unknown:
            raise InvalidInput(f"unknown fields: {', '.join(unknown)} (known: {', '.join(FIELDS)})",
                               details={"text": f"unknown fields {', '.join(unknown)}"})
    return out


def create_reply(tx: Tx, fields: dict[str, Any]) -> Record:
    """A new canned reply."""
    checked = _checked(fields)
    row = Record(id=new_id("rep"), title=str(checked["title"]).strip(), shortcut=checked.get("shortcut"),
                 language=checked["language"], text=checked["text"], deleted=False, created_at=tx.now,
                 updated_at=tx.now)
    tx.conn.execute(REPLIES.insert(), row)
    return row


def update_reply(tx: Tx, reply_id: str, fields: dict[str, Any]) -> Record:
    """Change a canned reply."""
    row = _live(tx.conn, reply_id)
    update_row(tx.conn, REPLIES, row, {**_checked(fields), "updated_at": tx.now})
    return row


def delete_reply(tx: Tx, reply_id: str) -> None:
    """Remove a canned reply from the lists (kept for what it was)."""
    update_row(tx.conn, REPLIES, _live(tx.conn, reply_id), {"deleted": True, "updated_at": tx.now})


def _live(conn: Any, reply_id: str) -> Record:
    row = fetch_one(conn, REPLIES, reply_id, what="canned_reply")
    if row["deleted"]:
        raise InvalidInput(f"canned reply {reply_id} was deleted", code="canned_reply_not_found")
    return row


def list_replies(conn: Any, language: str | None) -> list[dict[str, Any]]:
    """The live replies (of one language, when given), by title."""
    query = sa.select(REPLIES).where(REPLIES.c.deleted.is_(False))
    if language:
        query = query.where(REPLIES.c.language == language)
    return [render_reply(r._mapping) for r in conn.execute(query.order_by(REPLIES.c.title)).all()]


def fill(text: str, values: dict[str, str | None]) -> str:
    """The text with its fields filled (a field without a value becomes empty; doubled spaces are tidied)."""
    filled = FIELD.sub(lambda m: values.get(m.group(1)) or "", text)
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"[ \t]+([,.!?])", r"\1", filled)).strip()


def reply_for(conn: Any, reply_id: str, interaction_id: str) -> dict[str, Any]:
    """The reply's text for one conversation (the caller checked the interaction is the actor's)."""
    row = _live(conn, reply_id)
    facts = conn.execute(
        sa.select(CASES.c.id, CASES.c.subject, CONTACTS.c.name.label("contact_name"),
                  AGENTS.c.name.label("agent_name"))
        .select_from(INTERACTIONS.join(CASES, INTERACTIONS.c.case_id == CASES.c.id)
                     .join(CONTACTS, INTERACTIONS.c.contact_id == CONTACTS.c.id)
                     .outerjoin(AGENTS, INTERACTIONS.c.agent_id == AGENTS.c.id))
        .where(INTERACTIONS.c.id == interaction_id)).first()
    values = {"contact.name": facts.contact_name, "agent.name": facts.agent_name, "case.id": facts.id,
              "case.subject": facts.subject} if facts is not None else {}
    return {"id": row["id"], "language": row["language"], "text": fill(row["text"], values)}
