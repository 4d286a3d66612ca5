"""The web chat on two real ``cti serve`` processes sharing one real PostgreSQL: a visitor's widget
on one node, the agent working through the other; the visitor's socket moves to the other node
(a load balancer's choice) and resumes with ``since=`` without losing or repeating a message."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.client import CtiClient
from tests.processes import ServerProcess

pytestmark = pytest.mark.slow
ORIGIN = "https://shop.example.com"
WEBCHAT_TOML = f'[channels.webchat]\nallowed_origins = ["{ORIGIN}"]\n'


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str) -> Any:
    env = {"CTI_SERVER__DATABASE_URL": pg_url, "CTI_SERVER__LEASE_SECONDS": "2"}
    a = ServerProcess(tmp_path, config_text=WEBCHAT_TOML, env=env, node_id="node-a")
    b = ServerProcess(tmp_path, config_text=WEBCHAT_TOML, env=env, node_id="node-b")
    a.start()
    b.start()
    yield a, b
    a.stop()
    b.stop()


async def frames_until(ws: aiohttp.ClientWebSocketResponse, done: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Frames read until ``done(frames)`` holds."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(got):
            got.append(json.loads((await ws.receive()).data))
    return got


async def test_a_conversation_spans_both_nodes_and_survives_moving_between_them(nodes: Any) -> None:
    a, b = nodes
    token = a.cli("token", "create", "--role", "admin")
    async with CtiClient(b.url, token) as admin_b, aiohttp.ClientSession() as session:
        await admin_b.create_agent("Ann Lee", id="ann")
        ann_token = (await admin_b.create_token("agent", agent_id="ann"))["token"]
        async with CtiClient(b.url, ann_token) as ann:
            await ann.set_agent_state("ann", "available")
            async with session.post(a.url + "/chat/v1/sessions", json={}, headers={"Origin": ORIGIN}) as answer:
                visitor = (await answer.json())["visitor_token"]
            ws = await session.ws_connect(f"{a.url}/chat/v1/ws?token={visitor}", headers={"Origin": ORIGIN})
            await frames_until(ws, lambda got: any(f["type"] == "ready" for f in got))
            await ws.send_str(json.dumps({"type": "message", "text": "via node A", "client_id": "a1"}))

            async def offered() -> str | None:
                items = (await admin_b.list_interactions(state="offered"))["items"]
                return items[0]["id"] if items else None

            iid = None
            async with asyncio.timeout(15):
                while iid is None:
                    iid = await offered()
                    await asyncio.sleep(0.1)
            await ann.accept(iid)
            await ann.reply(iid, "answered through node B")
            got = await frames_until(ws, lambda got: any(f.get("from") == "agent" for f in got))
            assert [f["type"] for f in got if f["type"] in ("agent_joined", "message")] == [
                "message", "agent_joined", "message"], got
            last = max(f["seq"] for f in got if "seq" in f)
            await ws.close()

            # The widget comes back through the other node; a reply sent while it was away arrives once.
            await ann.reply(iid, "sent while you moved")
            ws = await session.ws_connect(f"{b.url}/chat/v1/ws?token={visitor}&since={last}",
                                          headers={"Origin": ORIGIN})
            got = await frames_until(ws, lambda got: any(f.get("type") == "message" for f in got))  # (replayed or live)
            await ann.reply(iid, "and live on node B")
            got += await frames_until(ws, lambda more: any(f.get("text") == "and live on node B" for f in more))
            assert [f["text"] for f in got if f["type"] == "message"] == ["sent while you moved", "and live on node B"]
            await ws.close()
