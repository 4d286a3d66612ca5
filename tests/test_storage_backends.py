"""The same storage scenarios on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.bus import EventFilter
from tests.conftest import CUSTOM_CHANNELS
from tests.harness import Harness, make_config, running_server


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    server = {}
    if request.param == "postgres":
        server["database_url"] = request.getfixturevalue("pg_url")
    async with running_server(make_config(tmp_path, server=server, channels=CUSTOM_CHANNELS)) as h:
        yield h


async def test_concurrent_inbound_is_stored_once_each_in_seq_order(backend: Harness) -> None:
    h = backend
    bodies = [dict(channel="shop-chat", sender=("email", f"p{i % 7}@example.com"), text=f"t{i}",
                   external_id=f"e{i % 40}") for i in range(80)]
    results = await asyncio.gather(*(h.admin.inbound(**b) for b in bodies))
    assert sum(1 for r in results if not r["duplicate"]) == 40
    events = await h.services.bus.replay(0, EventFilter(types=["message.received"]))
    assert len(events) == 40
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    contacts = await h.admin.list_contacts(limit=100)
    assert len(contacts["items"]) == 7


async def test_full_lifecycle_and_timeline(backend: Harness) -> None:
    h = backend
    alice = await h.agent("alice", skills={"en": 1})
    stored = await h.admin.inbound(channel="sms-gw", sender=("phone", "+14155550123"), text="help",
                                   external_id="s1")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    await alice.accept(iid)
    await alice.hold(iid)
    await alice.resume(iid)
    await alice.end(iid)
    await alice.wrapup(iid, disposition="done")
    contact = await h.admin.get_contact(stored["contact_id"])
    assert contact["identities"][0] == {**contact["identities"][0], "kind": "phone", "value": "+14155550123"}
    linked = await h.admin.link_identity(stored["contact_id"], "email", "same.person@example.com")
    assert linked["kind"] == "email"
    types = [e["type"] for e in (await h.admin.timeline(stored["case_id"]))["entries"]]
    assert types[-5:] == ["interaction.accepted", "interaction.held", "interaction.resumed", "interaction.wrapup",
                          "interaction.ended"]
    assert len((await h.admin.get_contact(stored["contact_id"]))["identities"]) == 2


async def test_routing_policy_update_is_stored_and_applied(backend: Harness) -> None:
    h = backend
    policy = await h.admin.routing()
    policy["offer_timeout"] = 7
    policy["queues"].append({"name": "vip", "channels": ["sms-gw"], "skills": {"vip": 1}})
    await h.admin.put_routing(policy)
    assert (await h.admin.routing())["offer_timeout"] == 7
    assert [q["name"] for q in (await h.admin.queues())["items"]] == ["default", "vip"]
