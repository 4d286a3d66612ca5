"""Small helpers for reading rows inside ops."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti.errors import NotFound


class Record(dict[str, Any]):
    """A row as a mutable dict with attribute access (so render functions take either)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


_BY_ID: dict[str, Any] = {}


def by_id(table: sa.Table) -> Any:
    """The prebuilt ``SELECT * FROM table WHERE id = :id`` (one per table, so it is compiled once)."""
    statement = _BY_ID.get(table.name)
    if statement is None:
        statement = _BY_ID[table.name] = sa.select(table).where(table.c.id == sa.bindparam("id"))
    return statement


def not_found(what: str, row_id: str) -> NotFound:
    """The 404 for a missing (or deleted) row, with its stable code."""
    return NotFound(f"{what} {row_id} not found", code=f"{what}_not_found", details={"id": row_id})


def fetch_one(conn: Connection, table: sa.Table, row_id: str, *, what: str, for_update: bool = False) -> Record:
    """The row with this id as a Record, or NotFound naming ``what``."""
    query = by_id(table)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query, {"id": row_id}).first()
    if row is None:
        raise not_found(what, row_id)
    return Record(row._mapping)


def update_row(conn: Connection, table: sa.Table, record: Record, changes: dict[str, Any]) -> None:
    """Write changes to the row and to the record."""
    if changes:
        conn.execute(table.update().where(table.c.id == record["id"]).values(**changes))
        record.update(changes)
