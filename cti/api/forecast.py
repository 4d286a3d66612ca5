"""``GET /api/v1/forecast``: expected contacts and handle time per interval from the history
(cti/forecast.py), the agents each interval needs (as ``/staffing``), the agents who were available
in intervals already past, and how far last week's forecast was from what happened.
``GET /api/v1/forecast/chart`` draws it for the reports page. Supervisors and admins."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from aiohttp import web
from pydantic import Field

from cti import forecast as fc
from cti import models
from cti.api import schemas as s
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import InvalidInput
from cti.events import EventType, iso
from cti.report_engine import MetricRules
from cti.report_rollup import load
from cti.reports import INTERVAL_SECONDS
from cti.services.actors import Role
from cti.staffing import erlang_c_staffing, workload_staffing
from cti.web import i18n
from cti.web.svg import series_chart

api = Api()
MAX_DAYS = 31


class ForecastQuery(s.Query):
    channel: str = Field(default="voice", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    from_: datetime | None = Field(default=None, alias="from", description="default: the start of this interval")
    to: datetime | None = Field(default=None, description="default: a week after from (at most 31 days)")
    interval: Literal["15m", "30m", "1h"] = "30m"
    tz: str = Field(default="UTC", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$",
                    description="the IANA time zone whose weeks repeat (Monday 09:00 there)")
    weeks: int = Field(default=6, ge=1, le=26, description="weeks of history to learn from")
    service_level: float = Field(default=0.8, gt=0, lt=1)
    shrinkage: float = Field(default=0.0, ge=0, le=0.95)
    concurrency: int = Field(default=1, ge=1, le=50)
    occupancy: float = Field(default=0.85, gt=0, le=1)


class ForecastChartQuery(ForecastQuery):
    metric: Literal["contacts", "agents"] = "contacts"
    lang: Literal["en", "fi", "zh", "ko", "pl"] = "en"


INTERVAL_OUT = {"type": "object", "properties": {
    "start": {"type": "string"}, "contacts": {"type": "number"}, "aht_seconds": {"type": ["number", "null"]},
    "agents_needed": {"type": "integer"}, "scheduled_agents": {"type": "integer"},
    "actual_contacts": {"type": ["integer", "null"], "description": "intervals already past: what arrived"},
    "agents_available": {"type": ["number", "null"], "description": "intervals already past: average agents "
                                                                     "available"}}}
FORECAST_OUT = {"type": "object", "required": ["channel", "intervals", "last_week"], "properties": {
    "channel": {"type": "string"}, "method": {"type": "string"}, "intervals": {"type": "array", "items": INTERVAL_OUT},
    "last_week": {"type": "object", "description": "last week forecast from the weeks before it, against what "
                                                   "arrived: wape_percent = sum |forecast - actual| / sum actual"}}}


@api.route("GET", "/api/v1/forecast", summary="Expected contacts, handle time and agents needed per interval, "
           "from the history (seasonal by the week), against the agents who were available",
           tag="stats", role=Role.SUPERVISOR, query=ForecastQuery, errors=(400,), response=FORECAST_OUT)
async def get_forecast(call: Call) -> dict[str, Any]:
    return await _forecast(call)


@api.route("GET", "/api/v1/forecast/chart", summary="The forecast as an SVG chart (contacts, or agents needed "
           "against available)", tag="stats", role=Role.SUPERVISOR, query=ForecastChartQuery, errors=(400,),
           raw=True, response={"type": "string"})
async def forecast_chart(call: Call) -> web.Response:
    result, q = await _forecast(call), call.query
    lang, zone = q.lang, ZoneInfo(q.tz)
    rows = result["intervals"]
    starts = [datetime.fromisoformat(r["start"].replace("Z", "+00:00")).astimezone(zone) for r in rows]
    ticks = [(i, f"{i18n.text(lang, f'day.{at.isoweekday()}')} {at:%d.%m.}") for i, at in enumerate(starts)
             if at.hour == 0 and at.minute == 0]
    if q.metric == "contacts":
        title = i18n.text(lang, "forecast.chart_contacts", channel=q.channel)
        series = [(i18n.text(lang, "forecast.expected"), [r["contacts"] for r in rows], "bars"),
                  (i18n.text(lang, "forecast.arrived"), [r["actual_contacts"] for r in rows], "line")]
    else:
        title = i18n.text(lang, "forecast.chart_agents", channel=q.channel)
        series = [(i18n.text(lang, "forecast.needed"), [float(r["scheduled_agents"]) for r in rows], "line"),
                  (i18n.text(lang, "forecast.available"), [r["agents_available"] for r in rows], "line")]
    return web.Response(text=series_chart(title, ticks, series, count=len(rows)), content_type="image/svg+xml")


async def _forecast(call: Call) -> dict[str, Any]:
    svc, q = services(call.request), call.query
    try:
        zone = ZoneInfo(q.tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {q.tz!r}", details={"tz": "not an IANA time zone"}) from exc
    step, now = INTERVAL_SECONDS[q.interval], time.time()
    start = q.from_.timestamp() if q.from_ else now // step * step
    start = start // step * step
    end = q.to.timestamp() if q.to else start + fc.WEEK
    if not start < end <= start + MAX_DAYS * 86400:
        raise InvalidInput(f"'to' must be after 'from' and at most {MAX_DAYS} days later", details={"to": "range"})
    rules = MetricRules.of(svc.config.reports, svc.policies.current)
    history_start = start - (q.weeks + 1) * fc.WEEK

    def read(conn: Any) -> tuple[Any, list[Any], list[Any]]:
        labeled = load(conn, history_start, max(end, start))
        E = models.events
        changes = conn.execute(sa.select(E.c.ts, E.c.agent_id, E.c.data).where(
            E.c.type == EventType.AGENT_STATE_CHANGED.value, E.c.ts >= start - fc.WEEK, E.c.ts < min(end, now))
            .order_by(E.c.seq)).all()
        agents = conn.execute(sa.select(models.agents.c.id, models.agents.c.state, models.agents.c.state_changed_at)
                              .where(models.agents.c.deleted.is_(False))).all()
        return labeled, changes, agents

    labeled, changes, agents = await svc.db.read(read)
    created, handle = fc.contacts_of(labeled, q.channel)
    state_changes = [_Change(c.ts, c.agent_id, (c.data or {}).get("agent", {}).get("state"),
                             (c.data or {}).get("previous")) for c in changes]
    slots = fc.forecast(created, handle, start=start, end=end, step=step, zone=zone, weeks=q.weeks, observed_until=now)
    past = [slot.start for slot in slots if slot.start + step <= now]
    actual = fc.actual_counts(created, past, step)
    available = fc.available_agents(state_changes, agents, past, step)
    answered = rules.answered(q.channel)
    intervals = []
    for index, slot in enumerate(slots):
        needed = _staffing(slot.contacts, step, slot.aht, q, answered, rules.threshold(q.channel))
        intervals.append({"start": iso(slot.start), "contacts": round(slot.contacts, 2),
                          "aht_seconds": None if slot.aht is None else round(slot.aht, 1), **needed,
                          "actual_contacts": actual[index] if index < len(actual) else None,
                          "agents_available": available[index] if index < len(available) else None})
    last = [slot for slot in fc.forecast(created, handle, start=start - fc.WEEK, end=start, step=step, zone=zone,
                                         weeks=q.weeks) if slot.start + step <= now]  # (what has happened)
    last_actual = fc.actual_counts(created, [slot.start for slot in last], step)
    error = fc.wape([slot.contacts for slot in last], last_actual)
    return {"channel": q.channel, "interval": q.interval, "tz": q.tz, "from": iso(start), "to": iso(end),
            "weeks": q.weeks, "method": "seasonal exponentially weighted average (alpha 0.3) of each slot of the week",
            "intervals": intervals,
            "last_week": {"from": iso(start - fc.WEEK), "to": iso(start),
                          "forecast_contacts": round(sum(slot.contacts for slot in last), 1),
                          "actual_contacts": sum(last_actual),
                          "wape_percent": None if error is None else round(error, 1)}}


class _Change:
    __slots__ = ("agent_id", "previous", "state", "ts")

    def __init__(self, ts: float, agent_id: str, state: str | None, previous: str | None) -> None:
        self.ts, self.agent_id, self.state, self.previous = ts, agent_id, state or "offline", previous


def _staffing(contacts: float, step: int, aht: float | None, q: ForecastQuery, answered: bool,
              threshold: float) -> dict[str, int]:
    if contacts <= 1e-9 or not aht:
        return {"agents_needed": 0, "scheduled_agents": 0}
    if answered:
        try:
            result = erlang_c_staffing(contacts, step, aht, target=q.service_level, threshold=threshold,
                                       shrinkage=q.shrinkage, concurrency=q.concurrency)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="too_much_traffic", details={"interval": "too much traffic"}) from exc
    else:
        result = workload_staffing(contacts, step, aht, concurrency=q.concurrency, occupancy=q.occupancy,
                                   shrinkage=q.shrinkage)
    return {"agents_needed": result.agents, "scheduled_agents": result.scheduled_agents}

