"""Opening a case: the one place a case row is created and ``case.created`` is told.

Every path that starts a conversation without a case to join (an inbound message, an inbound
call, an agent's outreach) opens one here, so a case always starts the same way: open, priority
0, no SLA or affinity yet, and one ``case.created`` event with its snapshot.
"""

from __future__ import annotations

import sqlalchemy as sa

from cti import models
from cti.events import Event, EventType
from cti.ids import new_id
from cti.services import render
from cti.services.rows import Record
from cti.storage.db import Tx

CASES = models.cases
_insert_case = CASES.insert()
_latest_open_case = (
    sa.select(CASES.c.id)
    .where(CASES.c.contact_id == sa.bindparam("contact_id"),
           sa.or_(CASES.c.status == "open", CASES.c.status == "pending"))  # (no IN: prepared statements take none)
    .order_by(CASES.c.updated_at.desc())
    .limit(1)
)


def open_case(tx: Tx, contact_id: str, subject: str | None) -> Record:
    """A new open case of the contact (``case.created``)."""
    case = Record(id=new_id("cas"), contact_id=contact_id, subject=subject, status="open", priority=0,
                  sla_due_at=None, affinity_agent_id=None, affinity_until=None, created_at=tx.now, updated_at=tx.now)
    tx.sql.execute(_insert_case, case)
    tx.emit(Event.make(EventType.CASE_CREATED, case_id=case["id"], data={"case": render.case(case)}))
    return case


def latest_open_case(tx: Tx, contact_id: str) -> str | None:
    """The contact's most recently updated case that is still open or pending, if any."""
    found = tx.sql.execute(_latest_open_case, {"contact_id": contact_id}).scalar()
    return str(found) if found is not None else None
