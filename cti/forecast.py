"""Forecasting contacts and handle time per interval from the observed history (docs/supervising.md).

Contact-center volume repeats by the week: Monday 09:00 looks like last Monday 09:00 more than like
Sunday 09:00. The method is a *seasonal exponentially weighted average*: each slot of the week
(a 15, 30 or 60 minute interval in the site's time zone) is forecast as the average of the same
slot over the last ``weeks`` weeks, the latest weighing most (weights (1 - alpha)^age),
so a change in level shows within a few weeks while one odd week moves the forecast little
(alpha 0.2: the last six weeks weigh 1, 0.8, 0.64, 0.51, 0.41, 0.33). Handle
time is the same weighted average of the slot's handled contacts (the window's average where a
slot saw fewer than three). This is the seasonal part of Holt-Winters smoothing with the level
kept per slot; on weekly data with Poisson noise it halves the error of "same as last week"
(tests/test_forecast.py measures both), and it needs no model fitting that could fail on a short
or gappy history. Intervals with no history forecast 0 contacts.

The agents each interval needs follow from the forecast as ``/staffing`` computes them; the agents
who were available are read from ``agent.state_changed`` (time spent ``available`` in the
interval, averaged over its length).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cti.report_engine import MONDAY_OFFSET_HOURS, Labeled, utc_offsets

WEEK = 7 * 86400
ALPHA = 0.2
MIN_HANDLED = 3  # fewer handled contacts in a slot's history: the window's average handle time


@dataclass(frozen=True, slots=True)
class SlotForecast:
    start: float  # UTC
    contacts: float
    aht: float | None


def slot_of_week(utc: np.ndarray, step: int, zone: ZoneInfo, start: float, end: float) -> np.ndarray:
    """Each moment's slot of the (local, Monday-first) week."""
    stretches = utc_offsets(zone, start, end)
    untils = np.array([until for until, _ in stretches[:-1]])
    offsets = np.array([offset for _, offset in stretches], np.float64)
    local = utc + offsets[np.searchsorted(untils, utc, side="right")]
    return (np.floor(local / step).astype(np.int64) + MONDAY_OFFSET_HOURS * 3600 // step) % (WEEK // step)


def contacts_of(labeled: Labeled, channel: str) -> tuple[np.ndarray, np.ndarray]:
    """When the channel's inbound contacts arrived (those that entered a queue), and each one's handle
    time (NaN: not handled)."""
    keys = np.array([k[0] == channel for k in labeled.keys], bool)
    f = labeled.facts
    mine = (keys[labeled.key_index] if len(keys) else np.zeros(len(f), bool)) & ~np.isnan(f.queued)
    return f.created[mine], f.handle[mine]


def forecast(created: np.ndarray, handle: np.ndarray, *, start: float, end: float, step: int, zone: ZoneInfo,
             weeks: int, observed_until: float | None = None) -> list[SlotForecast]:
    """Contacts and handle time for each interval of [start, end), from the ``weeks`` weeks before ``start``.

    Only what was observed counts: a slot of a past week that lies after ``observed_until`` (now, when
    forecasting a week that has begun or lies ahead) is left out of that slot's average rather than
    counted as a quiet hour, and so are weeks before the first contact of the history."""
    slots = WEEK // step
    history_start = start - weeks * WEEK
    observed_until = start if observed_until is None else min(start, observed_until)
    inside = (created >= history_start) & (created < observed_until)
    created, handle = created[inside], handle[inside]
    first_seen = float(created.min()) if len(created) else observed_until
    age = ((start - 1e-6 - created) // WEEK).astype(np.int64)  # 0: the last week before start
    slot = slot_of_week(created, step, zone, history_start, end)
    cell = age * slots + slot
    counts = np.bincount(cell, minlength=weeks * slots).reshape(weeks, slots)
    handled = ~np.isnan(handle)
    handle_sum = np.bincount(cell[handled], weights=handle[handled], minlength=weeks * slots).reshape(weeks, slots)
    handle_n = np.bincount(cell[handled], minlength=weeks * slots).reshape(weeks, slots)
    overall = float(handle[handled].mean()) if handled.any() else None
    weight_of_age = (1 - ALPHA) ** np.arange(weeks)
    starts = np.arange(start, end, step, dtype=np.float64)
    targets = slot_of_week(starts, step, zone, start, end)
    out = []
    for at, s in zip(starts, targets, strict=True):
        earlier = at - (np.arange(weeks) + 1) * WEEK - ((at - start) // WEEK) * WEEK  # the slot in each past week
        seen = (earlier >= max(history_start, first_seen - step)) & (earlier + step <= observed_until)
        weights = weight_of_age * seen
        total = weights.sum()
        contacts = float((weights * counts[:, s]).sum() / total) if total else 0.0
        n = int((handle_n[:, s] * seen).sum())
        aht = float((weights * handle_sum[:, s]).sum() / (weights * handle_n[:, s]).sum()) if n >= MIN_HANDLED \
            else overall
        out.append(SlotForecast(float(at), contacts, aht))
    return out


def actual_counts(created: np.ndarray, starts: Iterable[float], step: int) -> list[int]:
    """Contacts that arrived in each interval."""
    edges = np.array([*starts], np.float64)
    if not len(edges):
        return []
    found, _ = np.histogram(created, bins=np.append(edges, edges[-1] + step))
    return [int(n) for n in found]


def wape(forecast_values: list[float], actual: list[int]) -> float | None:
    """Weighted absolute percentage error: sum |forecast - actual| / sum actual, in percent."""
    total = sum(actual)
    if not total:
        return None
    return 100.0 * sum(abs(f - a) for f, a in zip(forecast_values, actual, strict=True)) / total


def available_agents(changes: list[Any], agents_now: list[Any], starts: list[float], step: int) -> list[float]:
    """Average agents ``available`` in each interval, from agent.state_changed events (ts, agent_id, state,
    previous: ordered by time) and each agent's state now (id, state, state_changed_at)."""
    if not starts:
        return []
    first, last = starts[0], starts[-1] + step
    spans: dict[str, list[tuple[float, str]]] = {}
    for change in changes:
        timeline = spans.setdefault(change.agent_id, [(first, change.previous or "offline")])
        timeline.append((max(first, change.ts), change.state))
    for agent in agents_now:
        if agent.id not in spans:
            spans[agent.id] = [(first, agent.state if agent.state_changed_at <= first else "offline")]
    totals = np.zeros(len(starts))
    edges = np.array(starts, np.float64)
    for timeline in spans.values():
        for (since, state), (until, _) in zip(timeline, [*timeline[1:], (last, "")], strict=True):
            if state != "available" or until <= since:
                continue
            lows, highs = np.maximum(edges, since), np.minimum(edges + step, until)
            totals += np.clip(highs - lows, 0, None)
    return [round(float(t) / step, 3) for t in totals]
