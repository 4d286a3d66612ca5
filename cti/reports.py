"""Contact-center metrics with the standard definitions of docs/api.md (pure functions over rows).

Offered: entered a queue. Handled: accepted by an agent. Abandoned: the customer left before
acceptance (short abandons, under the threshold, counted apart and left out of service level).
Speed of answer (voice, chat): queued -> accepted. First response (email, social, SMS):
received -> first agent reply. Service level: handled within the channel's threshold /
(offered - short abandons), counting only interactions with an outcome (answered, or for written
channels responded to; abandoned; ended) or that have already waited past the threshold: one still
waiting inside its threshold at ``now`` is not counted yet, neither for nor against. Handle time:
accepted -> wrap-up done.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

ANSWERED_CLASSES = ("voice", "chat")


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _avg(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


OUTCOME_STATES = ("abandoned", "ended", "wrapup")


COUNTS = ("offered", "handled", "abandoned", "short_abandoned")
FIGURES = ("speed_of_answer_avg", "speed_of_answer_p90", "first_response_avg", "first_response_p90",
           "handle_time_avg", "sla_percent")


def finish_groups(names: list[str], counts: dict[str, list[int]],
                  figures: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Each group's metrics as the API answers them: whole counts, figures rounded to 3 decimals
    (None for a figure without data: NaN in ``figures``)."""
    return {name: {**{k: counts[k][i] for k in COUNTS},
                   **{k: None if figures[k][i] != figures[k][i] else round(figures[k][i], 3) for k in FIGURES}}
            for i, name in enumerate(names)}


CSV_COLUMNS = ["group", "offered", "handled", "abandoned", "short_abandoned", "speed_of_answer_avg",
               "speed_of_answer_p90", "first_response_avg", "first_response_p90", "handle_time_avg", "sla_percent",
               "csat", "csat_responses", "pivots_sent", "pivots_opened", "pivots_redeemed", "pivots_connected"]


PIVOT_STEPS = {"pivot.created": "sent", "pivot.opened": "opened", "pivot.redeemed": "redeemed",
               "callback.connected": "connected", "pivot.connected": "connected"}


def pivot_funnel(events: Iterable[Any]) -> dict[str, Any]:
    """Links sent, opened, redeemed, connected (a callback's customer answered, or a browser call's
    agent did), and the median seconds from link sent to voice connected, from pivot.* and
    callback.connected events (rows with ``type`` and ``data``)."""
    counts = dict.fromkeys(PIVOT_STEPS.values(), 0)
    to_voice: list[float] = []
    for event in events:
        step = PIVOT_STEPS.get(event.type)
        if step is None:
            continue
        counts[step] += 1
        since = (event.data or {}).get("since_link_sent")
        if step == "connected" and isinstance(since, int | float):
            to_voice.append(float(since))
    return {**counts, "median_seconds_to_voice": _round(percentile(to_voice, 50))}


def social_sentiment(rows: Iterable[Any]) -> dict[str, Any]:
    """Scored (social) interactions: how many, average sentiment (-1..1), share that is negative."""
    values = [float(s["factors"]["sentiment"]["value"]) for s in (getattr(r, "scoring", None) for r in rows)
              if s and isinstance(s.get("factors"), dict) and "sentiment" in s["factors"]]
    negative = sum(1 for v in values if v <= -0.05)
    return {"scored": len(values), "average_sentiment": _round(_avg(values)),
            "negative_percent": _round(100.0 * negative / len(values)) if values else None}


INTERVAL_SECONDS = {"15m": 900, "30m": 1800, "1h": 3600}


def time_key(ts: float, group_by: str, zone: ZoneInfo, interval: str = "30m") -> str:
    """The group of a moment, in ``zone``: its interval's start (``2026-12-07T09:30``, local time), or
    its hour of the week (``1-09``: ISO weekday 1 = Monday, then the hour), both sortable as text."""
    local = datetime.fromtimestamp(ts, zone)
    if group_by == "hour_of_week":
        return f"{local.isoweekday()}-{local.hour:02d}"
    step = INTERVAL_SECONDS[interval] // 60
    return local.replace(minute=local.minute - local.minute % step, second=0, microsecond=0,
                         tzinfo=None).isoformat(timespec="minutes")
