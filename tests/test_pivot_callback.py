"""The pivot journey end to end with real parts: a customer's message in through the custom-channel
API, the agent pivots, the customer opens the link in headless Chromium on a phone-sized screen
and asks for a call, the server dials the agent's and the customer's real SIP phones (baresip)
through Kamailio and bridges them; each hears the other's tone; the timeline tells it in order.
Also: a number that cannot be reached is retried, then reported to the agent and the customer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency
from tests.harness import Harness, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET, Customer, pivoted_case
from tests.receiver import Receiver
from tests.voice_helpers import CUSTOMER_MOBILE, registered

ALL_WEEK = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def pivot_config(tmp_path: Path, registrar: Registrar, shop: Receiver, **pivot: Any) -> Any:
    return make_config(
        tmp_path,
        connectors={"sip": {"registrar": f"127.0.0.1:{registrar.port}", "username": "cti", "password": "ctipass",
                            "dial_format": "digits", "customer_ring_seconds": 20}},
        channels={"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]},
        webhooks={"initial_backoff": 0.05, "max_backoff": 0.2},
        pivot={"company_name": "Acme", "opening_hours": ALL_WEEK, **pivot})


async def offered_callback(h: Harness, attempt_of: str, *, skip: set[str] | None = None) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        items = (await h.admin.list_interactions(channel="voice", state="offered"))["items"]
        return next((i for i in items if i["initiation"] == "callback" and i["source_interaction_id"] == attempt_of
                     and i["id"] not in (skip or set())), None)

    return await h.wait_for(found, timeout=20, what="the callback offered to the agent")


async def test_a_tweet_pivots_to_a_callback_that_bridges_two_real_phones(
        tmp_path: Path, registrar: Registrar, phones: Any, shop: Receiver, browser: Any) -> None:
    alice_phone = await phones("alice", 440)
    mobile = await phones(CUSTOMER_MOBILE, 1000)
    async with running_server(pivot_config(tmp_path, registrar, shop)) as h:
        await registered(h)
        p = await pivoted_case(h, endpoint=alice_phone.uri)
        await h.wait_for(lambda: shop.received, what="the DM with the link")
        assert p.link["url"] in shop.received[0]["body"]["message"]["text"]

        context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                            has_touch=True, locale="en-GB")
        page = await context.new_page()
        response = await page.goto(h.url + p.path)
        assert response.status == 200
        assert "Alice from Acme would like to call you" in await page.inner_text("#intro")
        await page.get_by_label("Your phone number").first.fill("+358 40 123 4567")
        await page.click("#call-now")
        await page.wait_for_selector("#done")
        assert "+358 ••••••• 67" in await page.inner_text("#done")
        await context.close()

        callback_call = await offered_callback(h, p.interaction_id)
        assert callback_call["agent_id"] == "alice" and callback_call["case_id"] == p.case_id
        assert "case affinity" in " ".join(callback_call["routing"]["reasons"])
        await p.agent.accept(callback_call["id"])
        callback = await h.wait_for(lambda: _callback_in(h, "connected"), timeout=30, what="callback connected")
        await asyncio.to_thread(mobile.wait_log, "Call established")
        await asyncio.sleep(2.0)  # both phones play their tone into the bridge
        await p.agent.end(callback_call["id"])
        await asyncio.to_thread(alice_phone.wait_call_over)
        await asyncio.to_thread(mobile.wait_call_over)

        done = await h.wait_for(lambda: _callback_in(h, "completed"), what="callback completed (after call.ended)")
        assert done["id"] == callback["id"] and done["attempts"] == 1
        contact = await h.admin.get_contact(callback_call["contact_id"])
        assert {(i["kind"], i["value"], i["verified"]) for i in contact["identities"]} >= {
            ("phone", "+358401234567", True)}, "answered, so the number is verified"
        timeline = await h.admin.timeline(p.case_id)
        journey = [e["type"] for e in timeline["entries"] if e["type"] in JOURNEY]
        assert journey == ["message.received", "pivot.created", "message.sent", "pivot.opened", "pivot.redeemed",
                           "callback.scheduled", "callback.dialing", "callback.connected", "call.ended"]
        ended = next(e for e in timeline["entries"] if e["type"] == "call.ended")
        assert ended["data"]["duration"] >= 2.0
        assert {i["id"] for i in timeline["interactions"]} == {p.interaction_id, callback_call["id"]}

        report = await h.admin.request("GET", "/api/v1/reports/summary", params={"group_by": "channel"})
        funnel = report["groups"]["shop-chat"]
        assert (funnel["pivots_sent"], funnel["pivots_opened"], funnel["pivots_redeemed"]) == (1, 1, 1)
        assert report["pivot"]["connected"] == 1 and report["pivot"]["median_seconds_to_voice"] > 0
        live = await h.admin.request("GET", "/api/v1/stats/realtime")
        assert live["pivot_today"] == report["pivot"]
    heard = {phone.name: [dominant_frequency(r) for r in phone.recordings() if r.name.endswith("-dec.wav")]
             for phone in (alice_phone, mobile)}
    assert heard["alice"] and abs(heard["alice"][0] - 1000) < 20, heard  # the agent heard the customer
    assert heard[CUSTOMER_MOBILE] and abs(heard[CUSTOMER_MOBILE][0] - 440) < 20, heard  # and the customer her


JOURNEY = {"message.received", "pivot.created", "message.sent", "pivot.opened", "pivot.redeemed",
           "callback.scheduled", "callback.dialing", "callback.connected", "call.ended"}


async def _callback_in(h: Harness, state: str) -> dict[str, Any] | None:
    items = (await h.admin.list_callbacks(state=state))["items"]
    return items[0] if items else None


async def test_an_unreachable_number_is_retried_then_reported_to_agent_and_customer(
        tmp_path: Path, registrar: Registrar, phones: Any, shop: Receiver) -> None:
    alice_phone = await phones("alice", 440)
    async with running_server(pivot_config(tmp_path, registrar, shop, retry_seconds=[0.5])) as h:
        await registered(h)
        p = await pivoted_case(h, endpoint=alice_phone.uri, send=False)
        customer = Customer(h.url)
        try:
            await customer.open(p.path)
            status, _, _ = await customer.submit(p.path, phone="+358401234568", when="now")  # no phone there
        finally:
            await customer.close()
        assert status == 200
        seen: set[str] = set()
        for _attempt in range(2):
            attempt = await offered_callback(h, p.interaction_id, skip=seen)
            seen.add(attempt["id"])
            await p.agent.accept(attempt["id"])
            await h.interaction_in_state(attempt["id"], "ended", timeout=20)  # no customer: wrapped up for her
        failed = await h.wait_for(lambda: _callback_in(h, "failed"), timeout=20, what="callback failed")
        assert failed["attempts"] == 2 and [a["outcome"] for a in failed["history"]] == ["failed", "failed"]
        await h.wait_for(lambda: any("could not reach you" in r["body"]["message"]["text"] for r in shop.received),
                         what="the customer told on the original channel")
        told = next(r["body"] for r in shop.received if "could not reach you" in r["body"]["message"]["text"])
        assert told["interaction_id"] == p.interaction_id and "401234568" not in told["message"]["text"]
        events = await h.admin.request("GET", "/api/v1/interactions", params={"channel": "voice"})
        assert {i["disposition"] for i in events["items"]} == {"callback failed"}
