"""Reports by time: group_by=interval (15m, 30m, 1h) and hour_of_week, counted in a chosen time
zone, as JSON, CSV and a heat map; interactions placed at known moments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from cti.client import CtiApiError
from tests.harness import Harness

# Monday 30 November 2026 and Tuesday 1 December, UTC (Helsinki is UTC+2 then).
ARRIVALS = [datetime(2026, 11, 30, 9, 10, tzinfo=UTC), datetime(2026, 11, 30, 9, 20, tzinfo=UTC),
            datetime(2026, 11, 30, 9, 40, tzinfo=UTC), datetime(2026, 12, 1, 14, 5, tzinfo=UTC)]
PERIOD = {"from": "2026-11-30T00:00:00Z", "to": "2026-12-02T00:00:00Z"}


async def arrivals(h: Harness) -> None:
    INTERACTIONS = models.interactions
    for index, at in enumerate(ARRIVALS):
        stored = await h.admin.inbound(channel="shop-chat", sender=("email", f"c{index}@example.com"),
                                       text="hello", external_id=f"t-{index}")
        ts = at.timestamp()
        await h.services.db.write(lambda tx, iid=stored["interaction_id"], ts=ts: tx.conn.execute(
            sa.update(INTERACTIONS).where(INTERACTIONS.c.id == iid).values(created_at=ts, queued_at=ts)))


async def offered(client: Any, **params: str) -> dict[str, int]:
    report = await client.request("GET", "/api/v1/reports/summary", params={**PERIOD, **params})
    return {name: g["offered"] for name, g in report["groups"].items()}


async def test_reports_by_interval_and_hour_of_week(harness: Harness) -> None:
    await arrivals(harness)
    admin = harness.admin
    assert await offered(admin, group_by="interval", interval="30m", tz="UTC") == {
        "2026-11-30T09:00": 2, "2026-11-30T09:30": 1, "2026-12-01T14:00": 1}
    assert await offered(admin, group_by="interval", interval="1h") == {"2026-11-30T09:00": 3, "2026-12-01T14:00": 1}
    assert await offered(admin, group_by="interval", interval="15m") == {
        "2026-11-30T09:00": 1, "2026-11-30T09:15": 1, "2026-11-30T09:30": 1, "2026-12-01T14:00": 1}
    assert await offered(admin, group_by="interval", interval="1h", tz="Europe/Helsinki") == {
        "2026-11-30T11:00": 3, "2026-12-01T16:00": 1}
    assert await offered(admin, group_by="hour_of_week") == {"1-09": 3, "2-14": 1}
    assert await offered(admin, group_by="hour_of_week", tz="Europe/Helsinki") == {"1-11": 3, "2-16": 1}

    headers = {"Authorization": f"Bearer {admin.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(harness.url + "/api/v1/reports/summary", headers={"Accept": "text/csv"},
                               params={**PERIOD, "group_by": "hour_of_week"}) as response:
            lines = (await response.text()).splitlines()
        assert lines[1].startswith("1-09,3,") and lines[2].startswith("2-14,1,"), lines
        async with session.get(harness.url + "/api/v1/reports/chart", params={
                **PERIOD, "group_by": "hour_of_week", "metric": "offered", "lang": "fi"}) as response:
            svg = await response.text()
        assert response.content_type == "image/svg+xml"
    assert svg.count("<rect") == 7 * 24  # the whole week, hour by hour
    assert 'data-key="1-09" data-value="3"' in svg and 'data-key="2-14" data-value="1"' in svg
    assert 'data-key="3-09" data-value=""' in svg and ">ma</text>" in svg  # Finnish day names

    for params in ({"group_by": "interval", "tz": "Mars/Olympus"}, {"group_by": "interval", "tz": "../etc"},
                   {"group_by": "interval", "interval": "7m"}, {"group_by": "weekday"}):
        with pytest.raises(CtiApiError) as refused:
            await admin.request("GET", "/api/v1/reports/summary", params={**PERIOD, **params})
        assert refused.value.status == 400, params
