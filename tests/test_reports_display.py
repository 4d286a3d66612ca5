"""Reports that do not mislead: the service level follows docs/api.md (an interaction still waiting inside
its threshold is not counted yet), the page shows human headers, rounded numbers with units and bars
whose length is the value, and the wallboard's tile and table agree on the longest wait."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from cti.report_engine import MetricRules
from cti.report_reading import grouped, load
from cti.web.svg import LABEL, RIGHT, WIDTH, bar_chart, format_value, nice_max
from tests.harness import make_config, running_server
from tests.pivot_helpers import SHOP_SECRET

NOW = 1_800_000_000.0


def chat(waited: float, *, answered_after: float | None = None, state: str = "queued") -> Any:
    queued = NOW - waited
    return SimpleNamespace(channel="chat", state=state if answered_after is None else "active",
                           queued_at=queued, created_at=queued, ended_at=None, direction="inbound",
                           accepted_at=None if answered_after is None else queued + answered_after,
                           closed_at=None, first_response_at=None)


def sla(rows: list[Any]) -> float | None:
    """The service level the database computes for these interactions (SQLite in memory)."""
    engine = sa.create_engine("sqlite://")
    models.interactions.create(engine)
    with engine.begin() as conn:
        for n, row in enumerate(rows):
            conn.execute(models.interactions.insert().values(
                id=f"i{n}", case_id="c", contact_id="k", initiation="inbound", updated_at=NOW, **vars(row)))
        models.report_blocks.create(conn)
        rules = MetricRules(channel_class=lambda c: c, sla_seconds={"chat": 60}, short_abandon_seconds=5)
        return grouped(load(conn, 0, NOW + 1), "all", rules, now=NOW)["all"]["sla_percent"]


def test_service_level_counts_only_interactions_with_an_outcome_or_past_the_threshold() -> None:
    answered = [chat(40, answered_after=10) for _ in range(3)]
    waiting_inside = [chat(30) for _ in range(4)]  # the wallboard said 43 % with these counted as misses
    assert sla(answered + waiting_inside) == 100.0
    assert sla(answered + waiting_inside + [chat(90)]) == 75.0, "a wait past the threshold counts against"
    assert sla([*answered, chat(200, answered_after=70)]) == 75.0, "answered late: a miss"
    abandoned = SimpleNamespace(**{**vars(chat(30)), "state": "abandoned", "ended_at": NOW})
    assert sla([*answered, abandoned]) == 75.0, "a long abandon is an outcome, and a miss"
    assert sla(waiting_inside) is None, "nothing has an outcome yet"


def test_bars_are_as_long_as_their_values_and_figures_are_rounded() -> None:
    span = WIDTH - LABEL - RIGHT
    svg = bar_chart("Service level by channel", {"chat": 42.857142}, unit="%")
    width = float(re.search(r'<rect [^>]*width="([0-9.]+)"', svg).group(1))
    assert abs(width - span * 0.42857) < 1, "42.9 % is less than half of a 0-100 % axis"
    assert ">42.9 %<" in svg and "42.857" not in svg.split("data-value")[0]
    svg = bar_chart("Average handle time", {"a": 95.0, "b": 190.0}, unit="s")
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)]
    assert abs(widths[1] / widths[0] - 2) < 0.01 and ">3 min 10 s<" in svg
    assert nice_max(190) == 200 and nice_max(3) == 5 and nice_max(0) == 1
    assert format_value(7200, "s") == "2 h 00 min" and format_value(8.25, "s") == "8.2 s"


async def _scenario(h: Any) -> None:
    """7 chats: 3 answered at once, 4 answered after 120 s (made so in the database): SLA 3/7."""
    alice = await h.agent("alice", capacity={"chat": 10})
    ids = []
    for n in range(7):
        stored = await h.admin.inbound(channel="shop-chat", sender=("email", f"s{n}@example.com"), text="hi",
                                       external_id=f"s-{n}")
        await h.interaction_in_state(stored["interaction_id"], "offered")
        await alice.accept(stored["interaction_id"])
        ids.append(stored["interaction_id"])
    I = models.interactions
    late = time.time() - 300
    await h.services.db.write(lambda tx: tx.conn.execute(
        sa.update(I).where(I.c.id.in_(ids[3:])).values(queued_at=late, created_at=late, accepted_at=late + 120)))


async def test_the_reports_page_reads_like_a_report(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/r"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, reports={"sla_seconds": {"chat": 60}})) as h:
        await _scenario(h)
        token = (await h.admin.create_token("supervisor"))["token"]
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(h.url + "/reports")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Supervisor token").fill(token)
        await page.get_by_role("button", name="Use the token").click()
        row = page.locator("#summary tbody tr")
        await expect(row).to_contain_text("shop-chat")
        headers = await page.locator("#summary thead th").all_text_contents()
        assert headers[0] == "Channel" and "Service level" in headers and "Avg speed of answer" in headers
        assert not any("_" in h or h.islower() for h in headers), headers
        await expect(row.locator('[data-field="sla_percent"]')).to_have_text("42.9%")
        offered = row.locator('[data-field="offered"]')  # a plain cell, read like the others (no badge styling)
        await expect(offered).to_have_css("background-color", "rgba(0, 0, 0, 0)")
        await expect(offered).to_have_css("display", "table-cell")
        speed = await row.locator('[data-field="speed_of_answer_avg"]').text_content()
        assert speed == "1 min 9 sec", speed  # (3 x 0 s + 4 x 120 s) / 7, rounded, with its unit
        bar = page.locator('figure[data-metric="sla_percent"] svg rect')
        await expect(bar).to_have_attribute("data-value", re.compile(r"42\.857"))
        width = float(await bar.get_attribute("width") or 0)
        assert 0.40 < width / (WIDTH - LABEL - RIGHT) < 0.45, "the bar is 42.9 % of the axis"
        await page.close()


async def test_the_wallboard_tile_and_table_agree(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/r"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, reports={"sla_seconds": {"chat": 60}})) as h:
        await _scenario(h)
        await h.admin.request("PUT", "/api/v1/agents/alice/state", json={"state": "away"})
        for n in range(2):  # nobody available: two wait
            await h.admin.inbound(channel="shop-chat", sender=("email", f"w{n}@example.com"), text="hi",
                                  external_id=f"w-{n}")
        token = (await h.admin.create_token("supervisor"))["token"]
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(h.url + "/wallboard")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Supervisor token").fill(token)
        await page.get_by_role("button", name="Use the token").click()
        await expect(page.locator("#waiting")).to_have_text("2")
        await expect(page.locator("#sla")).to_have_text("42.9%")  # 3 in time of 7: the 2 waiting are not yet in
        for _ in range(3):
            tile, cells = await page.evaluate("""() => [document.getElementById('longest').textContent,
                [...document.querySelectorAll('#queues tbody .wait')].map((c) => c.textContent)]""")
            longest = max(cells, key=lambda c: [int(part) for part in c.split(":")])  # clocks: m:ss
            assert tile == f"longest wait {longest}", (tile, cells)
            await page.wait_for_timeout(700)
        await page.close()
