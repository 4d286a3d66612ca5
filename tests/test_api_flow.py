"""The unified API end to end on SQLite: inbound, routing, accept, reply, end, wrap-up, timeline."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import aiohttp
import pytest

from cti.client import CtiApiError
from tests.harness import Harness, make_config, running_server
from tests.receiver import Receiver

SECRET = "shop-secret-0123456789"


@pytest.fixture
async def shop() -> Receiver:
    receiver = Receiver(SECRET)
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def h(tmp_path: Path, shop: Receiver) -> Harness:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels,
                                          webhooks={"initial_backoff": 0.05, "max_backoff": 0.2})) as harness:
        yield harness


async def test_inbound_is_routed_accepted_replied_and_closed(h: Harness, shop: Receiver) -> None:
    alice = await h.agent("alice", skills={"en": 3})
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", "Bob@Example.com"),
                                   text="my router died", external_id="m-1", thread_id="t-1")
    assert stored["duplicate"] is False
    iid = stored["interaction_id"]

    offered = await h.interaction_in_state(iid, "offered")
    assert offered["agent_id"] == "alice"
    assert offered["routing"]["agent_id"] == "alice" and offered["routing"]["rule"] == "default"
    assert offered["routing"]["reasons"], "the offer explains why this agent was chosen"

    accepted = await alice.accept(iid)
    assert accepted["state"] == "active"
    message = await alice.reply(iid, "Sorry to hear that, calling you shortly")
    assert message["status"] == "queued"

    await h.wait_for(lambda: shop.received, what="the reply at the shop backend")
    delivered = shop.received[0]["body"]
    assert delivered["message"]["text"] == "Sorry to hear that, calling you shortly"
    assert delivered["to"] == {"kind": "email", "value": "bob@example.com"}
    assert delivered["thread_id"] == "t-1"

    async def sent() -> bool:
        items = (await alice.messages(iid))["items"]
        return any(m["direction"] == "outbound" and m["status"] == "sent" and m["external_id"] == "ext-1"
                   for m in items)

    await h.wait_for(sent, what="the reply marked sent")
    assert (await alice.end(iid))["state"] == "wrapup"
    done = await alice.wrapup(iid, disposition="solved", notes="router replaced")
    assert done["state"] == "ended" and done["disposition"] == "solved"

    timeline = await h.admin.timeline(stored["case_id"])
    types = [e["type"] for e in timeline["entries"]]
    assert types == ["case.created", "interaction.created", "interaction.queued", "message.received",
                     "interaction.offered", "interaction.accepted", "message.queued", "message.sent",
                     "interaction.wrapup", "interaction.ended"]
    seqs = [e["seq"] for e in timeline["entries"]]
    assert seqs == sorted(seqs)
    assert all(e["channel"] == "shop-chat" for e in timeline["entries"] if "interaction_id" in e)


async def test_duplicate_external_id_stores_one_message(h: Harness) -> None:
    first = await h.admin.inbound(channel="shop-chat", sender=("phone", "+358401234567"), text="hi",
                                  external_id="dup-1")
    second = await h.admin.inbound(channel="shop-chat", sender=("phone", "+358401234567"), text="hi",
                                   external_id="dup-1")
    assert second["duplicate"] is True
    assert second["message"]["id"] == first["message"]["id"]
    items = (await h.admin.messages(first["interaction_id"]))["items"]
    assert len(items) == 1


async def test_thread_continues_and_new_thread_after_end_reuses_open_case(h: Harness) -> None:
    alice = await h.agent("alice")
    a = await h.admin.inbound(channel="shop-chat", sender=("email", "c@example.com"), text="one", external_id="1")
    b = await h.admin.inbound(channel="shop-chat", sender=("email", "c@example.com"), text="two", external_id="2")
    assert a["interaction_id"] == b["interaction_id"]
    iid = a["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    await alice.accept(iid)
    await alice.end(iid)
    await alice.wrapup(iid)
    c = await h.admin.inbound(channel="shop-chat", sender=("email", "c@example.com"), text="three", external_id="3")
    assert c["interaction_id"] != iid, "an ended interaction is not reopened"
    assert c["case_id"] == a["case_id"], "the case is still open, so the new interaction joins it"
    await h.admin.update_case(a["case_id"], status="closed")
    # once the live interaction ends, the next message opens a new case
    await h.interaction_in_state(c["interaction_id"], "offered")
    await alice.accept(c["interaction_id"])
    await alice.end(c["interaction_id"])
    await alice.wrapup(c["interaction_id"])
    d = await h.admin.inbound(channel="shop-chat", sender=("email", "c@example.com"), text="four", external_id="4")
    assert d["case_id"] != a["case_id"]


async def test_refused_transition_is_409_and_changes_nothing(h: Harness) -> None:
    alice = await h.agent("alice")
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", "x@example.com"), text="x",
                                   external_id="x1")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    with pytest.raises(CtiApiError) as err:
        await alice.hold(iid)
    assert err.value.status == 409 and err.value.code == "invalid_transition"
    assert err.value.details == {"command": "hold", "state": "offered"}
    assert (await h.admin.get_interaction(iid))["state"] == "offered"


async def test_agents_act_only_on_their_own_interactions(h: Harness) -> None:
    alice = await h.agent("alice")
    bob = await h.agent("bob", state="away")
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", "y@example.com"), text="y",
                                   external_id="y1")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    with pytest.raises(CtiApiError) as err:
        await bob.accept(iid)
    assert err.value.status == 403 and err.value.code == "not_your_interaction"
    with pytest.raises(CtiApiError) as err:
        await bob.get_case(stored["case_id"])
    assert err.value.status == 403
    with pytest.raises(CtiApiError) as err:
        await bob.set_agent_state("alice", "away")
    assert err.value.status == 403
    with pytest.raises(CtiApiError) as err:
        await bob.create_agent("Mallory")
    assert err.value.status == 403
    assert (await alice.get_case(stored["case_id"]))["id"] == stored["case_id"]
    assert (await h.admin.get_interaction(iid))["agent_id"] == "alice"


async def test_bad_input_is_400_with_field_details_and_stores_nothing(h: Harness) -> None:
    cases = [
        ({"channel": "shop-chat", "from": {"kind": "phone", "value": "12"}, "text": "t", "external_id": "b1"},
         "from.value"),
        ({"channel": "nope", "from": {"kind": "email", "value": "a@example.com"}, "text": "t", "external_id": "b2"},
         "channel"),
        ({"channel": "shop-chat", "from": {"kind": "email", "value": "a@example.com"}, "text": "",
          "external_id": "b3"}, "text"),
        ({"channel": "shop-chat", "from": {"kind": "email", "value": "a@example.com"}, "text": "t"}, "external_id"),
        ({"channel": "shop-chat", "from": {"kind": "email", "value": "a@example.com"}, "text": "t",
          "external_id": "b5", "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        with pytest.raises(CtiApiError) as err:
            await h.admin.request("POST", "/api/v1/inbound", json=body)
        assert err.value.status == 400, body
        assert any(field in key for key in err.value.details), (field, err.value.details)
    assert (await h.admin.list_contacts())["items"] == []
    assert (await h.admin.list_interactions())["items"] == []


async def test_unknown_ids_are_404_and_missing_token_401(h: Harness) -> None:
    for path in ("/api/v1/interactions/int_nope", "/api/v1/cases/cas_nope", "/api/v1/contacts/con_nope",
                 "/api/v1/agents/nobody", "/api/v1/cases/cas_nope/timeline"):
        with pytest.raises(CtiApiError) as err:
            await h.admin.request("GET", path)
        assert err.value.status == 404, path
    anonymous = h.client("cti_not-a-real-token")
    with pytest.raises(CtiApiError) as err:
        await anonymous.list_interactions()
    assert err.value.status == 401 and err.value.code == "invalid_token"


async def test_reject_goes_to_the_next_agent_and_timeout_too(tmp_path: Path, shop: Receiver) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url(), "secret": SECRET}]}
    config = make_config(tmp_path, channels=channels, routing={"offer_timeout": 0.5})
    async with running_server(config) as h:
        first = await h.agent("alice", rating=5)
        await h.agent("bob", rating=1)
        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "z@example.com"), text="z",
                                       external_id="z1")
        iid = stored["interaction_id"]
        offered = await h.interaction_in_state(iid, "offered")
        who = offered["agent_id"]
        other = "bob" if who == "alice" else "alice"
        if who == "alice":
            await first.reject(iid, reason="busy")

        async def offered_to_other() -> bool:
            row = await h.admin.get_interaction(iid)
            return row["state"] == "offered" and row["agent_id"] == other

        await h.wait_for(offered_to_other, what="offer to the other agent")
        # nobody answers: the offer times out and goes back round
        async def timed_out() -> bool:
            timeline = await h.admin.timeline(stored["case_id"])
            return any(e["type"] == "interaction.rejected" and e["data"].get("reason") == "timeout"
                       for e in timeline["entries"])

        await h.wait_for(timed_out, what="offer timeout")


async def test_transfer_to_agent_and_queue(h: Harness) -> None:
    alice = await h.agent("alice")
    bob = await h.agent("bob", state="away")
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", "t@example.com"), text="t",
                                   external_id="t1")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    await alice.accept(iid)
    with pytest.raises(CtiApiError) as err:
        await alice.transfer(iid, agent_id="bob")
    assert err.value.code == "agent_unavailable"
    await bob.set_agent_state("bob", "available")
    moved = await alice.transfer(iid, agent_id="bob")
    assert moved["state"] == "offered" and moved["agent_id"] == "bob"
    await bob.accept(iid)
    with pytest.raises(CtiApiError) as err:
        await bob.transfer(iid, queue="nowhere")
    assert err.value.status == 400 and err.value.code == "unknown_queue"
    assert (await h.admin.get_interaction(iid))["state"] == "active", "a refused transfer changes nothing"
    back = await bob.transfer(iid, queue="default")
    assert back["state"] == "queued" and back["agent_id"] is None


async def test_abandon_and_reports(h: Harness) -> None:
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", "q@example.com"), text="q",
                                   external_id="q1")
    iid = stored["interaction_id"]
    abandoned = await h.admin.abandon(iid, reason="customer_left")
    assert abandoned["state"] == "abandoned"
    report = await h.admin.summary_report(group_by="channel")
    group = report["groups"]["shop-chat"]
    assert group["offered"] == 1 and group["handled"] == 0
    assert group["short_abandoned"] + group["abandoned"] == 1
    async with aiohttp.ClientSession() as session, session.get(
            h.url + "/api/v1/reports/summary", params={"group_by": "channel"},
            headers={"Authorization": f"Bearer {h.admin.token}", "Accept": "text/csv"}) as response:
        assert response.status == 200 and response.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0][:3] == ["group", "offered", "handled"]
    shop_row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == "shop-chat"), strict=True))
    assert shop_row["offered"] == "1" and shop_row["handled"] == "0"
    stats = await h.admin.realtime_stats()
    shop = next(q for q in stats["queues"] if q["channel"] == "shop-chat")
    assert shop["queue"] == "default" and shop["waiting"] == 0 and shop["offered_today"] == 1


async def test_outbound_interaction_on_custom_channel(h: Harness, shop: Receiver) -> None:
    alice = await h.agent("alice")
    created = await alice.start_interaction("shop-chat", {"kind": "email", "value": "new@example.com"},
                                            text="We have news about your order")
    assert created["interaction"]["state"] == "active" and created["interaction"]["agent_id"] == "alice"
    assert created["interaction"]["direction"] == "outbound"
    await h.wait_for(lambda: shop.received, what="outbound message delivered")
    assert shop.received[0]["body"]["message"]["text"] == "We have news about your order"
    with pytest.raises(CtiApiError) as err:
        await alice.start_interaction("voice", "+358401234567")
    assert err.value.status == 422 and err.value.code == "channel_not_configured"
