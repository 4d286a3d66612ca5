"""The report metrics of ``cti/reports.py`` computed inside the database.

A report over a million interactions must not carry a million rows into Python. The database
sums each group's counts and durations in one pass (``GROUP BY`` a *fine key*: the column grouped
by, or the local interval or hour an interaction began in), and counts each percentile's values
in milliseconds (a histogram: one row per distinct millisecond, not per interaction). Python then
merges fine keys into the groups asked for (every figure is a sum, so merging is exact) and reads
the 90th percentiles off the histograms, to the millisecond the report rounds to anyway.

Local time without a time-zone library in SQL: the zone's UTC offsets over the report's range are
a handful of stretches (one per daylight-saving change), so the offset is a ``CASE`` over them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from cti import models
from cti.reports import ANSWERED_CLASSES, INTERVAL_SECONDS, OUTCOME_STATES, finish_group
from cti.routing.policy import DEFAULT_CHANNEL_CLASSES

I = models.interactions  # the table every query here reads
SUMS = ("offered", "handled", "abandoned", "short_abandoned", "answer_sum", "answer_n", "first_sum", "first_n",
        "handle_sum", "handle_n", "in_sla", "not_yet")
EPOCH = datetime(1970, 1, 1)
MONDAY_OFFSET_HOURS = 72  # 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its ISO week


@dataclass(frozen=True, slots=True)
class MetricRules:
    """What the definitions depend on: each channel's class and service-level threshold."""

    channel_class: Callable[[str], str]
    known_channels: Iterable[str]
    sla_seconds: dict[str, float]
    short_abandon_seconds: float

    def threshold(self, channel: str) -> float:
        return self.sla_seconds.get(channel, self.sla_seconds.get(self.channel_class(channel), 60.0))

    @classmethod
    def of(cls, reports: Any, policy: Any, channel_names: Iterable[str]) -> MetricRules:
        """From ``[reports]``, the routing policy in force and the configured channels."""
        known = {*DEFAULT_CHANNEL_CLASSES, *policy.channel_classes, *reports.sla_seconds, *channel_names}
        return cls(channel_class=policy.channel_class, known_channels=frozenset(known),
                   sla_seconds=reports.sla_seconds, short_abandon_seconds=reports.short_abandon_seconds)


@dataclass(frozen=True, slots=True)
class Grouping:
    """How rows are grouped: ``fine`` are the SQL expressions, ``name`` turns their values into a group name."""

    fine: tuple[Any, ...]
    name: Callable[..., str]


def by_columns(*columns: str) -> Grouping:
    """By the value of one column (``(none)`` for none), or of several joined with ``|``."""
    return Grouping(fine=tuple(I.c[c] for c in columns), name=lambda *values: "|".join(v or "(none)" for v in values))


def everything(name: str = "all") -> Grouping:
    return Grouping(fine=(), name=lambda: name)


def by_time(group_by: str, *, zone: ZoneInfo, start: float, end: float, interval: str, postgres: bool,
            column: Any = None) -> Grouping:
    """The local interval (``2026-12-07T09:30``) or hour of the week (``1-09``) a row began in."""
    column = I.c.created_at if column is None else column
    step = 3600 if group_by == "hour_of_week" else INTERVAL_SECONDS[interval]
    local = column + _offset_expression(column, zone, start, end)
    fine = sa.cast(sa.func.floor(local / step), sa.BigInteger) if postgres else sa.cast(local / step, sa.Integer)
    return Grouping(fine=(fine,), name=_hour_of_week if group_by == "hour_of_week" else
                    lambda bucket: (EPOCH + timedelta(seconds=int(bucket) * step)).isoformat(timespec="minutes"))


def _hour_of_week(hour: Any) -> str:
    """``1-09`` (Monday, 09:00-09:59) from a count of local hours since the epoch."""
    index = (int(hour) + MONDAY_OFFSET_HOURS) % 168
    return f"{index // 24 + 1}-{index % 24:02d}"


def _offset_expression(column: Any, zone: ZoneInfo, start: float, end: float) -> Any:
    stretches = utc_offsets(zone, start, end)
    if len(stretches) == 1:
        return sa.literal(stretches[0][1])
    return sa.case(*((column < until, offset) for until, offset in stretches[:-1]), else_=stretches[-1][1])


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
            current = offset(high)
            ts = high
            continue
        ts = step_end
    stretches.append((float("inf"), current))
    return stretches


def answered_channels(rules: MetricRules) -> Any:
    """Rows of channels whose interactions are answered (voice, chat): every channel not known as written."""
    written = sorted(c for c in set(rules.known_channels) if rules.channel_class(c) not in ANSWERED_CLASSES)
    return I.c.channel.not_in(written) if written else sa.true()


