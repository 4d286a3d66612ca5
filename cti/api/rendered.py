"""Interactions as rendered JSON, kept between reads and checked against the row on every read.

``GET /api/v1/interactions/{id}`` is the read integrations poll. Reading all 28 columns, converting
them and rendering the JSON costs about three times what reading the row's version alone costs
(measured: docs/architecture.md, "Performance decisions"). Each read therefore asks the database
for the row's version, the number a trigger raises on every UPDATE of the row whoever makes it
(migration 0006), and answers with the kept rendering when it was made from that version.
Otherwise it reads and renders the row, and keeps that.

Nothing is ever answered without asking the database, so a read sees every committed change: the
server's own, another node's, a CLI command's or one made in a SQL console. Nothing here listens
for events, so a write path that emits none cannot leave a stale answer behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from cti import models
from cti.api.queries import point_row
from cti.services import render
from cti.services.rows import not_found
from cti.storage.db import Database
from cti.storage.prepared import Prepared

INTERACTIONS = models.interactions
_version_of = sa.select(INTERACTIONS.c.version).where(INTERACTIONS.c.id == sa.bindparam("id"))

DEFAULT_ENTRIES = 10_000  # about 1 KB each


@dataclass(frozen=True, slots=True)
class Rendered:
    """One interaction's JSON as of ``version``, with what access checks need."""

    version: int
    body: bytes
    agent_id: str | None
    case_id: str


def _current_version(sql: Prepared, interaction_id: str) -> int:
    version = sql.execute(_version_of, {"id": interaction_id}).scalar()
    if version is None:
        raise not_found("interaction", interaction_id)
    return int(version)


def _render(row: Any) -> Rendered:
    return Rendered(row.version, orjson.dumps(render.interaction(row)), row.agent_id, row.case_id)


class RenderedInteractions:
    """Renderings of the most recently read interactions (the oldest kept goes first when full)."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self.entries = entries
        self._kept: dict[str, Rendered] = {}
        self.hits = self.misses = 0

    async def get(self, db: Database, interaction_id: str) -> Rendered:
        """The interaction as it is in the database now; NotFound when there is none."""
        kept = self._kept.get(interaction_id)
        if kept is not None:
            version = await db.read_point(lambda sql: _current_version(sql, interaction_id))
            if version == kept.version:
                self.hits += 1
                return kept
        self.misses += 1
        row = await db.read_point(lambda sql: point_row(sql, INTERACTIONS, interaction_id, "interaction"))
        fresh = _render(row)
        self._keep(interaction_id, fresh)
        return fresh

    def _keep(self, interaction_id: str, rendered: Rendered) -> None:
        kept = self._kept
        kept.pop(interaction_id, None)  # re-inserted last: it is now the newest
        if len(kept) >= self.entries:
            del kept[next(iter(kept))]
        kept[interaction_id] = rendered
