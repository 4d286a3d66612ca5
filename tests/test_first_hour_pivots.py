"""A newcomer's first pivot on the default configuration (no voice connector): nothing promises a
call that cannot come. Links to a callback or a browser call are refused with a clear code, pages
offer only what can happen, and a callback that can no longer be placed fails visibly without ever
offering an agent a phantom call."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cti.client import CtiApiError
from cti.config import WebchatConfig
from tests.harness import CALLS, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET, Customer, pivoted_case
from tests.receiver import Receiver

ALL_WEEK = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def config(tmp_path: Path, shop: Receiver, **sections: Any) -> Any:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    return make_config(tmp_path, channels=channels, pivot={"opening_hours": ALL_WEEK},
                       webhooks={"initial_backoff": 0.05, "max_backoff": 0.2}, **sections)


async def test_without_voice_no_link_promises_a_call(tmp_path: Path, shop: Receiver) -> None:
    with_chat = config(tmp_path, shop)
    with_chat.channels.webchat = WebchatConfig()
    async with running_server(with_chat) as h:
        ann = await h.agent("ann", name="Ann Example")
        stored = await h.admin.inbound(channel="shop-chat", sender=("x", "12345"), text="help", external_id="t-1")
        iid = stored["interaction_id"]
        await h.interaction_in_state(iid, "offered")
        await ann.accept(iid)
        for target in ("callback", "voice"):
            with pytest.raises(CtiApiError) as refused:
                await ann.pivot(iid, target, send=True)
            assert (refused.value.status, refused.value.code) == (422, "pivot_target_unavailable")
            assert "[connectors.sip]" in refused.value.details["to"]
        assert (await ann.list_pivot_links())["items"] == [], "nothing was minted"
        assert shop.received == [], "nothing was sent to the customer"

        # A written pivot still works, and its page offers no call at all.
        link = (await ann.pivot(iid, "chat"))["pivot_link"]
        customer = Customer(h.url)
        try:
            path = "/p/" + link["url"].rsplit("/p/", 1)[1]
            status, page, _ = await customer.open(path)
            assert status == 200
            assert 'id="call-now"' not in page and 'id="talk"' not in page and "voice.js" not in page
            assert 'src="/chat/widget.js"' in page, "the chat link's page opens the chat"
            status, page, _ = await customer.submit(path, phone="+358401234567")
            assert status == 503 and 'id="call-now"' not in page
        finally:
            await customer.close()
        assert (await h.admin.list_callbacks())["items"] == []
        assert (await ann.get_interaction(iid))["state"] == "active"


async def test_a_callback_that_cannot_be_placed_fails_visibly(tmp_path: Path, shop: Receiver) -> None:
    """The voice connector was removed after the customer asked for a call at a later time."""
    with_calls = config(tmp_path, shop, connectors=CALLS)
    async with running_server(with_calls) as h:
        p = await pivoted_case(h, agent_id="ann")
        customer = Customer(h.url)
        try:
            _, page, _ = await customer.open(p.path)
            assert 'id="call-now"' in page and 'id="talk"' not in page, "Twilio places calls, bridges no browser"
            slot = page.split('<option value="', 1)[1].split('"', 1)[0]
            status, _, _ = await customer.submit(p.path, phone="+358401234567", when=slot)
        finally:
            await customer.close()
        assert status == 200
        callback = (await h.admin.list_callbacks())["items"][0]
    with sqlite3.connect(tmp_path / "cti.db") as db:  # its time comes while the server is down
        db.execute("update callbacks set due_at = 0")
    async with running_server(config(tmp_path, shop)) as h:
        async def failed() -> dict[str, Any] | None:
            row = await h.admin.get_callback(callback["id"])
            return row if row["state"] == "failed" else None

        row = await h.wait_for(failed, what="the callback failed")
        assert row["interaction_id"] is None and row["history"][-1]["outcome"] == "no_voice_connector"
        calls = (await h.admin.list_interactions(channel="voice"))["items"]
        assert calls == [], "no phantom call was offered to anyone"
        timeline = await h.admin.timeline(p.case_id)
        failure = next(e for e in timeline["entries"] if e["type"] == "callback.failed")
        assert failure["data"]["reason"] == "no_voice_connector" and failure["agent_id"] == "ann"

        async def told() -> bool:
            return any("+358" in r["body"]["message"]["text"] for r in shop.received)

        await h.wait_for(told, what="the customer told on their channel")
        # The agent is not blocked: the next chat reaches her.
        ann = h.client((await h.admin.create_token("agent", agent_id="ann"))["token"])
        await ann.set_agent_state("ann", "available")
        nxt = await h.admin.inbound(channel="shop-chat", sender=("email", "n@example.com"), text="hi",
                                    external_id="t-2")
        offered = await h.interaction_in_state(nxt["interaction_id"], "offered")
        assert offered["agent_id"] == "ann"
