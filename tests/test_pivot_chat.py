"""A pivot to chat, end to end: a customer writes an X DM, the agent sends a link `to: "chat"`, the
customer opens it on a phone (Chromium) and the chat opens on the same case, with the agent already
in it; messages go both ways, the funnel counts sent, opened, redeemed and connected (at the
customer's first chat message), and the used link starts nothing a second time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from sip_test_env.emulators.x import XEmulator
from tests.harness import Harness, make_config, running_server
from tests.pivot_helpers import link_sent_on_x
from tests.test_desk import ARTIFACTS

ALL_WEEK = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
async def h(tmp_path: Path, x: XEmulator) -> AsyncIterator[Harness]:
    config = make_config(tmp_path, connectors={
        "x": {"consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token, "account_id": x.account_id,
              "api_base": x.url}},
        channels={"webchat": {"company_name": "Acme"}}, social={"handles": ["@acme"]},
        pivot={"company_name": "Acme", "opening_hours": ALL_WEEK})
    async with running_server(config) as harness:
        async with aiohttp.ClientSession() as session, session.post(
                f"{x.url}/_control/webhook", json={"url": harness.url + "/webhooks/x"}) as response:
            assert response.status == 200
        yield harness


async def test_an_x_dm_continues_in_the_web_chat_on_the_same_case(h: Harness, x: XEmulator, browser: Any) -> None:
    ann = await h.agent("ann", name="Ann Lee")
    dm, url, token = await link_sent_on_x(h, x, ann, "chat", text="Can we chat somewhere faster?",
                                          dm_id="1800000000000000777")
    assert "Ann at Acme can go on with you in a live chat" in x.dms[0]["text"]
    M, I = models.messages, models.interactions

    page = await (await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                            locale="fi-FI")).new_page()
    await page.goto(url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Jatka keskustelua: Acme")
    await expect(page.get_by_text("Ann liittyi keskusteluun")).to_be_visible()  # (the widget speaks Finnish)
    chat = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
        sa.select(I).where(I.c.channel == "webchat")).first()), what="the chat interaction")
    assert chat.case_id == dm.case_id and chat.agent_id == "ann" and chat.state == "active"
    assert chat.initiation == "pivot" and chat.source_interaction_id == dm.interaction_id
    box = page.get_by_label("Viesti", exact=True)
    await box.fill("Tässä olen!")
    await box.press("Enter")
    stored = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "webchat")).first()), what="the chat message stored")
    assert stored.interaction_id == chat.id and stored.case_id == dm.case_id
    await ann.reply(chat.id, "Great, Dana: your invoice is on its way.")
    await expect(page.locator(".msg.agent")).to_contain_text("your invoice is on its way")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "pivot-chat-phone-fi.png"))
    await page.context.close()

    funnel = (await h.admin.request("GET", "/api/v1/reports/summary"))["pivot"]
    assert {k: funnel[k] for k in ("sent", "opened", "redeemed", "connected")} == {
        "sent": 1, "opened": 1, "redeemed": 1, "connected": 1}
    async with aiohttp.ClientSession() as session, session.post(
            f"{h.url}/chat/v1/sessions", json={"pivot_token": token}, headers={"Origin": h.url}) as response:
        assert response.status == 410, "a used link starts no second conversation"
