"""The event stream: WebSocket and SSE, since= replay, types= filters, agent visibility, resume."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from cti.client import CtiClient
from tests.harness import Harness


async def _ws_events(h: Harness, token: str, n: int, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(
            h.url.replace("http", "ws") + "/api/v1/events", params=params,
            headers={"Authorization": f"Bearer {token}"}) as ws:
        while len(out) < n:
            message = await asyncio.wait_for(ws.receive(), 10)
            out.append(orjson.loads(message.data))
    return out


async def _sse_events(h: Harness, token: str, n: int, headers: dict[str, str] | None = None,
                      **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.get(
            h.url + "/api/v1/events/stream", params=params,
            headers={"Authorization": f"Bearer {token}", **(headers or {})}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        while len(out) < n:
            line = (await asyncio.wait_for(response.content.readline(), 10)).decode().rstrip("\n")
            if line.startswith(":"):
                continue
            if not line:
                if "data" in block:
                    event = orjson.loads(block["data"])
                    assert str(event["seq"]) == block["id"] and event["type"] == block["event"]
                    out.append(event)
                block = {}
                continue
            key, _, value = line.partition(": ")
            block[key] = value
    return out


async def _push(h: Harness, n: int, prefix: str = "m") -> None:
    for i in range(n):
        await h.admin.inbound(channel="shop-chat", sender=("email", f"{prefix}{i}@example.com"), text=f"hello {i}",
                              external_id=f"{prefix}-{i}")


async def test_websocket_replays_since_then_goes_live_in_order(harness: Harness) -> None:
    await _push(harness, 3, "a")
    token = harness.admin.token
    replayed = await _ws_events(harness, token, 5, since="0", types="message.*,interaction.queued")
    assert [e["type"] for e in replayed[:2]] == ["interaction.queued", "message.received"]
    seqs = [e["seq"] for e in replayed]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    live: list[dict[str, Any]] = []

    async def listen() -> None:
        live.extend(await _ws_events(harness, token, 2, types="message.received"))

    bus = harness.services.bus
    before = set(bus._subscribers)  # the router, webhook fan-out and closing streams subscribe too
    task = asyncio.create_task(listen())
    await harness.wait_for(lambda: set(bus._subscribers) - before, what="the listener's own subscription")
    await _push(harness, 2, "b")
    await asyncio.wait_for(task, 10)
    assert [e["data"]["message"]["text"] for e in live] == ["hello 0", "hello 1"]
    assert all(e["seq"] > seqs[-1] for e in live)


async def test_sse_resumes_from_last_event_id_missing_nothing(harness: Harness) -> None:
    await _push(harness, 4, "c")
    token = harness.admin.token
    everything = await _sse_events(harness, token, 8, since="0", types="message.received,interaction.created")
    first_half = everything[:3]
    resumed = await _sse_events(harness, token, 5, headers={"Last-Event-ID": str(first_half[-1]["seq"])},
                                types="message.received,interaction.created")
    assert [e["seq"] for e in first_half + resumed] == [e["seq"] for e in everything]


async def test_agents_see_only_their_own_and_their_queues_events(harness: Harness) -> None:
    policy = await harness.admin.routing()
    policy["queues"] = [{"name": "finnish", "channels": ["sms-gw"], "skills": {"fi": 1}},
                        {"name": "default", "channels": ["*"], "skills": {}}]
    await harness.admin.put_routing(policy)
    await harness.agent("alice", state="away", skills={"en": 2})
    await harness.admin.create_agent("Bob", id="bob", skills={"fi": 2})
    alice_token = (await harness.admin.create_token("agent", agent_id="alice"))["token"]
    await harness.admin.inbound(channel="sms-gw", sender=("phone", "+358401111111"), text="moi",
                                external_id="fi-1")
    await harness.admin.inbound(channel="shop-chat", sender=("email", "en@example.com"), text="hello",
                                external_id="en-1")
    seen = await _ws_events(harness, alice_token, 3, since="0", types="interaction.*,message.*")
    assert [e["type"] for e in seen] == ["interaction.created", "interaction.queued", "message.received"]
    assert {e["queue"] for e in seen} == {"default"}
    assert seen[-1]["data"]["message"]["text"] == "hello"
    admin_view = await _ws_events(harness, harness.admin.token, 6, since="0", types="interaction.*,message.*")
    assert {e["queue"] for e in admin_view} == {"default", "finnish"}


async def test_client_events_resume_across_a_dropped_connection(harness: Harness) -> None:
    client = CtiClient(harness.url, harness.admin.token)
    received: list[dict[str, Any]] = []
    first_seen = asyncio.Event()

    async def follow() -> None:
        async for event in client.events(since=harness.services.bus.last_seq, types=["message.received"]):
            received.append(event)
            first_seen.set()
            if len(received) == 6:
                return

    task = asyncio.create_task(follow())
    try:
        await _push(harness, 1, "d")
        await asyncio.wait_for(first_seen.wait(), 10)
        # drop every live stream connection from the server side, then keep producing
        for sub in list(harness.services.bus._subscribers):
            if sub.filter.types == ["message.received"]:
                sub.close()
        await _push(harness, 5, "e")
        await asyncio.wait_for(task, 20)
    finally:
        task.cancel()
        await client.close()
    texts = [e["data"]["message"]["text"] for e in received]
    assert texts == ["hello 0", "hello 0", "hello 1", "hello 2", "hello 3", "hello 4"]
    assert [e["seq"] for e in received] == sorted({e["seq"] for e in received})


async def test_slow_subscriber_overflow_rereads_the_log(harness: Harness) -> None:
    bus = harness.services.bus
    from cti.bus import EventFilter

    sub = bus.subscribe(EventFilter(types=["message.received"]), maxsize=2)
    await _push(harness, 6, "f")
    got = []
    for _ in range(6):
        event = await sub.next(timeout=5)
        assert event is not None
        got.append(event.data["message"]["text"])
    sub.close()
    assert got == [f"hello {i}" for i in range(6)]
