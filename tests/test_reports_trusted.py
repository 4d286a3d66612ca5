"""Reports people can trust: a scenario of known arrivals, waits, answers, abandons (short and
long), first responses and wrap-ups on voice, chat, email and social, every metric worked out by
hand below, compared with /reports/summary (JSON and CSV) and /stats/realtime, on SQLite and on
PostgreSQL.

Definitions (docs/api.md): offered = entered a queue; handled = accepted; abandoned = left before
acceptance after waiting at least 5 s (shorter: short_abandoned, left out of the service level);
speed of answer (voice, chat) = queued -> accepted; first response (written) = received -> first
reply; handle time = accepted -> wrap-up done; service level = answered (or first-responded)
within the channel's threshold (voice 20 s, chat 60 s, social 3600 s, email 86400 s) / (offered -
short abandons - those still waiting inside their threshold); p90 = nearest rank."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from cti.events import Event, EventType
from cti.gateway import CoreGateway
from cti.report_rollup import roll
from tests.harness import Harness, make_config, running_server

CHANNELS = {"custom": [
    {"name": "shop-chat", "outbound_url": "http://127.0.0.1:9/unused", "secret": "shop-secret-0123456789"},
    {"name": "social-gw", "outbound_url": "http://127.0.0.1:9/unused", "secret": "social-secret-0123456789",
     "capacity_class": "social"},
    {"name": "mail-gw", "outbound_url": "http://127.0.0.1:9/unused", "secret": "mail-secret-0123456789",
     "capacity_class": "email"},
]}
SPAN = 6000.0  # the scenario's first arrival is this long before now

# name: channel, agent, and seconds after the first arrival (None: never) of queued, accepted,
# first_response, closed (wrap-up done), ended (an abandon), and the state now.
SCENARIO: dict[str, dict[str, Any]] = {
    # voice: 20 s threshold
    "V1": dict(channel="voice", agent="ann", queued=0, accepted=10, closed=130, state="ended"),
    "V2": dict(channel="voice", agent="ben", queued=0, accepted=30, closed=330, state="ended"),
    "V3": dict(channel="voice", agent=None, queued=0, ended=3, state="abandoned"),  # short abandon
    "V4": dict(channel="voice", agent=None, queued=0, ended=40, state="abandoned"),  # abandon
    "V5": dict(channel="voice", agent=None, queued=SPAN - 10, state="queued"),  # 10 s waiting: not yet
    # chat: 60 s threshold
    "C1": dict(channel="shop-chat", agent="ann", queued=0, accepted=50, closed=650, state="ended"),
    "C2": dict(channel="shop-chat", agent="ben", queued=0, accepted=90, state="active"),
    # social: 3600 s threshold on the first response
    "S1": dict(channel="social-gw", agent="ann", queued=0, accepted=100, first_response=600, closed=900,
               state="ended"),
    "S2": dict(channel="social-gw", agent="ben", queued=0, accepted=4000, first_response=5000, closed=5100,
               state="ended"),
    # email: 86400 s threshold
    "E1": dict(channel="mail-gw", agent="ann", queued=0, accepted=60, first_response=5900, closed=5900,
               state="ended"),
    "E2": dict(channel="mail-gw", agent=None, queued=0, state="queued"),  # no answer yet, well inside a day
}
# Survey answers (1-5) for some of them, and pivot links sent from the social conversations: three
# sent, two opened, one redeemed, one connected 120 s after it was sent.
CSAT = {"C1": 4, "S1": 5, "S2": 2, "E1": 3}
PIVOTS = [("pivot.created", "S1"), ("pivot.created", "S1"), ("pivot.created", "S2"), ("pivot.opened", "S1"),
          ("pivot.opened", "S2"), ("pivot.redeemed", "S1"), ("callback.connected", "S1")]
# Worked out by hand from the table above.
EXPECTED = {
    "voice": dict(offered=5, handled=2, abandoned=1, short_abandoned=1, speed_of_answer_avg=20.0,
                  speed_of_answer_p90=30.0, first_response_avg=None, first_response_p90=None,
                  handle_time_avg=210.0, sla_percent=33.333, csat=None, csat_responses=0),  # V1 in; base 5-V3-V5
    "shop-chat": dict(offered=2, handled=2, abandoned=0, short_abandoned=0, speed_of_answer_avg=70.0,
                      speed_of_answer_p90=90.0, first_response_avg=None, first_response_p90=None,
                      handle_time_avg=600.0, sla_percent=50.0, csat=4.0, csat_responses=1,
                      pivots_sent=0),  # C1 in, C2 out; C2 still open: no handle time
    "social-gw": dict(offered=2, handled=2, abandoned=0, short_abandoned=0, speed_of_answer_avg=None,
                      speed_of_answer_p90=None, first_response_avg=2800.0, first_response_p90=5000.0,
                      handle_time_avg=950.0, sla_percent=50.0,  # (800 + 1100) / 2
                      csat=3.5, csat_responses=2, pivots_sent=3, pivots_opened=2, pivots_redeemed=1,
                      pivots_connected=1),  # (5 + 2) / 2
    "mail-gw": dict(offered=2, handled=1, abandoned=0, short_abandoned=0, speed_of_answer_avg=None,
                    speed_of_answer_p90=None, first_response_avg=5900.0, first_response_p90=5900.0,
                    handle_time_avg=5840.0, sla_percent=100.0,  # E2 waits inside its day: not counted
                    csat=3.0, csat_responses=1),
}
BY_AGENT = {  # offered, handled, handle_time_avg (C2 is still open: no handle time yet), csat
    "ann": (4, 4, round((120 + 600 + 800 + 5840) / 4, 3), 4.0), "ben": (3, 3, round((300 + 1100) / 2, 3), 2.0),
    "(none)": (4, 0, None, None)}  # ann: C1 4, S1 5, E1 3; ben: S2 2
FUNNEL = {"sent": 3, "opened": 2, "redeemed": 1, "connected": 1, "median_seconds_to_voice": 120.0}
TODAY = dict(offered=11, handled=7, abandoned=1, sla_percent=50.0,  # in: V1 C1 S1 E1; base 11 - 1 - 2 = 8
             sla_breaches=0)  # (C2 was answered late long ago; V5 and E2 still wait inside their thresholds)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    server = {"database_url": request.getfixturevalue("pg_url")} if request.param == "postgres" else {}
    async with running_server(make_config(tmp_path, server=server, channels=CHANNELS)) as h:
        yield h


async def stage(h: Harness, t0: float) -> None:
    """Create each interaction as the server would, then set its moments to the scenario's."""
    INTERACTIONS = models.interactions
    ids: dict[str, str] = {}
    gateway = CoreGateway("sip", h.services.db, h.services.policies, {}, h.services.bus)
    for name, spec in SCENARIO.items():
        if spec["channel"] == "voice":
            iid = await gateway.start_call("phone", f"+3584000000{len(name)}{name[1]}", f"call-{name}")
        else:
            iid = (await h.admin.inbound(channel=spec["channel"], sender=("email", f"{name}@example.com"),
                                         text="hello", external_id=name))["interaction_id"]

        def at(key: str, spec: dict[str, Any] = spec) -> float | None:
            return None if spec.get(key) is None else t0 + spec[key]

        values = {"created_at": at("queued"), "queued_at": at("queued"), "accepted_at": at("accepted"),
                  "first_response_at": at("first_response"), "closed_at": at("closed"),
                  "ended_at": at("ended") or at("closed"), "state": spec["state"], "agent_id": spec["agent"],
                  "offered_at": None, "offer_expires_at": None}
        await h.services.db.write(lambda tx, iid=iid, values=values: tx.conn.execute(
            sa.update(INTERACTIONS).where(INTERACTIONS.c.id == iid).values(**values)))
        ids[name] = iid
    await h.services.db.write(lambda tx: _answers_and_pivots(tx, ids, t0))


