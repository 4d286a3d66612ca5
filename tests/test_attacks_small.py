"""The smaller holes, each as the attack that found it: open metrics, sent link tokens kept in plain
text, a world-readable database, deliveries that outlive their subscription, JSON without nosniff,
subscriptions that point inside the network, and customer text that reorders the desk."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from cti.client import CtiApiError
from tests.harness import CALLS, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET, pivoted_case
from tests.receiver import Receiver

HOOK_SECRET = "hook-secret-0123456789"


def shop_channel(shop: Receiver) -> dict[str, Any]:
    return {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}


async def test_metrics_need_a_token_and_json_is_nosniff(tmp_path: Path) -> None:
    async with running_server(make_config(tmp_path)) as h, aiohttp.ClientSession() as session:
        async with session.get(h.url + "/metrics") as response:
            assert response.status == 401
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        agent = await h.agent("ann")
        async with session.get(h.url + "/metrics", headers={"Authorization": f"Bearer {agent.token}"}) as response:
            assert response.status == 403, "agents do not read the whole floor's figures"
        async with session.get(h.url + "/metrics", headers={"Authorization": f"Bearer {h.admin.token}"}) as response:
            assert response.status == 200 and "cti_http_requests_total" in await response.text()
        async with session.get(h.url + "/api/v1/agents", headers={"Authorization": f"Bearer {h.admin.token}"}) as r:
            assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_database_file_is_private(tmp_path: Path) -> None:
    async with running_server(make_config(tmp_path)):
        mode = stat.S_IMODE((tmp_path / "cti.db").stat().st_mode)
        assert mode & 0o077 == 0, oct(mode)


async def test_a_sent_link_keeps_its_token_only_until_delivered(tmp_path: Path, shop: Receiver) -> None:
    async with running_server(make_config(tmp_path, channels=shop_channel(shop), connectors=CALLS)) as h:
        p = await pivoted_case(h, send=True)
        token = p.link["url"].rsplit("/", 1)[1]
        await h.wait_for(lambda: shop.received, what="the link at the customer's channel")
        assert token in shop.received[0]["body"]["message"]["text"], "the customer gets the working link"

        async def delivered() -> bool:
            rows = await h.services.db.read(lambda c: c.exec_driver_sql(
                "SELECT state FROM outbox WHERE kind = 'channel'").all())
            return bool(rows) and all(r[0] == "done" for r in rows)

        await h.wait_for(delivered, what="the outbox item done")
        for table in ("messages", "events", "outbox"):
            dump = await h.services.db.read(lambda c, t=table: c.exec_driver_sql(f"SELECT * FROM {t}").all())
            assert token not in repr(dump), f"the token is stored in {table}"
        timeline = await p.agent.timeline(p.case_id)
        assert token not in repr(timeline)
        sent = [m for m in timeline["messages"] if m["direction"] == "outbound"]
        assert sent and "/p/…" in sent[0]["text"]


async def test_deleting_a_subscription_stops_its_queued_deliveries(tmp_path: Path, shop: Receiver) -> None:
    hook = Receiver(HOOK_SECRET)
    await hook.start()
    config = make_config(tmp_path, channels=shop_channel(shop),
                         webhooks={"initial_backoff": 0.05, "max_backoff": 0.1})
    async with running_server(config) as h:
        created = await h.admin.create_webhook(hook.url("/events"), types=["message.received"], secret=HOOK_SECRET)
        await hook.stop()
        for n in range(3):
            await h.admin.inbound(channel="shop-chat", sender=("email", f"q{n}@example.com"), text="hi",
                                  external_id=f"q{n}")

        async def queued() -> bool:
            rows = await h.services.db.read(lambda c: c.exec_driver_sql(
                "SELECT attempts FROM outbox WHERE kind = 'webhook' AND state = 'pending'").all())
            return len(rows) == 3 and all(r[0] >= 1 for r in rows)

        await h.wait_for(queued, what="three deliveries waiting")
        await h.admin.delete_webhook(created["id"])
        await hook.start()
        rows = await h.services.db.read(lambda c: c.exec_driver_sql(
            "SELECT state, last_error FROM outbox WHERE kind = 'webhook'").all())
        assert [r[0] for r in rows] == ["failed"] * 3 and "deleted" in rows[0][1]
        await h.admin.inbound(channel="shop-chat", sender=("email", "q9@example.com"), text="hi", external_id="q9")
        await h.wait_for(lambda: len(shop.received) >= 0 and h.services.bus.last_seq > 0, what="events")
        assert hook.received == []
    await hook.stop()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/",
                                 "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"])
async def test_subscriptions_to_internal_addresses_are_refused(tmp_path: Path, url: str) -> None:
    async with running_server(make_config(tmp_path, webhooks={"allow_private_targets": False})) as h:
        with pytest.raises(CtiApiError) as refused:
            await h.admin.create_webhook(url)
        assert refused.value.status == 400 and refused.value.code == "url_not_allowed"
        assert (await h.admin.list_webhooks())["items"] == []


async def test_customer_text_cannot_reorder_the_desk(tmp_path: Path, shop: Receiver, browser: Any) -> None:
    async with running_server(make_config(tmp_path, channels=shop_channel(shop))) as h:
        await h.agent("alice", name="Alice Example")
        token = (await h.admin.create_token("agent", agent_id="alice"))["token"]
        page = await (await browser.new_context()).new_page()
        await page.goto(h.url + "/desk")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Your API token").fill(token)
        await page.keyboard.press("Enter")
        await expect(page.locator("#link-status")).to_have_text("live")
        spoof = "refund \u202eredro ruoy\u202c please"
        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "rtl@example.com"), text=spoof,
                                       external_id="bidi-1", name="\u202eevilname")
        offer = page.locator(f'#offers [data-id="{stored["interaction_id"]}"]')
        await expect(offer.locator(".quote")).to_contain_text("redro")
        isolated = await page.evaluate("""() => [...document.querySelectorAll('#offers .quote, #offers .contact-line')]
            .every((node) => [...node.childNodes].filter((c) => c.nodeType === 3)
            .every((text) => !/[\\u202a-\\u202e\\u2066-\\u2069]/.test(text.textContent)))
            && [...document.querySelectorAll('#offers bdi')].length >= 2
            && getComputedStyle(document.querySelector('#offers bdi')).unicodeBidi === 'isolate'""")
        assert isolated, "customer text sits in <bdi> (unicode-bidi: isolate), never loose in the desk's own text"
