"""Read functions used by the API (each takes a connection; run through Database.read).

The access checks live in cti/services/access.py (services check ids named in bodies too);
they are re-exported here for the routes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.services.access import agent_touches_case, require_case_access, require_contact_access
from cti.services.rows import by_id, fetch_one, not_found
from cti.storage.prepared import Prepared

INTERACTIONS = models.interactions


def page(conn: Connection, table: sa.Table, filters: list[Any], *, limit: int, after: str | None
         ) -> tuple[list[Any], str | None]:
    """Rows in id order after the cursor, and the next cursor."""
    query = sa.select(table).where(*filters)
    if after:
        query = query.where(table.c.id > after)
    rows = list(conn.execute(query.order_by(table.c.id).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def point_row(sql: Prepared, table: sa.Table, row_id: str, what: str) -> Any:
    """One live row by id through prepared statements, or NotFound (deleted rows count as missing)."""
    row = sql.execute(by_id(table), {"id": row_id}).first()
    if row is None or getattr(row, "deleted", False):
        raise not_found(what, row_id)
    return row


def get_row(conn: Connection, table: sa.Table, row_id: str, what: str) -> Any:
    """One live row by id on a plain connection, or NotFound (deleted rows count as missing)."""
    row = fetch_one(conn, table, row_id, what=what)
    if row.get("deleted"):
        raise not_found(what, row_id)
    return row


__all__ = ["agent_touches_case", "get_row", "page", "point_row", "require_case_access", "require_contact_access"]
