"""``GET /api/v1/staffing``: how many agents a volume of contacts needs (``cti/staffing.py``).

Calls and chats (the channel's capacity class ``voice`` or ``chat``) wait in a queue for a free
agent: Erlang C, the fewest agents that answer ``service_level`` of the contacts within
``threshold_seconds`` (a chat agent handling ``concurrency`` chats counts as that many servers).
Email and social wait in an inbox: workload staffing at ``occupancy``, ``concurrency`` at a time.
``shrinkage`` turns agents on the queue into agents to schedule. Supervisors and admins.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from cti.api import schemas as s
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import InvalidInput
from cti.services.actors import Role
from cti.staffing import Staffing, erlang_c_staffing, workload_staffing

api = Api()
QUEUED_CLASSES = ("voice", "chat")  # contacts that wait for a free agent (Erlang C); the rest: workload


class StaffingQuery(s.Query):
    channel: str = Field(default="voice", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    contacts: float = Field(ge=0, le=1_000_000, description="contacts arriving in one interval")
    interval_minutes: float = Field(default=30, gt=0, le=1440)
    aht_seconds: float = Field(gt=0, le=86_400, description="average handle time, seconds")
    service_level: float = Field(default=0.8, gt=0, lt=1, description="share answered within threshold_seconds")
    threshold_seconds: float = Field(default=20, ge=0, le=86_400)
    shrinkage: float = Field(default=0.0, ge=0, le=0.95, description="share of paid time agents are not available")
    concurrency: int = Field(default=1, ge=1, le=50, description="contacts an agent handles at once")
    max_occupancy: float | None = Field(default=None, gt=0, le=1, description="Erlang C: an occupancy ceiling")
    occupancy: float = Field(default=0.85, gt=0, le=1, description="workload staffing: the target occupancy")


STAFFING_OUT = {"type": "object", "required": ["channel", "method", "agents", "scheduled_agents", "occupancy"],
                "properties": {
                    "channel": {"type": "string"}, "method": {"enum": ["erlang_c", "workload"]},
                    "traffic_erlangs": {"type": "number"},
                    "agents": {"type": "integer", "description": "the fewest agents on the queue meeting the target"},
                    "scheduled_agents": {"type": "integer", "description": "agents to schedule after shrinkage"},
                    "service_level": {"type": ["number", "null"]}, "asa_seconds": {"type": ["number", "null"]},
                    "wait_probability": {"type": ["number", "null"]}, "occupancy": {"type": "number"}}}


@api.route("GET", "/api/v1/staffing", summary="Agents needed for a volume of contacts: Erlang C for calls and "
           "chats, workload for written channels, with shrinkage", tag="stats", role=Role.SUPERVISOR,
           query=StaffingQuery, errors=(400,), response=STAFFING_OUT)
async def staffing(call: Call) -> dict[str, Any]:
    q: StaffingQuery = call.query
    interval = q.interval_minutes * 60
    if services(call.request).policies.current.channel_class(q.channel) in QUEUED_CLASSES:
        try:
            result = erlang_c_staffing(q.contacts, interval, q.aht_seconds, target=q.service_level,
                                       threshold=q.threshold_seconds, shrinkage=q.shrinkage,
                                       concurrency=q.concurrency, max_occupancy=q.max_occupancy)
        except ValueError as exc:
            raise InvalidInput(f"{exc}: give a shorter interval or check the numbers", code="too_much_traffic",
                               details={"contacts": "too many for the interval"}) from exc
    else:
        result = workload_staffing(q.contacts, interval, q.aht_seconds, concurrency=q.concurrency,
                                   occupancy=q.occupancy, shrinkage=q.shrinkage)
    return {"channel": q.channel, **render(result)}


def render(result: Staffing) -> dict[str, Any]:
    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None or math.isinf(value) else round(value, digits)

    return {"method": result.method, "traffic_erlangs": round(result.traffic_erlangs, 4), "agents": result.agents,
            "scheduled_agents": result.scheduled_agents, "service_level": rounded(result.service_level, 4),
            "asa_seconds": rounded(result.asa_seconds, 2), "wait_probability": rounded(result.wait_probability, 4),
            "occupancy": round(result.occupancy, 4)}
