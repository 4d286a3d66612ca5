"""Satisfaction surveys: after wrap-up the customer gets a link on their own channel; a preview bot
opening it records nothing; the customer answers once on a phone-size page in a real browser, in
their language; the answer is an event, a CSAT figure in the reports and (with a weight) the
agent's routing rating."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from cti.bus import EventFilter
from cti.client import CtiApiError
from cti.web import i18n
from tests.harness import Harness, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET
from tests.test_desk import ARTIFACTS

LINK = re.compile(r"(https?://[^\s]+/s/([A-Za-z0-9_-]{43}))")
PHONE = {"width": 390, "height": 844}


def survey_config(tmp_path: Path, shop: Any, **surveys: Any) -> Any:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    return make_config(tmp_path, channels=channels, surveys={"channels": ["shop-chat"], "company_name": "Acme",
                                                            **surveys})


async def served(h: Harness, agent: Any, n: int, *, wrap: bool = True) -> str:
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", f"s{n}@example.com"), text="help",
                                   external_id=f"sv-{n}")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    await agent.accept(iid)
    await agent.end(iid)
    if wrap:
        await agent.wrapup(iid, disposition="solved")
    return iid


async def invitation(h: Harness, shop: Any, iid: str) -> tuple[str, str]:
    def found() -> Any:
        for item in shop.received:
            message = item["body"].get("message") or {}
            if item["body"].get("interaction_id") == iid and LINK.search(message.get("text", "")):
                return LINK.search(message["text"])
        return None

    match = await h.wait_for(found, what="the survey invitation at the shop")
    return match.group(1), match.group(2)


async def test_a_survey_is_answered_once_on_a_phone_and_earns_the_agent_her_rating(tmp_path: Path, shop: Any,
                                                                                  browser: Any) -> None:
    async with running_server(survey_config(tmp_path, shop, rating_weight=0.5)) as h:
        ann = await h.agent("ann", capacity={"chat": 3})
        first = await served(h, ann, 1)
        url, token = await invitation(h, shop, first)
        assert url.startswith(h.services.config.server.resolved_public_url())
        stored = [m for m in (await ann.messages(first))["items"] if m["direction"] == "outbound"]
        assert len(stored) == 1 and token not in stored[0]["text"] and "/s/…" in stored[0]["text"], \
            "the token lives only in what was sent"
        local = f"{h.url}/s/{token}"

        # Link-preview bots open every link first: the page answers, nothing is recorded.
        async with aiohttp.ClientSession() as session:
            async with session.get(local, headers={"User-Agent": "Twitterbot/1.0"}) as response:
                assert response.status == 200 and "How did we do?" in await response.text()
                assert response.headers["Cache-Control"] == "no-store"
            async with session.get(f"{h.url}/s/{'A' * 43}") as response:
                assert response.status == 404 and "not valid" in await response.text()
            async with session.post(local, data={"rating": "9"}) as response:
                assert response.status == 400, "a rating out of range is refused and changes nothing"
        S = models.surveys
        [row] = await h.services.db.read(lambda c: c.execute(sa.select(S)).all())
        assert row.answered_at is None and row.rating is None and row.agent_id == "ann"

        context = await browser.new_context(viewport=PHONE, locale="fi-FI", extra_http_headers={
            "Accept-Language": "fi-FI,fi;q=0.9"})
        page = await context.new_page()
        await page.goto(local)
        fi = i18n.catalogue("fi")
        await expect(page.get_by_role("heading")).to_have_text(fi["survey.title"])
        await page.get_by_role("button", name=fi["survey.send"]).click()  # nothing chosen: the browser asks
        assert (await h.services.db.read(lambda c: c.execute(sa.select(S.c.answered_at)).scalar())) is None
        await page.get_by_text(fi["survey.rating_4"], exact=True).click()
        await page.get_by_label(fi["survey.comment"]).fill("Nopea ja ystävällinen apu!")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "survey-phone-fi.png"), full_page=True)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "nothing runs off a phone's screen"
        await page.get_by_role("button", name=fi["survey.send"]).click()
        await expect(page.get_by_role("status")).to_have_text(fi["survey.thanks"])
        await page.goto(local)
        await expect(page.get_by_role("status")).to_have_text(fi["survey.already"])
        await context.close()

        async with aiohttp.ClientSession() as session, session.post(local, data={"rating": "1"}) as response:
            assert response.status == 409, "one answer per survey"
        [row] = await h.services.db.read(lambda c: c.execute(sa.select(S)).all())
        assert (row.rating, row.comment) == (4, "Nopea ja ystävällinen apu!")
        answered = await h.services.bus.replay(0, EventFilter(types=["survey.answered"]))
        assert [(e.interaction_id, e.data["rating"], e.agent_id) for e in answered] == [(first, 4, "ann")]
        assert (await h.admin.get_agent("ann"))["rating"] == 4.0, "the first answer is her rating"

        second = await served(h, ann, 2)
        _, token2 = await invitation(h, shop, second)
        async with aiohttp.ClientSession() as session, session.post(f"{h.url}/s/{token2}",
                                                                    data={"rating": "2"}) as response:
            assert response.status == 200
        assert (await h.admin.get_agent("ann"))["rating"] == 3.0, "each answer weighs half: (4 + 2) / 2"
        report = await h.admin.request("GET", "/api/v1/reports/summary", params={"group_by": "agent"})
        assert (report["groups"]["ann"]["csat"], report["groups"]["ann"]["csat_responses"]) == (3.0, 2)
        by_channel = await h.admin.request("GET", "/api/v1/reports/summary", params={"group_by": "channel"})
        assert by_channel["groups"]["shop-chat"]["csat"] == 3.0
        said = (await h.admin.request("GET", "/api/v1/surveys"))["items"]
        assert [(a["rating"], a["comment"], a["agent_id"]) for a in said] == [
            (2, None, "ann"), (4, "Nopea ja ystävällinen apu!", "ann")], "newest first, with the comment"
        with pytest.raises(CtiApiError) as refused:
            await ann.request("GET", "/api/v1/surveys")
        assert refused.value.status == 403, "what customers said is for supervisors"
        board = await browser.new_page(viewport={"width": 1280, "height": 900})
        await board.goto(h.url + "/reports")
        await board.get_by_text("Sign in with an API token").click()
        await board.get_by_label("Supervisor token").fill((await h.admin.create_token("supervisor"))["token"])
        await board.get_by_role("button", name="Use the token").click()
        await expect(board.locator("#comments li")).to_have_count(2)
        await expect(board.locator("#comments li").nth(1)).to_contain_text("Nopea ja ystävällinen apu!")
        await board.close()


async def test_no_survey_where_the_channel_has_none_or_nobody_served(tmp_path: Path, shop: Any) -> None:
    async with running_server(survey_config(tmp_path, shop, channels=[])) as h:
        ann = await h.agent("ann")
        iid = await served(h, ann, 3)
        S = models.surveys
        assert await h.services.db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(S)).scalar()) == 0
        assert all("/s/" not in (m["text"] or "") for m in (await ann.messages(iid))["items"])
