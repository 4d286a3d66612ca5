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
import time
from collections.abc import Callable, Iterable
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


def summarize(rows: Iterable[Any], *, key: Callable[[Any], str | None], channel_class: Callable[[str], str],
              sla_seconds: dict[str, float], short_abandon_seconds: float,
              now: float | None = None) -> dict[str, dict[str, Any]]:
    """Metrics per group (key(row) names the group), as of ``now`` (default: the current time)."""
    now = time.time() if now is None else now
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = key(row) or "(none)"
        g = groups.setdefault(name, {"offered": 0, "handled": 0, "abandoned": 0, "short_abandoned": 0,
                                     "_answer": [], "_first": [], "_handle": [], "_in_sla": 0, "_not_yet": 0})
        cls = channel_class(row.channel)
        threshold = sla_seconds.get(row.channel, sla_seconds.get(cls, 60.0))
        if row.queued_at is not None:
            g["offered"] += 1
        if row.state == "abandoned":
            waited = (row.ended_at or row.queued_at or 0) - (row.queued_at or row.created_at)
            if waited < short_abandon_seconds:
                g["short_abandoned"] += 1
            else:
                g["abandoned"] += 1
        if row.accepted_at is not None:
            g["handled"] += 1
            if row.queued_at is not None and cls in ANSWERED_CLASSES:
                g["_answer"].append(row.accepted_at - row.queued_at)
            if row.closed_at is not None:
                g["_handle"].append(row.closed_at - row.accepted_at)
        if row.first_response_at is not None and cls not in ANSWERED_CLASSES and row.direction == "inbound":
            g["_first"].append(row.first_response_at - row.created_at)
        if row.queued_at is not None and _within_sla(row, cls, threshold):
            g["_in_sla"] += 1
        elif row.queued_at is not None and _still_inside(row, cls, threshold, now):
            g["_not_yet"] += 1
    return {name: _finish(g) for name, g in sorted(groups.items())}


OUTCOME_STATES = ("abandoned", "ended", "wrapup")


def _still_inside(row: Any, cls: str, threshold: float, now: float) -> bool:
    """Waiting for its answer (or first response) and not yet past the threshold: no outcome yet."""
    if row.state in OUTCOME_STATES:
        return False
    if cls in ANSWERED_CLASSES:
        return row.accepted_at is None and now - row.queued_at <= threshold
    return row.first_response_at is None and now - row.created_at <= threshold


def _within_sla(row: Any, cls: str, threshold: float) -> bool:
    if cls in ANSWERED_CLASSES:
        return row.accepted_at is not None and row.accepted_at - row.queued_at <= threshold
    return row.first_response_at is not None and row.first_response_at - row.created_at <= threshold


def _finish(g: dict[str, Any]) -> dict[str, Any]:
    base = g["offered"] - g["short_abandoned"] - g["_not_yet"]
    return {
        "offered": g["offered"],
        "handled": g["handled"],
        "abandoned": g["abandoned"],
        "short_abandoned": g["short_abandoned"],
        "speed_of_answer_avg": _round(_avg(g["_answer"])),
        "speed_of_answer_p90": _round(percentile(g["_answer"], 90)),
        "first_response_avg": _round(_avg(g["_first"])),
        "first_response_p90": _round(percentile(g["_first"], 90)),
        "handle_time_avg": _round(_avg(g["_handle"])),
        "sla_percent": _round(100.0 * g["_in_sla"] / base) if base > 0 else None,
    }


CSV_COLUMNS = ["group", "offered", "handled", "abandoned", "short_abandoned", "speed_of_answer_avg",
               "speed_of_answer_p90", "first_response_avg", "first_response_p90", "handle_time_avg", "sla_percent",
               "pivots_sent", "pivots_opened", "pivots_redeemed", "pivots_connected"]


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