def threshold_of(rules: MetricRules) -> Any:
    known = sorted(set(rules.known_channels) | set(rules.sla_seconds))
    default = rules.sla_seconds.get(rules.channel_class("\x00unknown"), 60.0)
    return sa.case({c: rules.threshold(c) for c in known}, value=I.c.channel, else_=default)


def _count(condition: Any) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def metric_columns(rules: MetricRules, now: float) -> list[Any]:
    """The additive figures of one group (SUMS, in that order)."""
    answered, threshold = answered_channels(rules), threshold_of(rules)
    answer, first, handle = answer_seconds(rules), first_response_seconds(rules), handle_seconds()
    waited = sa.func.coalesce(I.c.ended_at, I.c.queued_at, 0) - sa.func.coalesce(I.c.queued_at, I.c.created_at)
    abandoned = I.c.state == "abandoned"
    queued = I.c.queued_at.is_not(None)
    in_sla = queued & sa.or_(answered & I.c.accepted_at.is_not(None) & (I.c.accepted_at - I.c.queued_at <= threshold),
                             ~answered & I.c.first_response_at.is_not(None)
                             & (I.c.first_response_at - I.c.created_at <= threshold))
    not_yet = queued & ~in_sla & I.c.state.not_in(OUTCOME_STATES) & sa.or_(
        answered & I.c.accepted_at.is_(None) & (now - I.c.queued_at <= threshold),
        ~answered & I.c.first_response_at.is_(None) & (now - I.c.created_at <= threshold))
    return [sa.func.count(I.c.queued_at), sa.func.count(I.c.accepted_at),
            _count(abandoned & (waited >= rules.short_abandon_seconds)),
            _count(abandoned & (waited < rules.short_abandon_seconds)),
            sa.func.coalesce(sa.func.sum(answer), 0), sa.func.count(answer),
            sa.func.coalesce(sa.func.sum(first), 0), sa.func.count(first),
            sa.func.coalesce(sa.func.sum(handle), 0), sa.func.count(handle),
            _count(in_sla), _count(not_yet)]


def answer_seconds(rules: MetricRules) -> Any:
    return sa.case((answered_channels(rules) & I.c.queued_at.is_not(None), I.c.accepted_at - I.c.queued_at))


def first_response_seconds(rules: MetricRules) -> Any:
    return sa.case((~answered_channels(rules) & (I.c.direction == "inbound"), I.c.first_response_at - I.c.created_at))


def handle_seconds() -> Any:
    return I.c.closed_at - I.c.accepted_at


def summarize(conn: Any, where: Any, grouping: Grouping, rules: MetricRules, *,
              now: float) -> dict[str, dict[str, Any]]:
    """The metrics of every group of the interactions ``where`` selects (see cti/reports.py)."""
    fine, width = grouping.fine, len(grouping.fine)
    sums: dict[str, dict[str, float]] = {}
    for row in conn.execute(sa.select(*fine, *metric_columns(rules, now)).where(where).group_by(*fine)):
        group = sums.setdefault(grouping.name(*row[:width]), dict.fromkeys(SUMS, 0.0))
        for name, value in zip(SUMS, row[width:], strict=True):
            group[name] += float(value or 0)
    histograms = {name: _histogram(conn, where, grouping, seconds)
                  for name, seconds in (("answer", answer_seconds(rules)), ("first", first_response_seconds(rules)))}
    return {name: finish_group(group, p90={h: percentile_of(histograms[h].get(name, {}), 90) for h in histograms})
            for name, group in sorted(sums.items())}


def _histogram(conn: Any, where: Any, grouping: Grouping, seconds: Any) -> dict[str, dict[int, int]]:
    """Per group: how many values there are of each whole millisecond."""
    fine, width, millis = grouping.fine, len(grouping.fine), sa.func.round(seconds * 1000).label("ms")
    found: dict[str, dict[int, int]] = {}
    rows = conn.execute(sa.select(*fine, millis, sa.func.count()).where(where, seconds.is_not(None))
                        .group_by(*fine, millis))
    for *fine_values, ms, count in rows:
        counts = found.setdefault(grouping.name(*fine_values[:width]), {})
        counts[int(ms)] = counts.get(int(ms), 0) + int(count)
    return found


def percentile_of(counts: dict[int, int], pct: float) -> float | None:
    """Nearest-rank percentile (seconds) of values counted per millisecond, or None for none."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, -(-pct * total // 100))  # ceil
    keys = sorted(counts)
    running = list(_running(counts[k] for k in keys))
    return keys[bisect.bisect_left(running, rank)] / 1000


def _running(values: Iterable[int]) -> Iterable[int]:
    total = 0
    for value in values:
        total += value
        yield total
