"""Internal notes on a case: what the people working it tell each other.

A note is stored on its own (never as a message, so no outbox, connector or reply path can
ever send it) and told as ``case.note_added`` on the case, so it shows on the timeline marked
internal and reaches the desks following the case.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti import models
from cti.errors import InvalidInput
from cti.events import Event, EventType, iso
from cti.ids import new_id
from cti.services.actors import Actor
from cti.services.rows import Record
from cti.storage.db import Tx

NOTES = models.case_notes
MAX_NOTE = 4000


def render_note(row: Any) -> dict[str, Any]:
    """The API shape of a note (``internal`` is always true: notes are never sent)."""
    return {"id": row["id"], "case_id": row["case_id"],
            "author_id": row["author_id"], "author_role": row["author_role"], "text": row["text"], "internal": True,
            "created_at": iso(row["created_at"])}


def add_note(tx: Tx, case_id: str, text: str, *, actor: Actor) -> Record:
    """Add an internal note to a case (the caller checked the actor may work on it)."""
    text = text.strip()
    if not text or len(text) > MAX_NOTE:
        raise InvalidInput(f"a note is 1 to {MAX_NOTE} characters", details={"text": f"1 to {MAX_NOTE} characters"})
    row = Record(id=new_id("not"), case_id=case_id, author_id=actor.agent_id, author_role=actor.role.value,
                 text=text, created_at=tx.now)
    tx.conn.execute(NOTES.insert(), row)
    tx.emit(Event.make(EventType.CASE_NOTE_ADDED, case_id=case_id, agent_id=actor.agent_id,
                       data={"note": render_note(row)}))
    return row


def notes_of(conn: Any, case_id: str) -> list[dict[str, Any]]:
    """Every note of a case, oldest first."""
    rows = conn.execute(sa.select(NOTES).where(NOTES.c.case_id == case_id).order_by(NOTES.c.created_at)).all()
    return [render_note(r._mapping) for r in rows]
