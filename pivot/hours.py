"""Opening hours: the times a customer may pick for "call me at a time", and whether we are open
now (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pivot.settings import WEEKDAYS, PivotConfig

SLOT_MINUTES = 30
LEAD_MINUTES = 15  # the earliest slot is at least this far ahead


def slots(config: PivotConfig, now: float) -> list[datetime]:
    """Every bookable start time (aware, in the company's zone), in order."""
    zone = ZoneInfo(config.timezone)
    local_now = datetime.fromtimestamp(now, zone)
    earliest = local_now + timedelta(minutes=LEAD_MINUTES)
    out: list[datetime] = []
    for offset in range(config.schedule_days_ahead + 1):
        day = (local_now + timedelta(days=offset)).date()
        span = config.opening_hours.get(WEEKDAYS[day.weekday()])
        if not span:
            continue
        start_h, start_m = (int(x) for x in span[:5].split(":"))
        end_h, end_m = (int(x) for x in span[6:].split(":"))
        cursor = datetime(day.year, day.month, day.day, start_h, start_m, tzinfo=zone)
        end = datetime(day.year, day.month, day.day, 0, 0, tzinfo=zone) + timedelta(hours=end_h, minutes=end_m)
        while cursor + timedelta(minutes=SLOT_MINUTES) <= end:
            if cursor >= earliest:
                out.append(cursor)
            cursor += timedelta(minutes=SLOT_MINUTES)
    return out


def open_now(config: PivotConfig, now: float) -> bool:
    """Whether ``now`` is inside today's opening hours (the web chat says "closed" outside them)."""
    local = datetime.fromtimestamp(now, ZoneInfo(config.timezone))
    span = config.opening_hours.get(WEEKDAYS[local.weekday()]) or ""
    return bool(span) and span[:5] <= local.strftime("%H:%M") < span[6:]


def parse_choice(value: str, config: PivotConfig, now: float) -> float | None:
    """The epoch time of a chosen slot (an ISO 8601 time that is one of ``slots``), else None."""
    try:
        chosen = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if chosen.tzinfo is None:
        return None
    wanted = chosen.astimezone(UTC)
    for slot in slots(config, now):
        if slot.astimezone(UTC) == wanted:
            return wanted.timestamp()
    return None
