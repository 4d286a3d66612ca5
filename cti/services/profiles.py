"""The customer in context: a contact's profile (name, language, attributes), history and CSV import.

Attributes are a small document agents and imports maintain: ``vip`` (true/false),
``lifetime_value`` and ``purchases`` (numbers) feed the social priority score's customer value
(``cti/social/rules.py``); any other key is kept for people to read (a note, a plan, a city).
A change merges: a key set to null is removed. Every value is checked by shape: keys are short
snake_case words, strings at most ``MAX_TEXT`` characters, at most ``MAX_KEYS`` keys.

An import is CSV: each row names the contact by one identity column (``email``, ``phone``,
``x``...; normalized like any identity), optional ``name`` and ``language`` columns, and every
other non-empty cell becomes an attribute ("true"/"false" and numbers are typed). A contact
that does not exist is created. A bad row is reported with its line and changes nothing; the
good rows are stored.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.errors import ApiError, InvalidInput
from cti.events import Event, EventType
from cti.services import render
from cti.services.contacts import create_contact
from cti.services.identities import normalize_identity
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx

CONTACTS, IDENTITIES, CASES = models.contacts, models.identities, models.cases
INTERACTIONS, MESSAGES = models.interactions, models.messages
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_KEYS, MAX_TEXT = 50, 500
NUMBERS = {"lifetime_value": (0.0, 1e12), "purchases": (0.0, 1e9)}
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
IDENTITY_COLUMNS = ("email", "phone", "x", "facebook", "instagram", "xmpp", "sip", "whatsapp")
MAX_IMPORT_ROWS = 10_000


def check_attribute(key: str, value: Any) -> Any:
    """The stored form of one attribute, or InvalidInput naming it."""
    where = f"attributes.{key}"
    if not KEY.match(key):
        raise InvalidInput("attribute names are short snake_case words",
                           details={where: "must match ^[a-z][a-z0-9_]*$"})
    if value is None:
        return None
    if key == "vip":
        if not isinstance(value, bool):
            raise InvalidInput("vip is true or false", details={where: "true or false"})
        return value
    if key in NUMBERS:
        low, high = NUMBERS[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise InvalidInput(f"{key} is a number from {low:g}", details={where: f"a number from {low:g}"})
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise InvalidInput(f"{key} is too long", details={where: f"at most {MAX_TEXT} characters"})
        return value
    if isinstance(value, bool | int | float):
        return value
    raise InvalidInput(f"{key} must be text, a number or true/false", details={where: "text, number or true/false"})


def merged_attributes(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``patch`` applied (null removes a key), checked."""
    out = dict(current)
    for key, value in patch.items():
        checked = check_attribute(str(key), value)
        if checked is None:
            out.pop(key, None)
        else:
            out[key] = checked
    if len(out) > MAX_KEYS:
        raise InvalidInput(f"a contact has at most {MAX_KEYS} attributes", details={"attributes": "too many"})
    return out


def check_language(value: Any) -> str | None:
    """A language tag (fi, en, zh-Hans...) or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not LANGUAGE.match(value):
        raise InvalidInput("language is a language tag such as fi or zh-Hans", details={"language": "a language tag"})
    return value


def update_profile(tx: Tx, contact_id: str, changes: dict[str, Any]) -> Record:
    """Change a contact's name, language and attributes (contact.updated)."""
    row = fetch_one(tx.conn, CONTACTS, contact_id, what="contact", for_update=True)
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = changes["name"]
    if "language" in changes:
        values["language"] = check_language(changes["language"])
    if changes.get("attributes"):
        values["attributes"] = merged_attributes(row["attributes"] or {}, changes["attributes"])
    if not values:
        return row
    values["updated_at"] = tx.now
    update_row(tx.conn, CONTACTS, row, values)
    tx.emit(Event.make(EventType.CONTACT_UPDATED, data={"contact": render.contact(row),
                                                        "changed": sorted(k for k in values if k != "updated_at")}))
    return row


