"""The report metrics of ``cti/reports.py`` computed over facts (cti/report_facts.py) with NumPy.

Every element of the facts carries a *key* (its channel, queue and agent, an index into
``Labeled.keys``); the grouping asked for turns keys, or the local time an interaction began in,
into group codes; each figure is then one ``bincount`` and each 90th percentile one sort. A
million interactions take a fraction of a second, and the answers are the definitions' own: the
thresholds in force now, ``now`` for what still waits.

Local time: the zone's UTC offsets over the report's range are a handful of stretches (one per
daylight-saving change), looked up with ``searchsorted``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cti.report_facts import ACCEPTED, INBOUND, OUTCOME, Facts
from cti.reports import ANSWERED_CLASSES, INTERVAL_SECONDS, finish_groups
from cti.routing.policy import DEFAULT_CHANNEL_CLASSES

EPOCH = datetime(1970, 1, 1)
MONDAY_OFFSET_HOURS = 72  # 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its ISO week
Key = tuple[str, str | None, str | None, str]  # channel, queue, agent, direction


@dataclass(frozen=True, slots=True)
class MetricRules:
    """What the definitions depend on: each channel's class and service-level threshold."""

    channel_class: Callable[[str], str]
    sla_seconds: dict[str, float]
    short_abandon_seconds: float

    def threshold(self, channel: str) -> float:
        return self.sla_seconds.get(channel, self.sla_seconds.get(self.channel_class(channel), 60.0))

    def answered(self, channel: str) -> bool:
        """Calls and chats are answered; written channels are responded to."""
        return self.channel_class(channel) in ANSWERED_CLASSES

    @classmethod
    def of(cls, reports: Any, policy: Any) -> MetricRules:
        """From ``[reports]`` and the routing policy in force."""
        return cls(channel_class=policy.channel_class, sla_seconds=reports.sla_seconds,
                   short_abandon_seconds=reports.short_abandon_seconds)

    def known_channels(self, policy: Any, extra: Iterable[str] = ()) -> list[str]:
        return sorted({*DEFAULT_CHANNEL_CLASSES, *policy.channel_classes, *self.sla_seconds, *extra})


@dataclass(slots=True)
class Labeled:
    """Facts with each element's key."""

    facts: Facts
    key_index: np.ndarray  # int32 per element
    keys: list[Key]


def group_by_key(labeled: Labeled, name: Callable[[Key], str]) -> tuple[np.ndarray, list[str]]:
    """Group codes from each element's key (``name`` names a key's group)."""
    names = sorted({name(k) for k in labeled.keys})
    code_of = {n: i for i, n in enumerate(names)}
    per_key = np.array([code_of[name(k)] for k in labeled.keys], np.int64)
    return (per_key[labeled.key_index] if len(per_key) else np.zeros(0, np.int64)), names


def group_by_time(created: np.ndarray, group_by: str, *, zone: ZoneInfo, start: float, end: float,
                  interval: str) -> tuple[np.ndarray, list[str]]:
    """Group codes from the local interval (``2026-12-07T09:30``) or hour of the week (``1-09``)."""
    stretches = utc_offsets(zone, start, end)
    untils = np.array([until for until, _ in stretches[:-1]])
    offsets = np.array([offset for _, offset in stretches], np.float64)
    local = created + offsets[np.searchsorted(untils, created, side="right")]
    step = 3600 if group_by == "hour_of_week" else INTERVAL_SECONDS[interval]
    buckets = np.floor(local / step).astype(np.int64)
    if group_by == "hour_of_week":
        buckets = (buckets + MONDAY_OFFSET_HOURS) % 168
    found, codes = np.unique(buckets, return_inverse=True)
    if group_by == "hour_of_week":
        names = [f"{int(b) // 24 + 1}-{int(b) % 24:02d}" for b in found]
    else:
        names = [(EPOCH + timedelta(seconds=int(b) * step)).isoformat(timespec="minutes") for b in found]
    return codes.astype(np.int64), names


