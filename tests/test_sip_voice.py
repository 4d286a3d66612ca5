"""An inbound call through the universal queue to an agent's real phone, with audio both ways."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from cti.bus import EventFilter
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone, dominant_frequency
from tests.harness import running_server
from tests.voice_helpers import (
    agent_in_state,
    assert_heard_each_other,
    call_events,
    call_in_state,
    registered,
    server_config,
)


async def test_inbound_call_is_queued_offered_and_bridged_to_the_accepting_agents_phone(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    config = server_config(tmp_path, registrar)
    async with running_server(config) as h:
        await registered(h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")

        iid = await call_in_state(h, "offered", what="the call offered to alice")
        interaction = await h.admin.get_interaction(iid)
        contact = await h.admin.get_contact((await h.admin.get_case(interaction["case_id"]))["contact_id"])
        assert {"kind": "sip", "value": "sip:bob@127.0.0.1"} in [
            {"kind": i["kind"], "value": i["value"]} for i in contact["identities"]]
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await asyncio.sleep(3.0)  # three seconds of conversation
        await asyncio.to_thread(bob_phone.hangup)  # the customer hangs up
        await asyncio.to_thread(alice_phone.wait_call_over)  # the agent's phone is hung up too
        done = await h.interaction_in_state(iid, "wrapup")
        assert done["agent_id"] == "alice"

        async def ended() -> list[tuple[str, dict[str, object]]] | None:
            logged = await call_events(h)
            return logged if logged[-1][0] == "call.ended" else None

        events = await h.wait_for(ended, what="call.ended published")
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "call.ringing" and "call.answered" in kinds and kinds[-1] == "call.ended"
        call_ids = {data["call_id"] for _, data in events}
        assert len(call_ids) == 1 and all(call_ids)  # every call event carries the SIP Call-ID
        assert events[-1][1]["by"] == "customer" and float(events[-1][1]["duration"]) >= 3.0  # type: ignore[arg-type]
    assert_heard_each_other(alice_phone, bob_phone)


async def test_caller_hanging_up_while_queued_is_abandoned(tmp_path: Path, registrar: Registrar,
                                                          phones: Any) -> None:
    bob_phone = await phones("bob", 1000)
    config = server_config(tmp_path, registrar)
    async with running_server(config) as h:
        await registered(h)
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
        iid = await call_in_state(h, "queued", what="the call queued (no agent)")
        await asyncio.to_thread(bob_phone.hangup)
        await h.interaction_in_state(iid, "abandoned")
        assert (await call_events(h))[-1][1]["by"] == "customer"


async def test_make_call_rings_the_agent_then_the_customer_and_end_hangs_up_both(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    config = server_config(tmp_path, registrar)
    async with running_server(config) as h:
        await registered(h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        started = await alice.start_interaction(channel="voice", to={"kind": "sip", "value": "sip:bob@127.0.0.1"})
        iid = started["interaction"]["id"]
        assert started["interaction"]["state"] == "active"
        await asyncio.to_thread(bob_phone.wait_log, "Call established")  # the customer's phone, after alice's
        await asyncio.sleep(1.0)
        await alice.dtmf(iid, "12#")  # e.g. through the customer's IVR: RFC 4733 events to bob's phone
        assert await asyncio.to_thread(bob_phone.wait_keys, "12#") == "12#"
        await asyncio.sleep(1.5)
        await alice.end(iid)  # the agent ends the call from the API
        await asyncio.to_thread(alice_phone.wait_call_over)
        await asyncio.to_thread(bob_phone.wait_call_over)
        events = await call_events(h)
        assert [data["leg"] for kind, data in events if kind == "call.answered"] == ["agent", "customer"]
        assert [(d["digits"], d["direction"]) for kind, d in events if kind == "call.dtmf"] == [("12#", "sent")]
    assert_heard_each_other(alice_phone, bob_phone)


async def test_an_agent_phone_that_does_not_answer_sends_the_call_to_the_next_agent(
        tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    alice_phone = await phones("alice", 440, auto_answer=False)
    carol_phone, bob_phone = await phones("carol", 600), await phones("bob", 1000)
    async with running_server(server_config(tmp_path, registrar, agent_ring_seconds=2.0)) as h:
        await registered(h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        carol = await h.agent("carol", voice_endpoint="sip:carol@127.0.0.1", state="away")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
        iid = await call_in_state(h, "offered", agent="alice", what="the call offered to alice")
        await alice.accept(iid)  # she accepts on screen, but her phone is not answered
        await h.wait_for(lambda: agent_in_state(h, "alice", "away"), timeout=20, what="alice set away")
        assert "Incoming call from:  sip:cti@127.0.0.1" in alice_phone.log()  # it did ring
        await carol.set_agent_state("carol", "available")
        assert await call_in_state(h, "offered", agent="carol", what="the call offered to carol") == iid
        await carol.accept(iid)
        await asyncio.to_thread(carol_phone.wait_log, "Call established")
        await asyncio.sleep(2.0)
        await carol.end(iid)
        await asyncio.to_thread(bob_phone.wait_call_over)
        transferred = await h.services.bus.replay(0, EventFilter(types=["interaction.transferred"]))
        assert [e.data.get("previous_agent_id") for e in transferred] == ["alice"]
    heard = [dominant_frequency(r) for r in carol_phone.recordings() if r.name.endswith("-dec.wav")]
    assert heard and abs(heard[0] - 1000) < 20, heard  # carol talked with bob


async def test_blind_transfer_to_another_agent_moves_the_caller_to_her_phone(
        tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    alice_phone, carol_phone = await phones("alice", 440), await phones("carol", 600)
    bob_phone = await phones("bob", 1000)
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        carol = await h.agent("carol", voice_endpoint="sip:carol@127.0.0.1", state="away")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")

        iid = await call_in_state(h, "offered", what="the call offered to alice")
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await carol.set_agent_state("carol", "available")
        await alice.transfer(iid, agent_id="carol")
        await asyncio.to_thread(alice_phone.wait_call_over)  # alice's phone is released
        await h.interaction_in_state(iid, "offered")
        await carol.accept(iid)
        await asyncio.to_thread(carol_phone.wait_log, "Call established")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(bob_phone.hangup)
        await asyncio.to_thread(carol_phone.wait_call_over)
        done = await h.interaction_in_state(iid, "wrapup")
        assert done["agent_id"] == "carol"
    heard = [dominant_frequency(r) for r in carol_phone.recordings() if r.name.endswith("-dec.wav")]
    assert heard and abs(heard[0] - 1000) < 20, heard  # carol talked with bob after the transfer


async def test_hold_audio_while_queued_and_on_hold_and_resume_reconnects(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")

        iid = await call_in_state(h, "offered", what="the call offered to alice")
        answered_at = time.monotonic()  # the server answered bob before queueing: his recording starts here
        await asyncio.sleep(2.0)  # bob waits in the queue a little
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await asyncio.sleep(2.0)
        held_at = time.monotonic()
        await alice.hold(iid)
        await asyncio.sleep(3.0)
        resumed_at = time.monotonic()
        await alice.resume(iid)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(bob_phone.hangup)
        await h.interaction_in_state(iid, "wrapup")
    [bob_heard] = [r for r in bob_phone.recordings() if r.name.endswith("-dec.wav")]
    assert abs(dominant_frequency(bob_heard, skip_seconds=0.2, until_seconds=1.8) - 800) < 20  # waiting: hold audio
    hold_window = (held_at - answered_at + 0.6, resumed_at - answered_at - 0.3)
    assert abs(dominant_frequency(bob_heard, skip_seconds=hold_window[0], until_seconds=hold_window[1]) - 800) < 20
    after = dominant_frequency(bob_heard, skip_seconds=resumed_at - answered_at + 0.6)
    assert abs(after - 440) < 20  # alice again after resume
