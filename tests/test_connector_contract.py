"""One contract, every connector: the same tests run for each installed connector and custom channels.

Each runs against the channel's real far end (Dovecot, Prosody, a shop backend, the example
package's chat service): inbound stores exactly one message per external id, a reply reaches the
customer, and when the far end is down the reply waits in the outbox, health says so, and both
recover when it is back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import Capability, discover
from cti import models
from cti.bus import EventFilter
from tests.far_ends import FAR_ENDS, FarEnd
from tests.harness import Harness, make_config, running_server

WRITTEN = {Capability.PRIVATE_REPLY, Capability.PUBLIC_REPLY}
# Every installed connector of a written channel (voice-only ones such as SIP have their own tests).
CONNECTORS = [*sorted(name for name, cls in discover().items() if cls.capabilities & WRITTEN), "custom"]
FAST_RETRIES = {"initial_backoff": 0.2, "max_backoff": 1.0, "max_attempts": 1000}


@pytest.fixture(params=CONNECTORS)
async def far(request: pytest.FixtureRequest) -> AsyncIterator[FarEnd]:
    if request.param not in FAR_ENDS:
        pytest.fail(f"connector {request.param!r} is installed but the contract suite has no far end for it")
    far_end = FAR_ENDS[request.param]()
    await far_end.start()
    try:
        yield far_end
    finally:
        await far_end.stop()


@pytest.fixture
async def h(tmp_path: Path, far: FarEnd) -> AsyncIterator[Harness]:
    async with running_server(make_config(tmp_path, webhooks=FAST_RETRIES, **far.config())) as harness:
        far.harness = harness
        yield harness


async def inbound_texts(h: Harness, channel: str) -> list[str]:
    M = models.messages
    rows = await h.services.db.read(lambda c: c.execute(
        sa.select(M.c.text).where(M.c.channel == channel, M.c.direction == "inbound").order_by(M.c.created_at)
    ).all())
    return [row.text for row in rows]


async def active_interaction(h: Harness, far: FarEnd, key: str) -> tuple[Any, str]:
    """An inbound item, routed to agent Ann and accepted: (Ann's client, interaction id)."""
    ann = await h.agent("ann")
    await far.send_inbound(key, f"hello from {key}")

    async def offered() -> str | None:
        items = (await h.admin.list_interactions(channel=far.channel, state="offered"))["items"]
        return items[0]["id"] if items else None

    iid = await h.wait_for(offered, what="the inbound item offered to Ann", timeout=20)
    await ann.accept(iid)
    return ann, iid


async def message_status(client: Any, iid: str, message_id: str) -> str:
    items = (await client.messages(iid))["items"]
    return next(m["status"] for m in items if m["id"] == message_id)


async def test_inbound_stores_one_message_per_external_id(h: Harness, far: FarEnd) -> None:
    await h.wait_for(lambda: h.services.connector_health.get(far.channel) == "connected", timeout=20,
                     what=f"{far.channel} connected")
    await far.send_inbound("contract-1", "first message")
    await far.send_inbound("contract-1", "first message")  # the network delivers the same item again
    await far.send_inbound("contract-2", "second message")

    async def second_stored() -> bool:
        return "second message" in await inbound_texts(h, far.channel)

    await h.wait_for(second_stored, timeout=20, what="the second message stored")
    assert await inbound_texts(h, far.channel) == ["first message", "second message"]


async def test_reply_reaches_the_far_end(h: Harness, far: FarEnd) -> None:
    ann, iid = await active_interaction(h, far, "contract-reply")
    message = await ann.reply(iid, "Thanks, we are on it")

    async def arrived() -> bool:
        return "Thanks, we are on it" in await far.replies()

    await h.wait_for(arrived, timeout=20, what="the reply at the customer's end")
    await h.wait_for(lambda: _is(ann, iid, message, "sent"), what="message marked sent")


async def _is(client: Any, iid: str, message: dict[str, Any], status: str) -> bool:
    return await message_status(client, iid, message["id"]) == status


async def test_far_end_down_reply_waits_in_outbox_and_goes_out_when_back(h: Harness, far: FarEnd) -> None:
    ann, iid = await active_interaction(h, far, "contract-outage")
    await far.go_down()
    message = await ann.reply(iid, "Reply written during the outage")
    assert message["status"] == "queued"

    O = models.outbox

    async def attempted() -> bool:
        row = await h.services.db.read(lambda c: c.execute(
            sa.select(O.c.attempts, O.c.state).where(O.c.message_id == message["id"])).first())
        return row is not None and row.attempts >= 1 and row.state == "pending"

    await h.wait_for(attempted, timeout=20, what="a failed delivery attempt, still pending")
    assert await message_status(ann, iid, message["id"]) == "queued"
    assert "Reply written during the outage" not in await far.replies()
    await h.wait_for(lambda: h.services.connector_health.get(far.channel) == "transient_disconnect", timeout=20,
                     what="health to show the outage")

    await far.come_back()

    async def arrived() -> bool:
        return "Reply written during the outage" in await far.replies()

    await h.wait_for(arrived, timeout=30, what="the queued reply delivered after the outage")
    await h.wait_for(lambda: _is(ann, iid, message, "sent"), what="message marked sent")
    await h.wait_for(lambda: h.services.connector_health.get(far.channel) == "connected", timeout=20,
                     what="health back to connected")

    async def health_events() -> list[str] | None:  # the event is written just after the local state changes
        logged = await h.services.bus.replay(0, EventFilter(types=["connector.health"]))
        states = [e.data["health"] for e in logged if e.data["connector"] == far.channel]
        return states if states and states[-1] == "connected" else None

    health = await h.wait_for(health_events, what="connector.health events ending in connected")
    assert "transient_disconnect" in health