def contact_history(conn: Any, contact_id: str, *, limit: int, before: str | None) -> tuple[list[dict[str, Any]],
                                                                                           str | None]:
    """The contact's cases, newest first, each with its interactions and its last message; and the
    cursor of the next page (the last case's id) or None."""
    query = sa.select(CASES).where(CASES.c.contact_id == contact_id)
    if before:
        query = query.where(CASES.c.id < before)
    cases = conn.execute(query.order_by(CASES.c.id.desc()).limit(limit + 1)).all()
    more = len(cases) > limit
    cases = cases[:limit]
    ids = [c.id for c in cases]
    interactions: dict[str, list[Any]] = {}
    for row in conn.execute(sa.select(INTERACTIONS.c.id, INTERACTIONS.c.case_id, INTERACTIONS.c.channel,
                                      INTERACTIONS.c.direction, INTERACTIONS.c.state, INTERACTIONS.c.agent_id,
                                      INTERACTIONS.c.created_at)
                            .where(INTERACTIONS.c.case_id.in_(ids)).order_by(INTERACTIONS.c.created_at)).all():
        interactions.setdefault(row.case_id, []).append(row)
    last = sa.select(MESSAGES.c.case_id, sa.func.max(MESSAGES.c.created_at).label("at")).where(
        MESSAGES.c.case_id.in_(ids)).group_by(MESSAGES.c.case_id).subquery()
    messages = {m.case_id: m for m in conn.execute(
        sa.select(MESSAGES.c.case_id, MESSAGES.c.direction, MESSAGES.c.channel, MESSAGES.c.text,
                  MESSAGES.c.created_at)
        .join(last, sa.and_(MESSAGES.c.case_id == last.c.case_id, MESSAGES.c.created_at == last.c.at))).all()}
    items = []
    for case in cases:
        message = messages.get(case.id)
        items.append({
            "case": render.case(case),
            "channels": sorted({i.channel for i in interactions.get(case.id, [])}),
            "interactions": [{"id": i.id, "channel": i.channel, "direction": i.direction, "state": i.state,
                              "agent_id": i.agent_id, "created_at": render.iso(i.created_at)}
                             for i in interactions.get(case.id, [])],
            "last_message": None if message is None else {
                "direction": message.direction, "channel": message.channel, "text": (message.text or "")[:300],
                "created_at": render.iso(message.created_at)},
        })
    return items, (ids[-1] if more and ids else None)


@dataclass
class ImportResult:
    """What an import did: counts and each refused row with its line and reason."""

    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "errors": self.errors}


def _cell(key: str, raw: str) -> Any:
    text = raw.strip()
    if key == "vip" or text.lower() in ("true", "false"):
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        return text
    try:
        number = float(text.replace(",", ".")) if key in NUMBERS or re.fullmatch(r"-?\d+([.,]\d+)?", text) else None
    except ValueError:
        number = None
    if number is None:
        return text
    return int(number) if number.is_integer() and key != "lifetime_value" else number


def parse_contacts_csv(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header's identity column and the rows with their line numbers; InvalidInput when unusable."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise InvalidInput("the CSV has no header row", code="invalid_csv", details={"csv": "no header"})
    reader.fieldnames = header
    kinds = [h for h in header if h in IDENTITY_COLUMNS]
    if not kinds:
        raise InvalidInput(f"the CSV needs an identity column ({', '.join(IDENTITY_COLUMNS)})", code="invalid_csv",
                           details={"csv": "no identity column"})
    rows: list[tuple[int, dict[str, str]]] = []
    for line, row in enumerate(reader, start=2):
        if len(rows) >= MAX_IMPORT_ROWS:
            raise InvalidInput(f"at most {MAX_IMPORT_ROWS} rows at a time", code="invalid_csv",
                               details={"csv": "too many rows"})
        rows.append((line, {k: (v or "") for k, v in row.items() if k is not None}))
    return kinds, rows


def import_contacts(tx: Tx, kinds: list[str], rows: list[tuple[int, dict[str, str]]]) -> ImportResult:
    """Create or update one contact per row (each row all or nothing)."""
    result = ImportResult()
    for line, row in rows:
        try:  # everything is checked before anything of the row is written
            kind = next((k for k in kinds if row.get(k, "").strip()), None)
            if kind is None:
                raise InvalidInput("no identity in this row", details={"identity": "empty"})
            kind, value = normalize_identity(kind, row[kind], field=kind)
            changes: dict[str, Any] = {"attributes": {key: _cell(key, cell) for key, cell in row.items()
                                                      if key not in (*IDENTITY_COLUMNS, "name", "language")
                                                      and cell.strip()}}
            merged_attributes({}, changes["attributes"])
            if row.get("language", "").strip():
                changes["language"] = check_language(row["language"].strip())
        except ApiError as exc:
            result.errors.append({"line": line, "message": exc.message, "details": exc.details})
            continue
        name = row.get("name", "").strip()[:200] or None
        contact_id = tx.conn.execute(sa.select(IDENTITIES.c.contact_id).where(
            IDENTITIES.c.kind == kind, IDENTITIES.c.value == value)).scalar()
        if contact_id is None:
            contact_id = create_contact(tx, kind, value, name)
            result.created += 1
        else:
            if name:
                changes["name"] = name
            result.updated += 1
        update_profile(tx, contact_id, changes)
    return result