def utc_offsets(zone: ZoneInfo, start: float, end: float) -> list[tuple[float, int]]:
    """The zone's UTC offset (seconds) in stretches over [start, end]: (until, offset) pairs, the
    last one open-ended. Found day by day, then to the second by bisection."""

    def offset(ts: float) -> int:
        delta = datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    stretches: list[tuple[float, int]] = []
    current, ts = offset(start), start
    while ts < end:
        step_end = min(ts + 86400.0, end)
        if offset(step_end) != current:
            low, high = ts, step_end  # offset(low) == current != offset(high)
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            stretches.append((high, current))
            current, ts = offset(high), high
            continue
        ts = step_end
    stretches.append((float("inf"), current))
    return stretches


def summarize(labeled: Labeled, codes: np.ndarray, names: list[str], rules: MetricRules, *,
              now: float) -> dict[str, dict[str, Any]]:
    """The metrics of every group (docs/api.md "Report metrics"), as of ``now``."""
    f, groups = labeled.facts, len(names)
    if not groups or not len(f):
        return {}
    channels = [k[0] for k in labeled.keys]
    answered = np.array([rules.answered(c) for c in channels], bool)[labeled.key_index]
    threshold = np.array([rules.threshold(c) for c in channels], np.float64)[labeled.key_index]
    queued = ~np.isnan(f.queued)
    accepted = (f.flags & ACCEPTED) > 0
    outcome = (f.flags & OUTCOME) > 0
    inbound = (f.flags & INBOUND) > 0
    has_answer, has_first = answered & ~np.isnan(f.answer), ~np.isnan(f.first)
    first_valid = ~answered & inbound & has_first
    with np.errstate(invalid="ignore"):  # (NaN compares false, as a missing time should)
        abandoned = ~np.isnan(f.abandon_wait)
        long_abandon = abandoned & (f.abandon_wait >= rules.short_abandon_seconds)
        in_sla = queued & np.where(answered, has_answer & (f.answer <= threshold), has_first & (f.first <= threshold))
        waiting = np.where(answered, ~accepted & (now - (f.created + f.queued) <= threshold),
                           ~has_first & (now - f.created <= threshold))
    not_yet = queued & ~in_sla & ~outcome & waiting
    has_handle = ~np.isnan(f.handle)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=groups)

    def total(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], weights=values[mask], minlength=groups)

    offered = count(queued)
    base = offered - count(abandoned & ~long_abandon) - count(not_yet)
    figures = {"speed_of_answer_avg": _mean(total(has_answer, f.answer), count(has_answer)),
               "speed_of_answer_p90": _percentile(codes[has_answer], f.answer[has_answer], groups, 90),
               "first_response_avg": _mean(total(first_valid, f.first), count(first_valid)),
               "first_response_p90": _percentile(codes[first_valid], f.first[first_valid], groups, 90),
               "handle_time_avg": _mean(total(has_handle, f.handle), count(has_handle)),
               "sla_percent": _mean(100.0 * count(in_sla), base)}
    counts = {"offered": offered, "handled": count(accepted), "abandoned": count(long_abandon),
              "short_abandoned": count(abandoned & ~long_abandon)}
    present = np.flatnonzero(np.bincount(codes, minlength=groups) > 0)
    return finish_groups([names[g] for g in present], {k: v[present].tolist() for k, v in counts.items()},
                         {k: v[present].tolist() for k, v in figures.items()})


def _mean(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """total / count, NaN where the count is not above 0."""
    out = np.full(len(total), np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def _percentile(codes: np.ndarray, values: np.ndarray, groups: int, pct: int) -> np.ndarray:
    """Nearest-rank percentile of each group's values (NaN for a group without values)."""
    out = np.full(groups, np.nan)
    if not len(values):
        return out
    order = np.lexsort((values, codes))
    counts = np.bincount(codes, minlength=groups)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    rank = np.maximum(1, -(-pct * counts // 100))  # ceil, in whole numbers
    out[has] = values[order][(starts + rank - 1)[has]]
    return out