def _answers_and_pivots(tx: Any, ids: dict[str, str], t0: float) -> None:
    rows = {r.id: r for r in tx.conn.execute(sa.select(models.interactions)).all()}
    for name, rating in CSAT.items():
        row = rows[ids[name]]
        tx.conn.execute(models.surveys.insert().values(
            id=f"svy_{name}", token_hash=f"{name:0<64}", interaction_id=row.id, case_id=row.case_id,
            agent_id=row.agent_id, channel=row.channel, queue=row.queue, interaction_created_at=row.created_at,
            language="en", created_at=t0 + 5999, expires_at=t0 + 10**6, answered_at=t0 + 5999.5, rating=rating))
    for event_type, name in PIVOTS:
        row = rows[ids[name]]
        tx.emit(Event.make(EventType(event_type), case_id=row.case_id, interaction_id=row.id, agent_id=row.agent_id,
                           queue=row.queue, ts=t0 + 1000, data=cast(Any, {
                               "channel": row.channel, **({"since_link_sent": 120.0}
                                                          if event_type == "callback.connected" else {})})))


async def test_every_metric_matches_the_hand_worked_scenario(backend: Harness) -> None:
    h = backend
    now = time.time()
    t0 = now - SPAN
    await stage(h, t0)
    period = {"from": datetime.fromtimestamp(t0 - 60, UTC).isoformat(), "to": datetime.fromtimestamp(now + 60, UTC)
              .isoformat()}
    report = await h.admin.request("GET", "/api/v1/reports/summary", params={**period, "group_by": "channel"})
    for channel, expected in EXPECTED.items():
        got = {k: report["groups"][channel][k] for k in expected}
        assert got == expected, (channel, got)
    # The finished ones folded into report blocks (as the roll-up does every few seconds): the same figures.
    await h.services.db.write(roll)
    I = models.interactions
    rolled = await h.services.db.read(lambda c: c.execute(sa.select(I.c.state).where(I.c.rolled_gen.is_not(None))
                                                          ).scalars().all())
    assert sorted(rolled) == ["abandoned"] * 2 + ["ended"] * 6, "every finished one, and only those"
    again = await h.admin.request("GET", "/api/v1/reports/summary", params={**period, "group_by": "channel"})
    assert again["groups"] == report["groups"]
    by_agent = await h.admin.request("GET", "/api/v1/reports/summary", params={**period, "group_by": "agent"})
    assert {name: (g["offered"], g["handled"], g["handle_time_avg"], g["csat"])
            for name, g in by_agent["groups"].items()} == BY_AGENT
    assert report["pivot"] == FUNNEL

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {h.admin.token}"}) as session:
        async with session.get(h.url + "/api/v1/reports/summary", params={**period, "group_by": "channel"},
                               headers={"Accept": "text/csv"}) as response:
            lines = (await response.text()).splitlines()
    header = lines[0].split(",")
    csv_rows = {line.split(",")[0]: dict(zip(header, line.split(","), strict=True)) for line in lines[1:]}
    for channel, expected in EXPECTED.items():
        for key, value in expected.items():
            assert csv_rows[channel][key] == ("" if value is None else str(value)), (channel, key)

    start_of_day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    if t0 >= start_of_day:  # (the realtime view counts today, in UTC; the scenario began today)
        realtime = await h.admin.request("GET", "/api/v1/stats/realtime")
        assert realtime["today"] == TODAY, realtime["today"]
        waiting = {(q["queue"], q["channel"]): q for q in realtime["queues"]}
        voice = next(q for (queue, channel), q in waiting.items() if channel == "voice")
        assert voice["waiting"] == 1 and 9 <= voice["longest_wait"] <= 10 + (time.time() - now) + 1
