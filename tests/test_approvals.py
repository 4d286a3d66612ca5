"""Public replies held for a supervisor (``[approval]``): against the X emulator, nothing held reaches
X before a decision; an edited approval sends the edited text once; a rejected reply never goes; a
held reply survives a restart; the agent and the audit trail see who decided what; the service-level
clock keeps running while a reply waits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from cti.client import CtiApiError
from cti.services.approval_policy import words_in
from sip_test_env.emulators.x import XEmulator
from tests.harness import CALLS, Harness, make_config, running_server
from tests.test_desk import ARTIFACTS
from tests.test_x_channel import DANA, accepted

APPROVAL = {"words": ["refund", "lawsuit", "返金"]}


def test_words_match_whole_words_in_any_case_and_script() -> None:
    words = ("refund", "lawsuit", "返金")
    assert words_in("We will REFUND you", words) == ["refund"]
    assert words_in("refunded already; no lawsuits", words) == [], "whole words only"
    assert words_in("「返金」について", words) == ["返金"]
    assert words_in("a refund, then a lawsuit.", words) == ["refund", "lawsuit"]


def approval_config(tmp_path: Path, x: XEmulator, **approval: Any) -> Any:
    return make_config(tmp_path, connectors={"x": {
        "consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token, "account_id": x.account_id,
        "api_base": x.url}, **CALLS}, social={"handles": ["@acme"]}, approval=approval)


async def _mention(h: Harness, x: XEmulator, tweet_id: str, text: str) -> None:
    status, _ = await x.signed_post(x.mention_payload({"user": DANA, "text": text, "id": tweet_id}))
    assert status == 200


async def _connected(h: Harness, x: XEmulator) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            f"{x.url}/_control/webhook", json={"url": h.url + "/webhooks/x"}) as response:
        assert response.status == 200
    await h.wait_for(lambda: h.services.connector_health.get("x") == "connected", what="x up")


async def _events(h: Harness, interaction_id: str, prefix: str = "message.") -> list[Any]:
    E = models.events
    return await h.services.db.read(lambda c: c.execute(
        sa.select(E).where(E.c.interaction_id == interaction_id, E.c.type.like(prefix + "%")).order_by(E.c.seq)).all())


async def test_a_held_reply_waits_survives_a_restart_and_goes_out_once_as_edited(tmp_path: Path, x: XEmulator) -> None:
    config = approval_config(tmp_path, x, **APPROVAL)
    async with running_server(config) as h:
        await _connected(h, x)
        ann = await h.agent("ann")
        await _mention(h, x, "1790000000000000201", "@acme my parcel never came")
        iid, _ = await accepted(h, ann)
        fine = await ann.reply(iid, "@dana so sorry, checking now", mode="public")
        assert fine["status"] == "queued", "a reply without the words goes at once"
        await h.wait_for(lambda: len(x.tweets) == 1, what="the first reply at X")
        private = await ann.reply(iid, "a refund is on its way", mode="private")
        assert private["status"] == "queued", "only public replies are ever held"
        held = await ann.reply(iid, "@dana we will refund you today", mode="public")
        assert held["status"] == "held" and held["metadata"]["approval"]["reasons"] == ["word:refund"]
        supervisor = h.client((await h.admin.create_token("supervisor"))["token"])
        assert [m["id"] for m in (await supervisor.request("GET", "/api/v1/approvals"))["items"]] == [held["id"]]
        with pytest.raises(CtiApiError) as refused:
            await ann.request("GET", "/api/v1/approvals")
        assert refused.value.status == 403, "agents do not decide"
        with pytest.raises(CtiApiError) as refused:
            await ann.request("POST", f"/api/v1/approvals/{held['id']}", json={"decision": "approve"})
        assert refused.value.status == 403
        requested = [e for e in await _events(h, iid) if e.type == "message.approval_requested"]
        assert [e.data["message"]["id"] for e in requested] == [held["id"]] and requested[0].agent_id == "ann"
        await asyncio.sleep(1.0)  # the outbox worker polls every 0.2 s: it had five chances
        assert [t["text"] for t in x.tweets] == ["@dana so sorry, checking now"], "nothing held reaches X"
        waiting_since = (await h.admin.get_interaction(iid))["first_response_at"]

    async with running_server(config) as h:  # the same database: a restart
        await _connected(h, x)
        supervisor = h.client((await h.admin.create_token("supervisor"))["token"])
        [still] = (await supervisor.request("GET", "/api/v1/approvals"))["items"]
        assert still["id"] == held["id"] and still["status"] == "held" and still["agent_id"] == "ann"
        with pytest.raises(CtiApiError) as bad:
            await supervisor.request("POST", f"/api/v1/approvals/{held['id']}", json={"decision": "reject"})
        assert bad.value.status == 400 and bad.value.details == {"reason": "required"}
        assert (await supervisor.request("GET", "/api/v1/approvals"))["items"][0]["status"] == "held", "unchanged"
        edited = "@dana your refund of the parcel is on its way today"
        approved = await supervisor.request("POST", f"/api/v1/approvals/{held['id']}",
                                            json={"decision": "approve", "text": edited})
        assert approved["status"] == "queued" and approved["text"] == edited
        await h.wait_for(lambda: len(x.tweets) == 2, what="the approved reply at X")
        await asyncio.sleep(1.0)
        assert [t["text"] for t in x.tweets] == ["@dana so sorry, checking now", edited], "sent once, as edited"
        with pytest.raises(CtiApiError) as again:
            await supervisor.request("POST", f"/api/v1/approvals/{held['id']}", json={"decision": "approve"})
        assert again.value.status == 409 and again.value.code == "not_held"
        [decided] = [e for e in await _events(h, iid) if e.type == "message.approved"]
        assert decided.data["approval"]["edited"] is True and decided.agent_id == "ann"
        assert decided.data["approval"]["original_text"] == "@dana we will refund you today"
        assert decided.data["approval"]["by"].startswith("supervisor:")
        timeline = await h.admin.timeline((await h.admin.get_interaction(iid))["case_id"])
        kinds = [entry["type"] for entry in timeline["entries"]]
        assert "message.approval_requested" in kinds and "message.approved" in kinds, kinds
        assert waiting_since is not None, "the first public reply already answered the customer"


async def test_a_rejected_reply_never_goes_and_the_clock_runs_while_one_waits(tmp_path: Path, x: XEmulator) -> None:
    config = approval_config(tmp_path, x, public_replies=True)
    async with running_server(config) as h:
        await _connected(h, x)
        bob = await h.agent("bob")
        await h.admin.update_agent("bob", needs_approval=True)
        assert (await h.admin.get_agent("bob"))["needs_approval"] is True
        await _mention(h, x, "1790000000000000301", "@acme you are the worst")
        iid, _ = await accepted(h, bob)
        held = await bob.reply(iid, "@dana we hear you", mode="public")
        assert held["metadata"]["approval"]["reasons"] == ["all", "agent"]
        assert (await h.admin.get_interaction(iid))["first_response_at"] is None, "not answered while it waits"
        supervisor = h.client((await h.admin.create_token("supervisor"))["token"])
        rejected = await supervisor.request("POST", f"/api/v1/approvals/{held['id']}",
                                            json={"decision": "reject", "reason": "Take this one to DM, please"})
        assert rejected["status"] == "rejected" and rejected["error"] == "Take this one to DM, please"
        mine = next(m for m in (await bob.messages(iid))["items"] if m["id"] == held["id"])
        assert mine["status"] == "rejected" and mine["metadata"]["approval"]["reason"] == "Take this one to DM, please"
        [event] = [e for e in await _events(h, iid) if e.type == "message.rejected"]
        assert event.agent_id == "bob" and event.data["approval"]["reason"] == "Take this one to DM, please"
        second = await bob.reply(iid, "@dana sorry, please DM us", mode="public")
        await asyncio.sleep(0.6)
        await supervisor.request("POST", f"/api/v1/approvals/{second['id']}", json={"decision": "approve"})
        await h.wait_for(lambda: x.tweets, what="the approved reply at X")
        await asyncio.sleep(1.0)
        assert [t["text"] for t in x.tweets] == ["@dana sorry, please DM us"], "the rejected reply never went"
        row = await h.admin.get_interaction(iid)
        waited = _seconds(row["first_response_at"]) - _seconds(second["created_at"])
        assert waited >= 0.5, "the first response is when the reply was let go, not when it was written"


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def _signed_in(browser: Any, url: str, label: str, token: str, width: int = 1400) -> Any:
    page = await browser.new_page(viewport={"width": width, "height": 900})
    await page.goto(url)
    await page.get_by_text("Sign in with an API token").click()
    await page.get_by_label(label).fill(token)
    await page.get_by_role("button", name="Use the token").click()
    await expect(page.locator("#link-status")).to_have_text("live")
    return page


async def test_in_the_browser_a_supervisor_edits_and_approves_and_rejects(tmp_path: Path, x: XEmulator,
                                                                         browser: Any) -> None:
    """The agent's desk and the supervisor's wallboard, both in Chromium: the edited reply reaches X
    once, the rejected one never; the agent's conversation shows each state as it happens."""
    async with running_server(approval_config(tmp_path, x, words=["refund"])) as h:
        await _connected(h, x)
        ann = await h.agent("ann")
        await _mention(h, x, "1790000000000000401", "@acme I want my money back")
        iid, _ = await accepted(h, ann)
        desk = await _signed_in(browser, h.url + "/desk", "Your API token",
                                (await h.admin.create_token("agent", agent_id="ann"))["token"])
        board = await _signed_in(browser, h.url + "/wallboard", "Supervisor token",
                                 (await h.admin.create_token("supervisor"))["token"])
        await expect(board.locator("#approvals-empty")).to_be_visible()

        card = desk.locator(f'#work [data-id="{iid}"]')
        await expect(card.get_by_label("Reply mode")).to_be_visible()
        await card.get_by_label("Reply mode").select_option("public")
        await card.get_by_label("Your reply").fill("@dana a refund? sure thing!!")
        await card.get_by_role("button", name="Send", exact=True).click()
        await expect(card.locator(".badge.delivery.held")).to_have_text("held for approval")

        held = board.locator("#approvals article.approval")
        await expect(held).to_have_count(1)
        await expect(held).to_contain_text("Held because: contains “refund”")
        await expect(held.locator(".held-for")).to_contain_text("Ann · X")
        await expect(board.locator("#approvals-count")).to_have_text("1")
        await held.get_by_label("Reply").fill("@dana We are sorry. Your refund is on its way.")
        await held.get_by_role("button", name="Approve as edited").click()
        await expect(held).to_have_count(0)
        await expect(board.locator("#approvals-empty")).to_be_visible()
        await h.wait_for(lambda: x.tweets, what="the approved reply at X")
        assert [t["text"] for t in x.tweets] == ["@dana We are sorry. Your refund is on its way."]
        await expect(card.locator(".msg.outbound").last).to_contain_text("Your refund is on its way.")
        await expect(card.locator(".msg.outbound").last).to_contain_text("edited by a supervisor")
        await expect(card.locator(".badge.delivery").last).to_have_text("sent")

        await card.get_by_label("Reply mode").select_option("public")
        await card.get_by_label("Your reply").fill("@dana no refund for you, lol")
        await card.get_by_role("button", name="Send", exact=True).click()
        await expect(held).to_have_count(1)
        await held.get_by_role("button", name="Reject").click()
        await expect(held.locator(".error")).to_have_text("Write a reason for the agent first.")
        await held.get_by_label("Reason for the agent (needed to reject)").fill("Not our tone: offer a DM instead")
        await held.get_by_role("button", name="Reject").click()
        await expect(held).to_have_count(0)
        await expect(card.locator(".badge.delivery").last).to_have_text("rejected: Not our tone: offer a DM instead")
        ARTIFACTS.mkdir(exist_ok=True)
        await desk.screenshot(path=str(ARTIFACTS / "approval-desk.png"), full_page=True)
        await asyncio.sleep(1.0)
        assert len(x.tweets) == 1, "the rejected reply never reached X"
        await desk.close()
        await board.close()
