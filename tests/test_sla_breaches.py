"""sla.breached: once per interaction when it has waited past its channel's threshold, to a webhook
and to the wallboard, which counts the breaches and marks the queue; answered late between two
looks is still told; looking again (or from another node) never tells twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from cti.bus import EventFilter
from cti.report_engine import MetricRules
from cti.sla_watch import SlaWatch
from tests.harness import Harness, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET


def config(tmp_path: Path, shop: Any, threshold: float = 1.0) -> Any:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    return make_config(tmp_path, channels=channels, reports={"sla_seconds": {"chat": threshold}},
                       webhooks={"initial_backoff": 0.05, "max_backoff": 0.2})


async def breaches(h: Harness) -> list[Any]:
    return await h.services.bus.replay(0, EventFilter(types=["sla.breached"]))


def watch(h: Harness) -> SlaWatch:
    def rules() -> tuple[MetricRules, list[str]]:
        made = MetricRules.of(h.services.config.reports, h.services.policies.current)
        return made, made.known_channels(h.services.policies.current, h.services.channels.names())

    return SlaWatch(h.services.db, rules)


async def test_a_wait_past_the_threshold_is_told_once_to_a_webhook_and_the_wallboard(tmp_path: Path, shop: Any,
                                                                                    browser: Any) -> None:
    async with running_server(config(tmp_path, shop)) as h:
        await h.admin.create_webhook(shop.url("/events"), types=["sla.breached"], secret=SHOP_SECRET)
        token = (await h.admin.create_token("supervisor"))["token"]
        board = await browser.new_page(viewport={"width": 1400, "height": 900})
        await board.goto(h.url + "/wallboard")
        await board.get_by_text("Sign in with an API token").click()
        await board.get_by_label("Supervisor token").fill(token)
        await board.get_by_role("button", name="Use the token").click()
        await expect(board.locator("#link-status")).to_have_text("live")
        await expect(board.locator("#breaches")).to_have_text("0")

        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "late@example.com"), text="hello?",
                                       external_id="late-1")
        iid = stored["interaction_id"]
        [event] = await h.wait_for(lambda: breaches(h), what="sla.breached", timeout=10)
        assert event.interaction_id == iid and event.queue is not None
        assert event.data["channel"] == "shop-chat" and event.data["threshold_seconds"] == 1.0
        assert event.data["waited_seconds"] > 1.0 and event.data["state"] == "queued"
        await h.wait_for(lambda: [r for r in shop.received if r["body"].get("type") == "sla.breached"],
                         what="the breach at the webhook")
        await expect(board.locator("#breaches")).to_have_text("1")
        await expect(board.locator("#tile-breaches")).to_have_class("tile alert")
        await expect(board.locator("#queues tbody tr.breached")).to_have_count(1)
        await expect(board.locator("#breached-now")).to_have_text("1 waiting past the threshold")

        await asyncio.sleep(2.5)  # two more looks of the running watcher, and ours
        assert await watch(h).look() == 0
        assert len(await breaches(h)) == 1, "once per interaction"
        assert len([r for r in shop.received if r["body"].get("type") == "sla.breached"]) == 1
        await board.close()


async def test_an_answer_late_between_two_looks_is_still_told(tmp_path: Path, shop: Any) -> None:
    async with running_server(config(tmp_path, shop, threshold=5.0)) as h:
        alice = await h.agent("alice")
        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "quick@example.com"), text="hi",
                                       external_id="quick-1")
        iid = stored["interaction_id"]
        await h.interaction_in_state(iid, "offered")
        await alice.accept(iid)
        # As if the answer came 30 s after queueing, a moment ago: the watcher never saw it waiting.
        I = models.interactions
        now = time.time()
        await h.services.db.write(lambda tx: tx.conn.execute(sa.update(I).where(I.c.id == iid).values(
            queued_at=now - 31, created_at=now - 31, accepted_at=now - 1, sla_breached_at=None)))
        await watch(h).look()  # (or the running watcher, a moment later: either tells it, once)
        [event] = await h.wait_for(lambda: breaches(h), what="the late answer told")
        assert event.interaction_id == iid and event.data["state"] == "active"
        assert 29.5 < event.data["waited_seconds"] < 31, "the wait up to the answer"
        answered_in_time = await h.admin.inbound(channel="shop-chat", sender=("email", "fine@example.com"),
                                                 text="hi", external_id="fine-1")
        await h.interaction_in_state(answered_in_time["interaction_id"], "offered")
        await alice.accept(answered_in_time["interaction_id"])
        await asyncio.sleep(1.5)
        assert [e.interaction_id for e in await breaches(h)] == [iid], "an answer within the threshold is no breach"
