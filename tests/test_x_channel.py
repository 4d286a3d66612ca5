"""The X connector against the X emulator: signed Account Activity webhooks in, @replies and DMs
out through the v2 API, rate limits honoured, polling mode, and bad webhooks refused."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from sip_test_env.emulators.x import XEmulator, x_signature
from tests.harness import CALLS, Harness, make_config, running_server

DANA = {"id": 2244994945, "screen_name": "dana", "name": "Dana", "followers_count": 5400}


def x_config(tmp_path: Path, x: XEmulator, **settings: Any) -> Any:
    return make_config(tmp_path, connectors={"x": {
        "consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token, "account_id": x.account_id,
        "api_base": x.url, **settings}, **CALLS}, webhooks={"initial_backoff": 0.1, "max_backoff": 0.5},
        social={"handles": ["@acme"]})


@pytest.fixture
async def h(tmp_path: Path, x: XEmulator) -> AsyncIterator[Harness]:
    async with running_server(x_config(tmp_path, x)) as harness:
        async with aiohttp.ClientSession() as session, session.post(
                f"{x.url}/_control/webhook", json={"url": harness.url + "/webhooks/x"}) as response:
            assert response.status == 200, "X's CRC check of the webhook passed"
        await harness.wait_for(lambda: harness.services.connector_health.get("x") == "connected", what="x up")
        yield harness


async def inbound(h: Harness) -> list[Any]:
    M = models.messages
    return await h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "x", M.c.direction == "inbound").order_by(M.c.created_at)).all())


async def accepted(h: Harness, agent: Any) -> tuple[str, Any]:
    [first] = await h.wait_for(lambda: inbound(h), what="the X message stored")
    await h.interaction_in_state(first.interaction_id, "offered")
    await agent.accept(first.interaction_id)
    return first.interaction_id, first


async def test_a_mention_is_stored_routed_and_answered_publicly(h: Harness, x: XEmulator) -> None:
    ann = await h.agent("ann")
    status, _ = await x.signed_post(x.mention_payload({"user": DANA, "text": "@acme my router died, help!",
                                                      "id": "1790000000000000111"}))
    assert status == 200
    iid, first = await accepted(h, ann)
    assert first.external_id == "tweet:1790000000000000111" and first.text == "@acme my router died, help!"
    assert first.meta["followers"] == 5400 and first.meta["kind"] == "mention"
    contact = await h.admin.get_contact((await h.admin.get_case(first.case_id))["contact_id"])
    assert {"kind": "x", "value": "2244994945"} in [{"kind": i["kind"], "value": i["value"]}
                                                    for i in contact["identities"]]
    assert (await ann.messages(iid))["reply_modes"] == ["private", "public"]  # the desk offers both for a tweet
    message = await ann.reply(iid, "@dana sorry! DM us your order number", mode="public")
    await h.wait_for(lambda: x.tweets, what="the public reply at X")
    assert x.tweets[0]["reply"] == {"in_reply_to_tweet_id": "1790000000000000111"}

    async def sent() -> str | None:
        row = next(m for m in (await ann.messages(iid))["items"] if m["id"] == message["id"])
        return row["external_id"] if row["status"] == "sent" else None

    assert await h.wait_for(sent, what="reply marked sent") == f"tweet:{x.tweets[0]['id']}"


async def test_a_dm_is_answered_by_dm_and_own_echoes_are_skipped(h: Harness, x: XEmulator) -> None:
    ann = await h.agent("ann")
    await x.signed_post(x.dm_payload({"user": {"id": x.account_id, "screen_name": "acme"}, "text": "our echo"}))
    await x.signed_post(x.dm_payload({"user": DANA, "text": "Order 42 never came"}))
    iid, first = await accepted(h, ann)
    assert first.text == "Order 42 never came" and [m.text for m in await inbound(h)] == ["Order 42 never came"]
    await ann.reply(iid, "Checking order 42 now")
    await h.wait_for(lambda: x.dms, what="the DM at X")
    assert x.dms[0]["to"] == "2244994945" and x.dms[0]["text"] == "Checking order 42 now"
    with pytest.raises(Exception) as refused:
        await ann.reply(iid, "public?", mode="public")
    assert getattr(refused.value, "status", None) == 422, "no tweet to answer publicly in a DM conversation"
    assert (await ann.messages(iid))["reply_modes"] == ["private"], "the desk offers no public reply for a DM"


async def test_bad_webhooks_are_refused_and_nothing_is_stored(h: Harness, x: XEmulator) -> None:
    url = h.url + "/webhooks/x"
    body = json.dumps(x.mention_payload({"user": DANA, "text": "forged"})).encode()
    async with aiohttp.ClientSession() as session:
        async def post(data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
            async with session.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as r:
                return r.status, await r.json(content_type=None)

        assert (await post(body, {}))[0] == 401
        status, error = await post(body, {"x-twitter-webhooks-signature": x_signature("wrong-secret", body)})
        assert status == 403 and error["error"]["code"] == "signature_invalid"
        garbage = b'{"tweet_create_events": "nope"'
        assert (await post(garbage, {"x-twitter-webhooks-signature": x_signature(x.consumer_secret, garbage)}))[0] \
            == 400
        unknown = json.dumps({"for_user_id": "1000", "favorite_events": [{"id": "1"}]}).encode()
        assert (await post(unknown, {"x-twitter-webhooks-signature": x_signature(x.consumer_secret, unknown)}))[0] \
            == 200, "unknown event types are acknowledged and ignored"
        huge = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        assert (await post(huge, {"x-twitter-webhooks-signature": x_signature(x.consumer_secret, huge)}))[0] == 413
        async with session.get(url) as response:
            assert response.status == 400, "a GET without crc_token is no check"
    assert await inbound(h) == []
    payload = x.mention_payload({"user": DANA, "text": "@acme twice", "id": "1790000000000000999"})
    for _ in range(3):  # X retries a delivery whose answer it did not get
        assert (await x.signed_post(payload))[0] == 200
    assert [m.text for m in await inbound(h)] == ["@acme twice"]


async def test_a_rate_limited_reply_waits_for_the_reset_and_goes_out(h: Harness, x: XEmulator) -> None:
    ann = await h.agent("ann")
    await x.signed_post(x.dm_payload({"user": DANA, "text": "hello?"}))
    iid, _ = await accepted(h, ann)
    reset = int(time.time()) + 2
    x.failures.append((429, {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0",
                             "x-rate-limit-reset": str(reset)}))
    message = await ann.reply(iid, "Answer after the window")
    await h.wait_for(lambda: x.dms, timeout=15, what="the DM after the reset")
    assert time.time() >= reset - 0.5, "not retried before the window reset"
    O = models.outbox

    async def delivered() -> Any:
        row = await h.services.db.read(lambda c: c.execute(
            sa.select(O.c.attempts, O.c.last_error, O.c.state).where(O.c.message_id == message["id"])).first())
        return row if row.state == "done" else None

    row = await h.wait_for(delivered, what="the outbox item done")
    assert row.attempts == 2 and "rate limited" in row.last_error


async def test_polling_mode_reads_mentions_once_across_a_restart(tmp_path: Path, x: XEmulator) -> None:
    config = x_config(tmp_path, x, mode="poll", poll_seconds=0.2)
    x.mention_payload({"user": DANA, "text": "@acme first", "id": "1790000000000000001"})
    x.mention_payload({"user": DANA, "text": "@acme second", "id": "1790000000000000002"})
    async with running_server(config) as h:
        rows = await h.wait_for(lambda: _count(h, 2), what="both mentions polled")
        assert [r.text for r in rows] == ["@acme first", "@acme second"]
    x.mention_payload({"user": DANA, "text": "@acme third", "id": "1790000000000000003"})
    before = len(x.calls)
    async with running_server(config) as h:
        rows = await h.wait_for(lambda: _count(h, 3), what="the new mention polled")
        assert [r.text for r in rows] == ["@acme first", "@acme second", "@acme third"]
    first_poll = next(c for c in x.calls[before:] if c["path"].endswith("/mentions"))
    assert first_poll["query"].get("since_id") == "1790000000000000002", "the position survived the restart"


async def _count(h: Harness, n: int) -> list[Any] | None:
    rows = await inbound(h)
    return rows if len(rows) >= n else None


async def test_bad_credentials_show_in_health(tmp_path: Path, x: XEmulator) -> None:
    async with running_server(x_config(tmp_path, x, bearer_token="revoked")) as h:
        await h.wait_for(lambda: h.services.connector_health.get("x") == "bad_credentials", what="bad credentials")


async def test_a_dm_pivots_to_a_callback_link_sent_as_a_dm(tmp_path: Path, x: XEmulator) -> None:
    from tests.pivot_helpers import Customer

    config = x_config(tmp_path, x)
    config.pivot.opening_hours = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    async with running_server(config) as h:
        x.webhook_url = h.url + "/webhooks/x"
        ann = await h.agent("ann", name="Ann Example")
        await x.signed_post(x.dm_payload({"user": DANA, "text": "router dead, can someone call me?"}))
        iid, first = await accepted(h, ann)
        suggestion = (await h.admin.get_interaction(iid))["scoring"]["reply_mode"]
        assert suggestion["mode"] == "pivot", suggestion
        pivot = await ann.pivot(iid, "callback", send=True)
        await h.wait_for(lambda: x.dms, what="the link DM'ed at X")
        assert x.dms[0]["to"] == "2244994945" and pivot["pivot_link"]["url"] in x.dms[0]["text"]
        path = "/p/" + pivot["pivot_link"]["url"].rsplit("/p/", 1)[1]
        phone = Customer(h.url, user_agent="Twitterbot/1.0")  # X's preview fetch first: changes nothing
        try:
            assert (await phone.open(path))[0] == 200
            assert (await ann.get_pivot_link(pivot["pivot_link"]["id"]))["opened_at"] is None
            phone.session.headers["User-Agent"] = "Mozilla/5.0 (iPhone) Mobile"
            await phone.open(path)
            status, _, _ = await phone.submit(path, phone="+358 40 123 4567", when="now")
        finally:
            await phone.close()
        assert status == 200
        [callback] = (await h.admin.list_callbacks())["items"]
        assert callback["source_interaction_id"] == iid and callback["case_id"] == first.case_id
        call = await h.wait_for(lambda: _callback_call(h), what="the callback's voice interaction")
        assert call["case_id"] == first.case_id and call["source_interaction_id"] == iid


async def _callback_call(h: Harness) -> dict[str, Any] | None:
    items = (await h.admin.list_interactions(channel="voice"))["items"]
    return items[0] if items else None


async def test_a_reply_goes_to_the_x_identity_of_a_contact_known_first_by_phone(h: Harness, x: XEmulator) -> None:
    ann = await h.agent("ann")
    from cti.services.contacts import create_contact

    contact_id = await h.services.db.write(lambda tx: create_contact(tx, "phone", "+358401234567"))  # e.g. a caller
    await h.admin.request("POST", f"/api/v1/contacts/{contact_id}/identities",
                          json={"kind": "x", "value": "2244994945"})
    await x.signed_post(x.dm_payload({"user": DANA, "text": "it is me again"}))
    [dm] = await h.wait_for(lambda: inbound(h), what="the DM stored")
    assert (await h.admin.get_case(dm.case_id))["contact_id"] == contact_id
    await h.interaction_in_state(dm.interaction_id, "offered")
    await ann.accept(dm.interaction_id)
    await ann.reply(dm.interaction_id, "hello again")
    await h.wait_for(lambda: x.dms, what="the DM at X")
    assert x.dms[0]["to"] == "2244994945", "the X user id, not the phone number the contact had first"
