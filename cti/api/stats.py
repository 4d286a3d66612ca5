"""Realtime statistics and the summary report."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from aiohttp import web
from pydantic import ConfigDict, Field

from cti import models
from cti.api import schemas as s
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import InvalidInput
from cti.events import EventType, iso
from cti.report_engine import MetricRules
from cti.report_reading import grouped, load, report_groups, satisfaction
from cti.reports import CSV_COLUMNS, pivot_funnel, social_sentiment, time_key
from cti.services.actors import Role
from cti.state import OCCUPYING_STATES
from cti.web import i18n
from cti.web.svg import bar_chart, heat_map


class ReportQuery(s.Query):
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    group_by: Literal["channel", "agent", "queue", "interval", "hour_of_week"] = "channel"
    interval: Literal["15m", "30m", "1h"] = Field(default="30m", description="group_by=interval: the length")
    tz: str = Field(default="UTC", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$",
                    description="an IANA time zone: where intervals and hours of the week are counted")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ChartQuery(ReportQuery):
    metric: Literal["offered", "handled", "abandoned", "speed_of_answer_avg", "first_response_avg",
                    "handle_time_avg", "sla_percent", "csat", "csat_responses", "pivots_sent", "pivots_opened",
                    "pivots_redeemed",
                    "pivots_connected"] = "handled"
    lang: Literal["en", "fi", "zh", "ko", "pl"] = Field(default="en", description="the language of the title and units")


api = Api()
INTERACTIONS = models.interactions
PIVOT_FUNNEL = {EventType.PIVOT_CREATED: "pivots_sent", EventType.PIVOT_OPENED: "pivots_opened",
                EventType.PIVOT_REDEEMED: "pivots_redeemed", EventType.CALLBACK_CONNECTED: "pivots_connected",
                EventType.PIVOT_CONNECTED: "pivots_connected"}  # (a callback, or a browser call, reached an agent)


def _start_of_day(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


@api.route("GET", "/api/v1/stats/realtime", summary="Per queue and channel: waiting, longest wait, agents, SLA % "
           "today; each agent by name with state, since when and current work",
           tag="stats", role=Role.SUPERVISOR, response={"type": "object", "required": ["queues"]})
async def realtime(call: Call) -> dict[str, Any]:
    svc = services(call.request)
    policy, now = svc.policies.current, time.time()
    since = _start_of_day(now)
    rules = metric_rules(svc)
    today = INTERACTIONS.c.created_at >= since

    def read(conn: Any) -> tuple[Any, ...]:
        waiting = conn.execute(
            sa.select(INTERACTIONS.c.queue, INTERACTIONS.c.channel, sa.func.count(),
                      sa.func.min(INTERACTIONS.c.queued_at), sa.func.count(INTERACTIONS.c.sla_breached_at))
            .where(INTERACTIONS.c.state == "queued")
            .group_by(INTERACTIONS.c.queue, INTERACTIONS.c.channel)
        ).all()
        facts = load(conn, since, now + 1)
        by_key = grouped(facts, "queue|channel", rules, now=now)
        overall = grouped(facts, "all", rules, now=now).get("all", {})
        breaches = conn.execute(sa.select(sa.func.count()).where(today, INTERACTIONS.c.sla_breached_at.is_not(None))
                                ).scalar_one()
        scored = conn.execute(sa.select(INTERACTIONS.c.scoring).where(today, INTERACTIONS.c.scoring.is_not(None))).all()
        agents = conn.execute(sa.select(models.agents).where(models.agents.c.deleted.is_(False))).all()
        pivots = conn.execute(sa.select(models.events.c.type, models.events.c.data).where(
            models.events.c.ts >= since, models.events.c.type.in_([t.value for t in PIVOT_FUNNEL]))).all()
        # One state at a time, nothing else in the WHERE and no GROUP BY: with table statistics SQLite
        # would otherwise walk the agent index over every interaction ever (what is held is few rows).
        work = [row for state in WORKING for row in conn.execute(
            sa.select(INTERACTIONS.c.agent_id, INTERACTIONS.c.channel).where(INTERACTIONS.c.state == state))
            if row.agent_id is not None]
        return waiting, by_key, overall, breaches, scored, agents, pivots, work

    waiting, by_key, overall, breaches, scored, agents, pivots, work = await svc.db.read(read)
    rows: dict[str, dict[str, Any]] = {}
    for queue, channel, count, oldest, breached in waiting:
        rows[f"{queue or '(none)'}|{channel}"] = {"waiting": count, "breached_waiting": breached,
                                                  "longest_wait": round(now - oldest, 3) if oldest else 0.0}
        svc.metrics.queue_waiting.labels(queue or "", channel).set(count)
        svc.metrics.queue_longest_wait.labels(queue or "", channel).set(now - oldest if oldest else 0)
    for key in by_key:
        rows.setdefault(key, {"waiting": 0, "breached_waiting": 0, "longest_wait": 0.0})
    queues = []
    for key, entry in sorted(rows.items()):
        queue, channel = key.split("|", 1)
        spec = policy.queue(queue)
        eligible = [a for a in agents if spec is None or all((a.skills or {}).get(k, 0) >= v
                                                             for k, v in spec.skills.items())]
        today_stats = by_key.get(key, {})
        queues.append({"queue": queue, "channel": channel, **entry,
                       "agents_available": sum(1 for a in eligible if a.state == "available"),
                       "agents_signed_in": sum(1 for a in eligible if a.state != "offline"),
                       "offered_today": today_stats.get("offered", 0), "handled_today": today_stats.get("handled", 0),
                       "sla_percent_today": today_stats.get("sla_percent")})
    states: dict[str, int] = {}
    for a in agents:
        states[a.state] = states.get(a.state, 0) + 1
    return {"ts": iso(now), "queues": queues, "agents": states, "people": people(agents, work),
            "pivot_today": pivot_funnel(pivots),
            "today": {**{k: overall.get(k) for k in ("offered", "handled", "abandoned", "sla_percent")},
                      "sla_breaches": breaches},
            "social_today": social_sentiment(scored)}


def metric_rules(svc: Any) -> MetricRules:
    """The report definitions' inputs from the running configuration and routing policy."""
    return MetricRules.of(svc.config.reports, svc.policies.current)


