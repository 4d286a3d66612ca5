"""A report's groups: the facts of a range (cti/report_rollup.py) grouped as asked and measured
(cti/report_engine.py)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from cti import models
from cti.report_engine import Labeled, MetricRules, group_by_key, group_by_time, summarize
from cti.report_rollup import load

COLUMN_OF = {"channel": 0, "queue": 1, "agent": 2}


def key_namer(*columns: str) -> Any:
    """A group's name from a key: one column's value (``(none)`` for none), or several joined by ``|``."""
    places = [COLUMN_OF[c] for c in columns]
    return lambda key: "|".join(key[p] or "(none)" for p in places)


def grouped(labeled: Labeled, group_by: str, rules: MetricRules, *, now: float, zone: ZoneInfo | None = None,
            start: float = 0.0, end: float = 0.0, interval: str = "30m") -> dict[str, dict[str, Any]]:
    """The metrics per group: by ``channel``, ``queue``, ``agent``, ``queue|channel``, ``all``, ``interval``
    or ``hour_of_week`` (these two in ``zone``)."""
    if group_by in ("interval", "hour_of_week"):
        assert zone is not None
        codes, names = group_by_time(labeled.facts.created, group_by, zone=zone, start=start, end=end,
                                     interval=interval)
    else:
        namer = (lambda key: "all") if group_by == "all" else key_namer(*group_by.split("|"))
        codes, names = group_by_key(labeled, namer)
    return summarize(labeled, codes, names, rules, now=now)


def report_groups(conn: Any, start: float, end: float, group_by: str, rules: MetricRules, *, now: float,
           zone: ZoneInfo, interval: str) -> dict[str, dict[str, Any]]:
    """The summary report's groups for interactions that began in [start, end)."""
    return grouped(load(conn, start, end), group_by, rules, now=now, zone=zone, start=start, end=end,
                   interval=interval)



def satisfaction(conn: Any, start: float, end: float, group_by: str, *, zone: ZoneInfo | None = None,
                 interval: str = "30m") -> dict[str, dict[str, Any]]:
    """CSAT per group: the average answer (1-5) and how many answered, for the surveys of the
    interactions that began in [start, end) (a survey counts where its interaction is counted)."""
    S = models.surveys
    rows = conn.execute(sa.select(S.c.channel, S.c.queue, S.c.agent_id, S.c.interaction_created_at, S.c.rating)
                        .where(S.c.interaction_created_at >= start, S.c.interaction_created_at < end,
                               S.c.answered_at.is_not(None))).all()
    if not rows:
        return {}
    if group_by in ("interval", "hour_of_week"):
        assert zone is not None
        codes, names = group_by_time(np.array([r.interaction_created_at for r in rows], np.float64), group_by,
                                     zone=zone, start=start, end=end, interval=interval)
        group_of = [names[c] for c in codes]
    else:
        namer = (lambda key: "all") if group_by == "all" else key_namer(*group_by.split("|"))
        group_of = [namer((r.channel, r.queue, r.agent_id)) for r in rows]
    totals: dict[str, list[int]] = {}
    for name, row in zip(group_of, rows, strict=True):
        entry = totals.setdefault(name, [0, 0])
        entry[0] += int(row.rating)
        entry[1] += 1
    return {name: {"csat": round(total / count, 3), "csat_responses": count}
            for name, (total, count) in totals.items()}
