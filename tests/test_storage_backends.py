"""The same storage scenarios on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from sqlalchemy.engine import make_url

from cti import models
from cti.api.queries import get_row
from cti.api.rendered import RenderedInteractions
from cti.bus import EventFilter
from cti.errors import NotFound
from cti.services import render
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


async def _update_from_outside(h: Harness, sql: str, *params: Any) -> None:
    """Change the database as a SQL console would: another connection, no server code, no event."""
    url = make_url(h.services.db.url)
    if url.get_backend_name() == "sqlite":
        def run() -> None:
            with sqlite3.connect(str(url.database)) as conn:
                conn.execute(sql.replace("$1", "?").replace("$2", "?"), params)
        await asyncio.to_thread(run)
    else:
        conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await conn.execute(sql, *params)
        finally:
            await conn.close()


async def _version(h: Harness, interaction_id: str) -> int:
    row = await h.services.db.read(lambda conn: get_row(conn, models.interactions, interaction_id, "interaction"))
    return int(row.version)


async def test_an_interaction_read_shows_every_change_whoever_makes_it(backend: Harness) -> None:
    """GET answers from a rendering kept for the row's version, and the database raises the version
    on every update: changes through the API and changes made outside the server both show."""
    h = backend
    alice = await h.agent("alice", skills={"en": 1})
    stored = await h.admin.inbound(channel="sms-gw", sender=("phone", "+14155550124"), text="hello",
                                   external_id="v1")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    kept = h.services.rendered_interactions
    first = await h.admin.get_interaction(iid)
    hits = kept.hits
    assert await h.admin.get_interaction(iid) == first
    assert kept.hits == hits + 1  # the second read was answered from the kept rendering

    before = await _version(h, iid)
    await alice.accept(iid)
    assert await _version(h, iid) > before
    accepted = await h.admin.get_interaction(iid)
    assert (accepted["state"], accepted["agent_id"]) == ("active", "alice")
    assert await alice.get_interaction(iid) == accepted

    await _update_from_outside(h, "UPDATE interactions SET notes = $1 WHERE id = $2", "typed in a SQL console", iid)
    assert (await h.admin.get_interaction(iid))["notes"] == "typed in a SQL console"

    # Even an update that writes an old version itself ends above every version seen before.
    seen = await _version(h, iid)
    await _update_from_outside(h, "UPDATE interactions SET version = 0, notes = $1 WHERE id = $2", "again", iid)
    assert await _version(h, iid) == seen + 1
    assert (await h.admin.get_interaction(iid))["notes"] == "again"

    # Every answer is the row as it is now, rendered the one way the API renders interactions.
    row = await h.services.db.read(lambda conn: get_row(conn, models.interactions, iid, "interaction"))
    assert await h.admin.get_interaction(iid) == orjson.loads(orjson.dumps(render.interaction(row)))

    async with aiohttp.ClientSession() as session, session.get(f"{h.url}/metrics", headers={
            "Authorization": f"Bearer {h.admin.token}"}) as response:
        exposition = await response.text()
    assert f'cti_interaction_reads{{outcome="kept"}} {float(kept.hits)}' in exposition


async def test_kept_renderings_are_bounded_and_the_oldest_goes_first(backend: Harness) -> None:
    h = backend
    ids = [(await h.admin.inbound(channel="shop-chat", sender=("email", f"b{i}@example.com"), text="x",
                                  external_id=f"bounded-{i}"))["interaction_id"] for i in range(3)]
    kept = RenderedInteractions(entries=2)
    for iid in ids:
        await kept.get(h.services.db, iid)
    assert (kept.hits, kept.misses) == (0, 3)
    await kept.get(h.services.db, ids[2])
    await kept.get(h.services.db, ids[1])
    assert (kept.hits, kept.misses) == (2, 3)
    await kept.get(h.services.db, ids[0])  # the oldest was let go when the third arrived
    assert (kept.hits, kept.misses) == (2, 4)
    with pytest.raises(NotFound):
        await kept.get(h.services.db, "int_missing")
