"""Who keeps a call when people leave it, with real phones (Kamailio and baresip, each phone its own
tone): an attended transfer to a colleague hands her the interaction itself; in a conference the
call goes on while the customer and one more party remain (a colleague still on it takes the
interaction when the agent hangs up); the last agent leaving ends it (``last_agent_ends_call``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cti.bus import EventFilter
from cti.client import CtiApiError
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone
from tests.harness import running_server
from tests.voice_helpers import CUSTOMER_MOBILE, Timeline, bridged_call, heard, registered, server_config

pytestmark = pytest.mark.slow
BOB, ALICE, CAROL, DAVE, OUTSIDER = 1000.0, 440.0, 600.0, 1400.0, 1900.0
TONES = [BOB, ALICE, CAROL, DAVE, OUTSIDER]


async def connected(h: Any, client: Any, iid: str, body: dict[str, Any]) -> dict[str, Any]:
    """Bring a party in and wait until it answered."""
    party = (await client.request("POST", f"/api/v1/interactions/{iid}/participants", json=body))["participant"]

    async def joined() -> dict[str, Any] | None:
        items = (await client.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"]
        return next((p for p in items if p["id"] == party["id"] and p["state"] == "connected"), None)

    return await h.wait_for(joined, timeout=20, what=f"{body} connected")


async def test_a_colleague_takes_the_call_and_the_last_agent_leaving_ends_it(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone], phones: Any) -> None:
    alice_phone, bob_phone = agent_and_customer
    carol_phone, dave_phone = await phones("carol", CAROL), await phones("2001", DAVE)
    outsider_phone = await phones(CUSTOMER_MOBILE, OUTSIDER)
    timeline = Timeline()
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        await h.agent("dave", voice_endpoint="sip:2001@127.0.0.1", state="away")  # (a colleague, not in the queue)
        alice, iid = await bridged_call(h, alice_phone, bob_phone)
        timeline.started["bob"] = time.monotonic()
        with pytest.raises(CtiApiError) as nobody:  # nobody else is free in the queue
            await alice.request("POST", f"/api/v1/interactions/{iid}/participants", json={"queue": "default"})
        assert (nobody.value.status, nobody.value.code) == (409, "no_agent_free")
        await h.agent("carol", voice_endpoint="sip:carol@127.0.0.1")  # (available now)
        carol = h.client((await h.admin.create_token("agent", agent_id="carol"))["token"])

        # 1. Alice consults the queue (its next free agent: Carol) and hands her the customer: the
        # interaction is Carol's.
        consulted = await connected(h, alice, iid, {"queue": "default", "mode": "consult"})
        assert (consulted["kind"], consulted["target"]) == ("agent", "carol")
        await alice.transfer(iid, participant_id=consulted["id"])
        await asyncio.to_thread(alice_phone.wait_call_over)
        handed = await h.wait_for(lambda: _interaction(h, iid, agent="carol"), what="the interaction is Carol's")
        assert handed["state"] == "active"
        timeline.phase("handed over")
        await asyncio.sleep(2.5)

        # 2. Carol brings in a number and her colleague Dave: a conference of four.
        await connected(h, carol, iid, {"sip_uri": f"sip:{CUSTOMER_MOBILE}@127.0.0.1", "mode": "conference"})
        await connected(h, carol, iid, {"agent_id": "dave", "mode": "conference"})
        timeline.started["2001"] = time.monotonic()
        timeline.phase("four")
        await asyncio.sleep(2.5)

        # 3. Carol hangs up: Dave is still on the call, so he takes it (and the interaction); it goes on.
        await asyncio.to_thread(carol_phone.hangup)
        await h.wait_for(lambda: _interaction(h, iid, agent="dave"), what="the interaction is Dave's")
        timeline.phase("carol left")
        await asyncio.sleep(2.5)

        # 4. Dave hangs up too: only the customer and a number remain, and the last agent leaving ends it.
        timeline.phase("end")
        await asyncio.to_thread(dave_phone.hangup)
        await asyncio.to_thread(bob_phone.wait_call_over)
        await asyncio.to_thread(outsider_phone.wait_call_over)
        done = await h.interaction_in_state(iid, "wrapup")
        assert done["agent_id"] == "dave"

        mine = EventFilter(types=["interaction.*"], agent_id="alice", agent_queues=frozenset())
        seen_by_alice = [(e.type.value, (e.data.get("to") or {}).get("agent_id"))
                         for e in await h.services.bus.replay(0, mine)]
        assert ("interaction.transferred", "carol") in seen_by_alice  # her desk saw it go
        parties = (await h.admin.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"]
        assert [p["reason"] for p in parties if p["kind"] == "agent"] == ["took the call", "took the call"], parties
    bob_handed = heard(bob_phone, timeline, "handed over", TONES)
    assert bob_handed[CAROL] > 0.25 and bob_handed[ALICE] < 0.06, bob_handed
    bob_four = heard(bob_phone, timeline, "four", TONES)
    assert min(bob_four[CAROL], bob_four[DAVE], bob_four[OUTSIDER]) > 0.15, bob_four
    bob_after = heard(bob_phone, timeline, "carol left", TONES)
    assert bob_after[DAVE] > 0.15 and bob_after[OUTSIDER] > 0.15 and bob_after[CAROL] < 0.06, bob_after
    dave_after = heard(dave_phone, timeline, "carol left", TONES)
    assert dave_after[BOB] > 0.15 and dave_after[OUTSIDER] > 0.15, dave_after


async def _interaction(h: Any, iid: str, *, agent: str) -> dict[str, Any] | None:
    row = await h.admin.get_interaction(iid)
    return row if row["agent_id"] == agent and row["state"] in ("active", "held") else None