WORKING = sorted(state.value for state in OCCUPYING_STATES)  # what an agent holds (offered, active, held, wrap-up)


def people(agents: list[Any], work: list[Any]) -> list[dict[str, Any]]:
    """Each agent by name: state, since when, and what they hold now (interactions per channel)."""
    holding: dict[str, dict[str, int]] = {}
    for agent_id, channel in work:
        mine = holding.setdefault(agent_id, {})
        mine[channel] = mine.get(channel, 0) + 1
    return [{"id": a.id, "name": a.name, "state": a.state, "state_since": iso(a.state_changed_at),
             "work": holding.get(a.id, {})} for a in sorted(agents, key=lambda a: (a.name.lower(), a.id))]


@api.route("GET", "/api/v1/reports/summary", summary="Summary report (Accept: text/csv for CSV)", tag="stats",
           role=Role.SUPERVISOR, query=ReportQuery, errors=(400,),
           response={"type": "object", "required": ["groups"]})
async def summary(call: Call) -> Any:
    report = await _summary(call)
    if "text/csv" in call.request.headers.get("Accept", ""):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for name, g in sorted(report["groups"].items()):
            writer.writerow([name, *("" if g.get(c) is None else g.get(c) for c in CSV_COLUMNS[1:])])
        return web.Response(text=out.getvalue(), content_type="text/csv")
    return report


@api.route("GET", "/api/v1/reports/chart", summary="One metric of the summary report as an SVG bar chart",
           tag="stats", role=Role.SUPERVISOR, query=ChartQuery, errors=(400,), raw=True,
           response={"type": "string"})
async def chart(call: Call) -> web.Response:
    report = await _summary(call)
    metric = call.query.metric
    values = {name: g.get(metric) for name, g in sorted(report["groups"].items())}
    lang = call.query.lang
    title = i18n.text(lang, "reports.chart_title", metric=i18n.text(lang, f"reports.col_{metric}"),
                      group=i18n.text(lang, f"reports.by_{report['group_by']}").lower())
    unit = "%" if metric.endswith("percent") else "s" if metric.endswith(("_avg", "_p90")) else ""
    units = {name: i18n.text(lang, f"unit.{name}") for name in ("s", "min", "h")}
    if report["group_by"] == "hour_of_week":
        days = [i18n.text(lang, f"day.{day}") for day in range(1, 8)]
        return web.Response(text=heat_map(title, values, days=days, unit=unit, units=units),
                            content_type="image/svg+xml")
    return web.Response(text=bar_chart(title, values, unit=unit, units=units), content_type="image/svg+xml")


async def _summary(call: Call) -> dict[str, Any]:
    svc, q = services(call.request), call.query
    now = time.time()
    start = q.from_.timestamp() if q.from_ else _start_of_day(now)
    end = q.to.timestamp() if q.to else now
    if end < start:
        raise InvalidInput("'to' is before 'from'", details={"to": "before from"})
    try:
        zone = ZoneInfo(q.tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {q.tz!r}", details={"tz": "not an IANA time zone"}) from exc

    by_time_of_day = q.group_by in ("interval", "hour_of_week")
    rules = metric_rules(svc)

    def read(conn: Any) -> tuple[dict[str, dict[str, Any]], list[Any]]:
        groups = report_groups(conn, start, end, q.group_by, rules, now=now, zone=zone, interval=q.interval)
        for name, figures in satisfaction(conn, start, end, q.group_by, zone=zone, interval=q.interval).items():
            groups.setdefault(name, {c: 0 for c in CSV_COLUMNS[1:]}).update(figures)
        pivots = conn.execute(sa.select(models.events.c.type, models.events.c.data, models.events.c.queue,
                                        models.events.c.agent_id, models.events.c.ts)
                              .where(models.events.c.ts >= start, models.events.c.ts < end,
                                     models.events.c.type.in_([t.value for t in PIVOT_FUNNEL]))).all()
        return groups, pivots

    groups, pivots = await svc.db.read(read)
    for g in groups.values():
        g.update({name: 0 for name in PIVOT_FUNNEL.values()})
        g.setdefault("csat", None)
        g.setdefault("csat_responses", 0)
    for p in pivots:
        name = time_key(p.ts, q.group_by, zone, q.interval) if by_time_of_day else {
            "agent": p.agent_id, "queue": p.queue, "channel": (p.data or {}).get("channel")}[q.group_by]
        groups.setdefault(name or "(none)", {c: 0 for c in CSV_COLUMNS[1:]})
        groups[name or "(none)"][PIVOT_FUNNEL[EventType(p.type)]] += 1
    report = {"from": iso(start), "to": iso(end), "group_by": q.group_by, "groups": dict(sorted(groups.items())),
              "pivot": pivot_funnel(pivots)}
    if by_time_of_day:
        report.update(tz=q.tz, **({"interval": q.interval} if q.group_by == "interval" else {}))
    return report
