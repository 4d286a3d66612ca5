"""Contacts and cases: link identities, change cases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti import models
from cti.errors import Conflict
from cti.events import Event, EventType
from cti.ids import new_id
from cti.services import render
from cti.services.identities import normalize_identity
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx

IDENTITIES = models.identities


_insert_contact = models.contacts.insert()
_insert_identity = IDENTITIES.insert()
_find_identity = sa.select(IDENTITIES.c.contact_id).where(IDENTITIES.c.kind == sa.bindparam("kind"),
                                                  IDENTITIES.c.value == sa.bindparam("value"))


def create_contact(tx: Tx, kind: str, value: str, name: str | None = None) -> str:
    """Insert a contact with its first identity (contact.created); return its id."""
    contact_id = new_id("con")
    tx.sql.execute(_insert_contact, {"id": contact_id, "name": name, "attributes": {}, "language": None,
                                     "created_at": tx.now, "updated_at": tx.now})
    tx.sql.execute(_insert_identity, {"id": new_id("idn"), "contact_id": contact_id, "kind": kind, "value": value,
                                      "verified": False, "created_at": tx.now})
    tx.emit(Event.make(EventType.CONTACT_CREATED, data={"contact_id": contact_id,
                                                        "identity": {"kind": kind, "value": value}}))
    return contact_id


def find_or_create_contact(tx: Tx, kind: str, value: str, name: str | None = None) -> str:
    """The contact owning this (normalized) identity, created when new."""
    contact_id = tx.sql.execute(_find_identity, {"kind": kind, "value": value}).scalar()
    return contact_id if contact_id is not None else create_contact(tx, kind, value, name)


def link_identity(tx: Tx, contact_id: str, kind: str, value: str, *, verified: bool = False) -> Record:
    """Add an identity to a contact (contact.linked); 409 when another contact has it."""
    kind, value = normalize_identity(kind, value, field="identity")
    fetch_one(tx.conn, models.contacts, contact_id, what="contact")
    existing = tx.conn.execute(
        sa.select(IDENTITIES).where(IDENTITIES.c.kind == kind, IDENTITIES.c.value == value)
    ).first()
    if existing is not None:
        if existing.contact_id != contact_id:
            raise Conflict("this identity belongs to another contact", code="identity_taken",
                           details={"contact_id": existing.contact_id})
        row = Record(existing._mapping)
        if verified and not row["verified"]:
            update_row(tx.conn, IDENTITIES, row, {"verified": True})
        return row
    row = Record(id=new_id("idn"), contact_id=contact_id, kind=kind, value=value, verified=verified,
                 created_at=tx.now)
    tx.conn.execute(IDENTITIES.insert(), row)
    tx.emit(Event.make(EventType.CONTACT_LINKED, data={"contact_id": contact_id, "identity": render.identity(row)}))
    return row


def update_case(tx: Tx, case_id: str, fields: dict[str, Any]) -> Record:
    """Change status, priority or subject (case.updated)."""
    row = fetch_one(tx.conn, models.cases, case_id, what="case", for_update=True)
    changes = {k: v for k, v in fields.items() if k in ("status", "priority", "subject")}
    if not changes:
        return row
    changes["updated_at"] = tx.now
    update_row(tx.conn, models.cases, row, changes)
    tx.emit(Event.make(EventType.CASE_UPDATED, case_id=case_id, data={"case": render.case(row),
                                                                       "changed": sorted(changes)}))
    return row
