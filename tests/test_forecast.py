"""The forecast: on a generated history with a known weekly pattern and Poisson noise, the seasonal
weighted average comes within a stated bound of the true pattern and beats "same as last week";
through the API it gives contacts, handle time and agents per interval (as /staffing computes
them), last week's error, and the reports page draws it in a real browser."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from playwright.async_api import expect

from cti import forecast as fc
from cti import models
from cti.staffing import erlang_c_staffing
from tests.harness import Harness, make_config, running_server
from tests.test_desk import ARTIFACTS

ZONE = ZoneInfo("Europe/Helsinki")
HOUR = 3600
WAPE_BOUND = 12.0  # percent, against the true pattern: the bound this method is held to (see noise_floor)


def noise_floor(truth: list[float]) -> float:
    """The WAPE that Poisson noise alone leaves to a six-week weighted average (alpha 0.2) of the true
    rates: E|mean - rate| = sqrt(2 / pi) * sd, summed over the slots (about 9 % at these volumes)."""
    weights = (1 - fc.ALPHA) ** np.arange(6)
    spread = math.sqrt((weights ** 2).sum()) / weights.sum()
    return 100 * sum(math.sqrt(2 / math.pi) * math.sqrt(t) * spread for t in truth) / sum(truth)


def rate(local: datetime) -> float:
    """The true expected calls per hour: two daily peaks on weekdays, a third of that at weekends."""
    hour = local.hour + 0.5
    day = 8 * math.exp(-((hour - 10.5) ** 2) / 4) + 6 * math.exp(-((hour - 14.5) ** 2) / 5) + 0.3
    return 5 * day * (1.0 if local.isoweekday() <= 5 else 0.35)


def monday(ts: float) -> float:
    local = datetime.fromtimestamp(ts, ZONE)
    start = (local - timedelta(days=local.isoweekday() - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp()


def history(first: float, last: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times of Poisson arrivals at ``rate`` from first to last, each with a handle time
    (exponential, mean 240 s)."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    for hour in np.arange(first, last, HOUR):
        n = rng.poisson(rate(datetime.fromtimestamp(hour, ZONE)))
        times.extend(hour + rng.random(n) * HOUR)
    created = np.sort(np.array(times))
    return created, rng.exponential(240.0, len(created))


def test_the_seasonal_average_is_within_its_bound_and_beats_last_week() -> None:
    start = monday(time.time()) - 4 * fc.WEEK
    created, handle = history(start - 8 * fc.WEEK, start)
    slots = fc.forecast(created, handle, start=start, end=start + fc.WEEK, step=HOUR, zone=ZONE, weeks=6)
    truth = [rate(datetime.fromtimestamp(s.start, ZONE)) for s in slots]
    ours = 100 * sum(abs(s.contacts - t) for s, t in zip(slots, truth, strict=True)) / sum(truth)
    last_week = fc.actual_counts(created, [s.start - fc.WEEK for s in slots], HOUR)
    naive = 100 * sum(abs(n - t) for n, t in zip(last_week, truth, strict=True)) / sum(truth)
    floor = noise_floor(truth)
    print(f"WAPE against the true pattern: seasonal weighted average {ours:.1f} %, same as last week {naive:.1f} %, "
          f"the noise floor {floor:.1f} %")
    assert ours < WAPE_BOUND and ours < 0.6 * naive and ours < 1.25 * floor
    busy = [s for s, t in zip(slots, truth, strict=True) if t > 30]
    assert busy and all(abs(s.aht - 240) / 240 < 0.35 for s in busy if s.aht is not None), "handle time per slot"
    assert {s.contacts for s in slots[:1]} and all(s.contacts >= 0 for s in slots)


def test_agents_available_are_read_from_state_changes() -> None:
    class Change:
        def __init__(self, ts: float, agent_id: str, state: str, previous: str) -> None:
            self.ts, self.agent_id, self.state, self.previous = ts, agent_id, state, previous

    class Agent:
        def __init__(self, agent_id: str, state: str, since: float) -> None:
            self.id, self.state, self.state_changed_at = agent_id, state, since

    starts = [0.0, 1800.0, 3600.0]
    changes = [Change(900, "ann", "away", "available"), Change(2700, "ann", "available", "away")]
    agents = [Agent("ann", "available", 2700), Agent("ben", "available", -100), Agent("cy", "offline", 10)]
    # ann: available 0-900 and 2700 on; ben: all along; cy: offline
    assert fc.available_agents(changes, agents, starts, 1800) == [1.5, 1.5, 2.0]


async def stage(h: Harness, created: np.ndarray, handle: np.ndarray) -> None:
    I = models.interactions
    now = time.time()
    contact = await h.admin.inbound(channel="shop-chat", sender=("email", "history@example.com"), text="hi",
                                    external_id="history-seed")
    row = await h.admin.get_interaction(contact["interaction_id"])
    rows = [dict(id=f"int_h{n:07d}", case_id=row["case_id"], contact_id=row["contact_id"], channel="voice",
                 direction="inbound", initiation="inbound", state="ended", queue="general", priority=0,
                 agent_id="ann", created_at=float(at), updated_at=float(at), queued_at=float(at),
                 accepted_at=float(at) + 8, closed_at=float(at) + 8 + float(h_), ended_at=float(at) + 8 + float(h_),
                 version=0) for n, (at, h_) in enumerate(zip(created, handle, strict=True)) if at < now]
    await h.services.db.write(lambda tx: tx.conn.execute(I.insert(), rows))


async def test_the_api_and_the_reports_page_forecast_the_week(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/r"), "secret": "shop-secret-0123456789"}]}
    async with running_server(make_config(tmp_path, channels=channels)) as h:
        await h.agent("ann")
        start = monday(time.time()) + fc.WEEK  # next Monday, local time
        created, handle = history(start - 8 * fc.WEEK, start)
        await stage(h, created, handle)
        params = {"channel": "voice", "from": datetime.fromtimestamp(start, ZONE).isoformat(), "interval": "1h",
                  "tz": "Europe/Helsinki", "service_level": 0.8}
        result = await h.admin.request("GET", "/api/v1/forecast", params=params)
        assert len(result["intervals"]) == 168 and result["weeks"] == 6
        truth = [rate(datetime.fromtimestamp(start + i * HOUR, ZONE)) for i in range(168)]
        error = 100 * sum(abs(i["contacts"] - t) for i, t in zip(result["intervals"], truth, strict=True)) / sum(truth)
        assert error < WAPE_BOUND and error < 1.25 * noise_floor(truth), error
        busiest = max(result["intervals"], key=lambda i: i["contacts"])
        expected = erlang_c_staffing(busiest["contacts"], HOUR, busiest["aht_seconds"], target=0.8, threshold=20)
        assert busiest["agents_needed"] == expected.agents > 0, "agents as /staffing computes them"
        assert all(i["actual_contacts"] is None and i["agents_available"] is None for i in result["intervals"]), \
            "nothing of next week has happened yet"
        last = result["last_week"]
        assert last["wape_percent"] is not None and last["wape_percent"] < 2 * WAPE_BOUND
        whole_hours = min(start, time.time() // HOUR * HOUR)  # (last week's intervals that are over)
        assert last["actual_contacts"] == int(((created >= start - fc.WEEK) & (created < whole_hours)).sum())

        # Over a week that has begun: what arrived and who was available fill in.
        now_week = await h.admin.request("GET", "/api/v1/forecast", params={
            **params, "from": datetime.fromtimestamp(start - fc.WEEK, ZONE).isoformat()})
        past = [i for i in now_week["intervals"] if i["actual_contacts"] is not None]
        assert past and all(isinstance(i["agents_available"], float) for i in past)

        token = (await h.admin.create_token("supervisor"))["token"]
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Helsinki")
        await page.goto(h.url + "/reports")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Supervisor token").fill(token)
        await page.get_by_role("button", name="Use the token").click()
        await expect(page.get_by_role("heading", name="Forecast and staffing")).to_be_visible()
        await page.get_by_label("Channel").select_option("voice")
        await page.get_by_role("button", name="Forecast the next 7 days").click()
        await expect(page.locator('[data-forecast="contacts"] svg rect[data-series="expected"]').first).to_be_visible()
        await expect(page.locator('[data-forecast="agents"] svg polyline').first).to_be_visible()
        await expect(page.locator("#forecast-summary")).to_contain_text("Busiest interval")
        await expect(page.locator("#forecast-summary")).to_contain_text("Last week: forecast")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.locator("#forecast").screenshot(path=str(ARTIFACTS / "forecast.png"))
        await page.close()
