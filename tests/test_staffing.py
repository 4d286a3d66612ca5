"""Staffing from volumes: Erlang C checked against published values, workload staffing for written
channels, and GET /api/v1/staffing (supervisors; bad input is a 400).

The published values: 100 calls in 30 minutes, 180 s handle time, 20 s target (10 erlangs), as
printed in the documentation of two independent packages, pyworkforce (PyPI, ErlangC example:
14 positions on the queue, 20 with 30 % shrinkage, service level 0.88835, occupancy 0.7142857,
waiting probability 0.1741319) and the R package ErlangC on CRAN (erlang_c(): the same, with an
average speed of answer of 7.8359 s, and its search table starting at 11 agents with a waiting
probability of 0.6821182)."""

from __future__ import annotations

import math

import pytest

from cti.client import CtiApiError
from cti.staffing import erlang_c_staffing, service_level, speed_of_answer, wait_probability, workload_staffing
from tests.harness import Harness


def test_erlang_c_matches_published_values() -> None:
    assert wait_probability(11, 10.0) == pytest.approx(0.6821182, abs=1e-7)
    assert wait_probability(14, 10.0) == pytest.approx(0.1741319, abs=1e-7)
    assert service_level(14, 10.0, 180, 20) == pytest.approx(0.88835, abs=1e-5)
    assert speed_of_answer(14, 10.0, 180) == pytest.approx(7.835937, abs=1e-5)
    staffed = erlang_c_staffing(100, 1800, 180, target=0.8, threshold=20, shrinkage=0.3, max_occupancy=0.85)
    assert (staffed.agents, staffed.scheduled_agents) == (14, 20)
    assert staffed.occupancy == pytest.approx(0.7142857, abs=1e-7)
    assert service_level(13, 10.0, 180, 20) < 0.8  # 14 is the fewest


def test_erlang_c_at_the_edges() -> None:
    assert wait_probability(10, 10.0) == 1.0 and service_level(9, 10.0, 180, 20) == 0.0  # cannot keep up
    assert math.isinf(speed_of_answer(10, 10.0, 180))
    assert wait_probability(5, 0.0) == 0.0
    large = erlang_c_staffing(20_000, 1800, 300, target=0.9, threshold=20)  # 3,333 erlangs: no overflow
    assert 3_334 <= large.agents < 3_500 and 0.9 <= (large.service_level or 0) < 0.95
    nothing = erlang_c_staffing(0, 1800, 180, target=0.8, threshold=20)
    assert nothing.agents == 1  # somebody answers the first call
    with pytest.raises(ValueError):  # 1.44 billion erlangs: refused, not computed
        erlang_c_staffing(1_000_000, 60, 86_400, target=0.8, threshold=20)
    chats = erlang_c_staffing(100, 1800, 180, target=0.8, threshold=20, concurrency=3)
    assert chats.agents == 5  # 14 chat slots, three per agent


def test_workload_staffing_for_written_channels() -> None:
    # 300 emails an hour, 4 minutes each: 20 agent-hours of work an hour; at 85 % occupancy 24 agents
    # (20 / 0.85 = 23.5), with 30 % shrinkage 35 to schedule (24 / 0.7 = 34.3).
    staffed = workload_staffing(300, 3600, 240, occupancy=0.85, shrinkage=0.3)
    assert (staffed.agents, staffed.scheduled_agents) == (24, 35)
    assert staffed.occupancy == pytest.approx(20 / 24)
    assert workload_staffing(300, 3600, 240, concurrency=4, occupancy=0.85).agents == 6  # 20 / 3.4 = 5.9


async def test_the_staffing_route(harness: Harness) -> None:
    supervisor = harness.client((await harness.admin.create_token("supervisor"))["token"])
    voice = await supervisor.request("GET", "/api/v1/staffing", params={
        "channel": "voice", "contacts": "100", "interval_minutes": "30", "aht_seconds": "180",
        "service_level": "0.8", "threshold_seconds": "20", "shrinkage": "0.3"})
    assert voice == {"channel": "voice", "method": "erlang_c", "traffic_erlangs": 10.0, "agents": 14,
                     "scheduled_agents": 20, "service_level": 0.8884, "asa_seconds": 7.84,
                     "wait_probability": 0.1741, "occupancy": 0.7143}
    email = await supervisor.request("GET", "/api/v1/staffing", params={
        "channel": "email", "contacts": "150", "interval_minutes": "30", "aht_seconds": "240"})
    assert (email["method"], email["agents"]) == ("workload", 24)
    agent = await harness.agent("alice")
    for client, params, status in (
            (agent, {"contacts": "1", "aht_seconds": "60"}, 403),
            (supervisor, {"contacts": "-1", "aht_seconds": "60"}, 400),
            (supervisor, {"contacts": "10", "aht_seconds": "0"}, 400),
            (supervisor, {"contacts": "10", "aht_seconds": "60", "service_level": "1"}, 400),
            (supervisor, {"contacts": "10", "aht_seconds": "60", "shrinkage": "0.99"}, 400),
            (supervisor, {"contacts": "10", "aht_seconds": "60", "channel": "../x"}, 400),
            (supervisor, {"aht_seconds": "60"}, 400),
            (supervisor, {"contacts": "1000000", "interval_minutes": "1", "aht_seconds": "86400"}, 400)):
        with pytest.raises(CtiApiError) as refused:
            await client.request("GET", "/api/v1/staffing", params=params)
        assert refused.value.status == status, (params, refused.value)
