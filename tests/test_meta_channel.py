"""The Meta connector against the Meta emulator: Messenger, Instagram and Page comments in through
one signed webhook; replies through the Send API within Meta's windows, private replies to
comments, public comment replies; bad webhooks refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from cti.client import CtiApiError
from sip_test_env.emulators.meta import MetaEmulator, meta_signature
from tests.harness import Harness, make_config, running_server

DAY = 86_400


@pytest.fixture
async def meta() -> AsyncIterator[MetaEmulator]:
    emulator = MetaEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def h(tmp_path: Path, meta: MetaEmulator) -> AsyncIterator[Harness]:
    config = make_config(tmp_path, connectors={"meta": {
        "app_secret": meta.app_secret, "verify_token": meta.verify_token, "page_token": meta.page_token,
        "api_base": meta.url}}, webhooks={"initial_backoff": 0.1, "max_backoff": 0.5})
    async with running_server(config) as harness:
        async with aiohttp.ClientSession() as session, session.post(
                f"{meta.url}/_control/webhook", json={"url": harness.url + "/webhooks/meta"}) as response:
            assert response.status == 200, "Meta's subscription check passed"
        await harness.wait_for(lambda: harness.services.connector_health.get("meta") == "connected", what="meta up")
        yield harness


async def inbound(h: Harness) -> list[Any]:
    M = models.messages
    return await h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "meta", M.c.direction == "inbound").order_by(M.c.created_at)).all())


async def accept_latest(h: Harness, agent: Any, count: int = 1) -> tuple[str, Any]:
    async def enough() -> list[Any] | None:
        rows = await inbound(h)
        return rows if len(rows) >= count else None

    row = (await h.wait_for(enough, what="the Meta item stored"))[-1]
    await h.interaction_in_state(row.interaction_id, "offered")
    await agent.accept(row.interaction_id)
    return row.interaction_id, row


async def sent(h: Harness, meta: MetaEmulator, n: int) -> list[dict[str, Any]]:
    return await h.wait_for(lambda: meta.sent if len(meta.sent) >= n else None, what=f"{n} sent at Meta")


async def test_messenger_message_in_and_reply_within_the_window(h: Harness, meta: MetaEmulator) -> None:
    ann = await h.agent("ann")
    status, _ = await meta.signed_post(meta.message_payload("messenger", "24680", "Mój router nie działa 😞"))
    assert status == 200
    iid, row = await accept_latest(h, ann)
    assert row.text == "Mój router nie działa 😞" and row.meta["platform"] == "messenger"
    await ann.reply(iid, "Pomożemy!")
    [message] = await sent(h, meta, 1)
    assert (message["to"], message["messaging_type"], message["tag"]) == ("24680", "RESPONSE", None)


async def test_after_a_day_the_human_agent_tag_and_after_a_week_a_clear_422(h: Harness, meta: MetaEmulator) -> None:
    ann = await h.agent("ann")
    await meta.signed_post(meta.message_payload("messenger", "111", "old question", age_seconds=2 * DAY))
    iid, _ = await accept_latest(h, ann)
    await ann.reply(iid, "Sorry for the wait")
    [message] = await sent(h, meta, 1)
    assert (message["messaging_type"], message["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")

    await meta.signed_post(meta.message_payload("messenger", "222", "ancient", age_seconds=8 * DAY))
    iid2, _ = await accept_latest(h, ann, 2)
    with pytest.raises(CtiApiError) as refused:
        await ann.reply(iid2, "too late")
    assert refused.value.status == 422 and refused.value.code == "messaging_window_closed"
    assert refused.value.details["suggestion"] == "send a pivot link"
    assert len((await ann.messages(iid2))["items"]) == 1, "nothing queued"


async def test_a_page_comment_gets_a_private_reply_and_a_public_one(h: Harness, meta: MetaEmulator) -> None:
    ann = await h.agent("ann")
    await meta.signed_post(meta.comment_payload({"from": {"id": "5550001", "name": "Dana"},
                                                 "message": "Your service is down again",
                                                 "comment_id": "100200300_4242"}))
    iid, row = await accept_latest(h, ann)
    assert row.external_id == "comment:100200300_4242" and row.meta["kind"] == "comment"
    await ann.reply(iid, "We are on it, details in your inbox", mode="public")
    await ann.reply(iid, "Could you send your account number?")
    first, second = await sent(h, meta, 2)
    by_kind = {m["kind"]: m for m in (first, second)}
    assert by_kind["comment_reply"]["comment_id"] == "100200300_4242"
    assert by_kind["message"]["recipient"] == {"comment_id": "100200300_4242"}, "the private reply goes by comment_id"


async def test_instagram_direct_message(h: Harness, meta: MetaEmulator) -> None:
    ann = await h.agent("ann")
    await meta.signed_post(meta.message_payload("instagram", "17841", "hi from insta"))
    iid, row = await accept_latest(h, ann)
    contact = await h.admin.get_contact((await h.admin.get_case(row.case_id))["contact_id"])
    assert {"kind": "instagram", "value": "17841"} in [{"kind": i["kind"], "value": i["value"]}
                                                       for i in contact["identities"]]
    with pytest.raises(CtiApiError) as refused:
        await ann.reply(iid, "public?", mode="public")
    assert refused.value.code == "no_comment_to_answer"
    await ann.reply(iid, "hello on Instagram")
    [message] = await sent(h, meta, 1)
    assert message["to"] == "17841"


async def test_bad_webhooks_are_refused_and_replays_store_once(h: Harness, meta: MetaEmulator) -> None:
    url = h.url + "/webhooks/meta"
    payload = meta.message_payload("messenger", "999", "forged")
    body = json.dumps(payload).encode()
    async with aiohttp.ClientSession() as session:
        async def post(data: bytes, headers: dict[str, str]) -> int:
            async with session.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as r:
                return r.status

        assert await post(body, {}) == 401
        assert await post(body, {"X-Hub-Signature-256": meta_signature("not-the-secret", body)}) == 403
        assert await post(b"[1,2]", {"X-Hub-Signature-256": meta_signature(meta.app_secret, b"[1,2]")}) == 400
        async with session.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                            "hub.challenge": "1"}) as response:
            assert response.status == 403
    assert await inbound(h) == []
    replay = meta.message_payload("messenger", "999", "once", mid="m_replayed")
    for _ in range(3):
        assert (await meta.signed_post(replay))[0] == 200
    assert [r.text for r in await inbound(h)] == ["once"]
