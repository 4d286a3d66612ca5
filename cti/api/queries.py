"""Read functions used by the API (each takes a connection; run through Database.read)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.errors import Forbidden
from cti.services.actors import Actor
from cti.services.rows import by_id, fetch_one, not_found
from cti.storage.prepared import Prepared

I = models.interactions


def page(conn: Connection, table: sa.Table, filters: list[Any], *, limit: int, after: str | None
         ) -> tuple[list[Any], str | None]:
    """Rows in id order after the cursor, and the next cursor."""
    query = sa.select(table).where(*filters)
    if after:
        query = query.where(table.c.id > after)
    rows = conn.execute(query.order_by(table.c.id).limit(limit + 1)).all()
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


def agent_touches_case(conn: Connection, agent_id: str, case_id: str) -> bool:
    """True when the agent holds, was offered or handled an interaction of the case."""
    return conn.execute(sa.select(I.c.id).where(I.c.case_id == case_id, I.c.agent_id == agent_id).limit(1)).first() \
        is not None or conn.execute(sa.select(models.events.c.seq).where(
            models.events.c.case_id == case_id, models.events.c.agent_id == agent_id).limit(1)).first() is not None


def require_case_access(conn: Connection, actor: Actor, case_id: str) -> None:
    """Agents see only cases they work on; others see all."""
    if actor.is_agent and not agent_touches_case(conn, actor.agent_id or "", case_id):
        raise Forbidden("this case is not one of yours", code="not_your_case")


def require_contact_access(conn: Connection, actor: Actor, contact_id: str) -> None:
    """Agents see only contacts of cases they work on."""
    if not actor.is_agent:
        return
    agent_id = actor.agent_id or ""
    found = conn.execute(sa.select(I.c.id).where(I.c.contact_id == contact_id, I.c.agent_id == agent_id)
                         .limit(1)).first()
    if found is None:
        case_ids = [r.id for r in conn.execute(sa.select(models.cases.c.id)
                                               .where(models.cases.c.contact_id == contact_id)).all()]
        if not any(agent_touches_case(conn, agent_id, c) for c in case_ids):
            raise Forbidden("this contact is not one of yours", code="not_your_contact")
