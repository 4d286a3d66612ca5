"""Two real ``cti serve`` processes on one real PostgreSQL behave as one server; one is killed."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from cti.client import CtiClient
from tests.processes import CALLS_TOML, SHOP_CHAT_TOML, ServerProcess

pytestmark = pytest.mark.slow


def _ready(node: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(node.url + "/readyz", timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str) -> Any:
    env = {"CTI_SERVER__DATABASE_URL": pg_url, "CTI_SERVER__LEASE_SECONDS": "2",
           "CTI_ROUTING__DEFAULT_CAPACITY": '{"chat": 3}', "CTI_PIVOT__CALLBACKS_PER_CLIENT_PER_HOUR": "100"}
    a = ServerProcess(tmp_path, config_text=SHOP_CHAT_TOML + CALLS_TOML, env=env, node_id="node-a")
    b = ServerProcess(tmp_path, config_text=SHOP_CHAT_TOML + CALLS_TOML, env=env, node_id="node-b")
    a.start()
    b.start()
    yield a, b
    a.stop()
    b.stop()


async def test_two_nodes_share_events_and_route_once_then_survive_a_kill(nodes: Any) -> None:
    a, b = nodes
    token = a.cli("token", "create", "--role", "admin")
    on_a, on_b = CtiClient(a.url, token), CtiClient(b.url, token)
    try:
        for i in range(4):
            await on_a.create_agent(f"Agent {i}", id=f"ag{i}")
            await (on_a if i % 2 else on_b).set_agent_state(f"ag{i}", "available")

        # an event produced on node A reaches a WebSocket client of node B
        async with aiohttp.ClientSession() as session, session.ws_connect(
                b.url.replace("http", "ws") + "/api/v1/events", params={"types": "message.received"},
                headers={"Authorization": f"Bearer {token}"}) as ws:
            await on_a.inbound(channel="shop-chat", sender=("email", "cross@example.com"), text="via A",
                               external_id="cross-1")
            message = await asyncio.wait_for(ws.receive(), 10)
            assert orjson.loads(message.data)["data"]["message"]["text"] == "via A"

        # a burst on both nodes: every interaction is offered to one agent at a time, capacity holds
        await asyncio.gather(*((on_a if i % 2 else on_b).inbound(
            channel="shop-chat", sender=("email", f"c{i}@example.com"), text=f"m{i}", external_id=f"burst-{i}")
            for i in range(40)))

        async def offered_count() -> int:
            return len((await on_a.list_interactions(state="offered", limit=500))["items"])

        deadline = asyncio.get_running_loop().time() + 20
        while await offered_count() < 12:
            assert asyncio.get_running_loop().time() < deadline, "routing did not fill the agents"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # any double offer would show up by now
        offered = (await on_a.list_interactions(state="offered", limit=500))["items"]
        per_agent: dict[str, int] = {}
        for row in offered:
            per_agent[row["agent_id"]] = per_agent.get(row["agent_id"], 0) + 1
        assert len(offered) == 12 and all(n == 3 for n in per_agent.values()), per_agent
        for row in offered:
            timeline = await on_b.timeline(row["case_id"])
            offers = [e for e in timeline["entries"] if e["type"] == "interaction.offered"
                      and e["interaction_id"] == row["id"]]
            assert len(offers) == 1, f"{row['id']} offered {len(offers)} times"

        # kill whichever node routes; the other takes the lease and keeps routing
        routing_node, survivor = (a, b) if "router" in _ready(a)["leases"] else (b, a)
        assert "router" in _ready(routing_node)["leases"]
        routing_node.kill()
        client = on_b if survivor is b else on_a
        await client.create_agent("Late", id="late")
        await client.set_agent_state("late", "available")
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            mine = (await client.list_interactions(agent_id="late", state="offered"))["items"]
            if len(mine) == 3:
                break
            assert asyncio.get_running_loop().time() < deadline, "the survivor did not take over routing"
            await asyncio.sleep(0.1)
        assert "router" in _ready(survivor)["leases"]
    finally:
        await on_a.close()
        await on_b.close()


async def test_callbacks_fire_once_across_two_nodes(nodes: Any) -> None:
    """Customers open links on one node and ask for calls on the other; both nodes' schedulers race
    for the due callbacks, and each callback becomes exactly one voice interaction."""
    from tests.pivot_helpers import Customer

    a, b = nodes
    token = a.cli("token", "create", "--role", "admin")
    on_a = CtiClient(a.url, token)
    customers: list[Customer] = []
    try:
        links = []
        for i in range(12):
            stored = await on_a.inbound(channel="shop-chat", sender=("x", f"99{i}"), text="help",
                                        external_id=f"p-{i}")
            links.append((await on_a.pivot(stored["interaction_id"], "callback"))["pivot_link"])
        for i, link in enumerate(links):
            path = "/p/" + link["url"].rsplit("/p/", 1)[1]
            opener, submitter = (a, b) if i % 2 else (b, a)
            customer = Customer(opener.url)
            customers.append(customer)
            assert (await customer.open(path))[0] == 200
            customer.base = submitter.url  # the form secret is shared by every node
            status, _, _ = await customer.submit(path, phone=f"+35840123{4500 + i}", when="now")
            assert status == 200
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            callbacks = (await on_a.list_callbacks(limit=100))["items"]
            if len(callbacks) == 12 and all(c["state"] == "routing" for c in callbacks):
                break
            assert asyncio.get_running_loop().time() < deadline, [c["state"] for c in callbacks]
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # a second claim by the other node would show by now
        calls = (await on_a.list_interactions(channel="voice", limit=100))["items"]
        assert sorted(c["id"] for c in calls) == sorted(cb["interaction_id"] for cb in callbacks)
        assert all(cb["attempts"] == 1 for cb in (await on_a.list_callbacks(limit=100))["items"])
    finally:
        for customer in customers:
            await customer.close()
        await on_a.close()
