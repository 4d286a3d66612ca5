"""Call control beyond routing, against real phones: transfer out to a number (from the API and
from the agent's own phone by REFER), a number that does not answer, hold signalled by
re-INVITE, and recording both directions."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from cti.client import CtiApiError
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone, dominant_frequency, recording_seconds
from tests.harness import Harness, running_server
from tests.voice_helpers import agent_in_state, call_events, call_in_state, registered, server_config


async def connected_call(h: Harness, alice_phone: Phone, bob_phone: Phone) -> tuple[Any, str]:
    """Bob calls the server; alice accepts; their phones are bridged. (alice's client, interaction id)"""
    alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
    await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
    iid = await call_in_state(h, "offered", what="the call offered to alice")
    await alice.accept(iid)
    await asyncio.to_thread(alice_phone.wait_log, "Call established")
    return alice, iid


def heard(phone: Phone) -> float:
    [received] = [r for r in phone.recordings() if r.name.endswith("-dec.wav")]
    return dominant_frequency(received)


async def test_transfer_to_a_number_hands_the_caller_over_once_it_answers(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone], phones: Any) -> None:
    alice_phone, bob_phone = agent_and_customer
    desk_2001 = await phones("2001", 600)  # another department's extension
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        alice, iid = await connected_call(h, alice_phone, bob_phone)

        with pytest.raises(CtiApiError) as refused:  # not a number: a clear 400, nothing happens
            await alice.transfer(iid, number="call my boss")
        assert refused.value.status == 400 and "number" in str(refused.value.details)
        answer = await alice.transfer(iid, number="2001")
        assert answer["state"] == "active"  # alice keeps the caller while 2001 rings
        await asyncio.to_thread(desk_2001.wait_log, "Call established")
        await asyncio.to_thread(alice_phone.wait_call_over)  # then alice's phone is released
        done = await h.interaction_in_state(iid, "wrapup")
        assert done["agent_id"] == "alice"
        await asyncio.sleep(2.0)  # bob and 2001 talk
        await asyncio.to_thread(bob_phone.hangup)
        await asyncio.to_thread(desk_2001.wait_call_over)
        events = await call_events(h)
        assert [d["to"] for kind, d in events if kind == "call.transferred"] == ["2001"]
        await h.wait_for(lambda: _ended_by(h, "customer"), what="call.ended")
    assert abs(heard(desk_2001) - 1000) < 20  # 2001 heard bob
    [bob_heard] = [r for r in bob_phone.recordings() if r.name.endswith("-dec.wav")]
    assert abs(dominant_frequency(bob_heard, skip_seconds=recording_seconds(bob_heard) - 1.5) - 600) < 20


async def _ended_by(h: Harness, by: str) -> bool:
    return any(kind == "call.ended" and data["by"] == by for kind, data in await call_events(h))


async def test_a_number_that_does_not_take_the_call_leaves_it_with_the_agent(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        alice, iid = await connected_call(h, alice_phone, bob_phone)
        await alice.transfer(iid, number="+358401234567")  # nobody registered there: the registrar says 404

        async def failed() -> dict[str, Any] | None:
            found = [d for kind, d in await call_events(h) if kind == "call.transfer_failed"]
            return found[0] if found else None

        failure = await h.wait_for(failed, what="call.transfer_failed")
        assert failure["to"] == "+358401234567" and failure["reason"].startswith("404")
        assert (await h.admin.get_interaction(iid))["state"] == "active"
        await asyncio.sleep(1.5)  # still talking
        await alice.end(iid)
        await asyncio.to_thread(bob_phone.wait_call_over)
        with pytest.raises(CtiApiError) as over:  # a call that is over takes no more commands
            await alice.dtmf(iid, "1")
        assert (over.value.status, over.value.code) == (409, "call_not_connected")
    assert abs(heard(bob_phone) - 440) < 20 and abs(heard(alice_phone) - 1000) < 20


async def test_the_agents_phone_transfers_the_call_itself_with_refer(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone], phones: Any) -> None:
    alice_phone, bob_phone = agent_and_customer
    desk_2001 = await phones("2001", 600)
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        _, iid = await connected_call(h, alice_phone, bob_phone)
        await asyncio.to_thread(alice_phone.transfer, "sip:2001@127.0.0.1")  # the transfer key on her phone
        await asyncio.to_thread(desk_2001.wait_log, "Call established")
        await asyncio.to_thread(alice_phone.wait_call_over)
        await h.interaction_in_state(iid, "wrapup")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(desk_2001.hangup)  # this time the transfer target hangs up
        await asyncio.to_thread(bob_phone.wait_call_over)
        await h.wait_for(lambda: _ended_by(h, "transfer_target"), what="call.ended by the target")
        assert [d["to"] for kind, d in await call_events(h) if kind == "call.transferred"] == ["sip:2001@127.0.0.1"]
    assert abs(heard(desk_2001) - 1000) < 20


async def test_hold_is_signalled_by_reinvite_and_the_call_is_recorded_both_ways(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar, record=True)) as h:
        await registered(h)
        alice, iid = await connected_call(h, alice_phone, bob_phone)
        await asyncio.sleep(2.0)
        await alice.hold(iid)
        await asyncio.to_thread(alice_phone.wait_log, "got re-INVITE")  # her desk phone shows the call held
        await asyncio.sleep(1.0)
        await alice.resume(iid)
        await h.wait_for(lambda: alice_phone.log().count("got re-INVITE") == 2, what="the resume's re-INVITE")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(bob_phone.hangup)
        await h.interaction_in_state(iid, "wrapup")

        async def recorded() -> dict[str, Any] | None:
            found = [d for kind, d in await call_events(h) if kind == "call.recorded"]
            return found[0] if found else None

        recording = await h.wait_for(recorded, what="call.recorded")
    path = Path(recording["path"])
    assert await asyncio.to_thread(path.is_file) and recording["seconds"] > 4
    left, right = split_stereo(path, tmp_path)
    assert abs(dominant_frequency(left) - 1000) < 20  # the customer (bob)
    assert abs(dominant_frequency(right, skip_seconds=2.5) - 440) < 20  # the agent (alice)


def split_stereo(path: Path, folder: Path) -> tuple[Path, Path]:
    """The two channels of a stereo WAV as mono files (what dominant_frequency reads)."""
    from connectors.sip.player import audioop

    with wave.open(str(path)) as source:
        assert (source.getnchannels(), source.getframerate()) == (2, 8000)
        frames = source.readframes(source.getnframes())
    out = []
    for name, (left, right) in (("left", (1, 0)), ("right", (0, 1))):
        mono = folder / f"{name}.wav"
        with wave.open(str(mono), "wb") as sink:
            sink.setnchannels(1)
            sink.setsampwidth(2)
            sink.setframerate(8000)
            sink.writeframes(audioop.tomono(frames, 2, left, right))
        out.append(mono)
    return out[0], out[1]


async def test_keys_pressed_by_the_customer_are_events_and_reach_the_agents_phone(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        alice, iid = await connected_call(h, alice_phone, bob_phone)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(bob_phone.send_dtmf, "4#")
        assert await asyncio.to_thread(alice_phone.wait_keys, "4#") == "4#"  # relayed untouched

        async def received() -> list[str] | None:
            keys = [d["digits"] for kind, d in await call_events(h)
                    if kind == "call.dtmf" and d["direction"] == "received"]
            return keys if len(keys) >= 2 else None

        assert await h.wait_for(received, what="two call.dtmf events") == ["4", "#"]
        await alice.end(iid)
        await asyncio.to_thread(bob_phone.wait_call_over)


async def test_a_busy_agent_phone_sends_the_call_on_and_a_caller_who_leaves_stops_the_ringing(
        tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    alice_phone = await phones("alice", 440, auto_answer=False)
    carol_phone = await phones("carol", 600, auto_answer=False)
    bob_phone = await phones("bob", 1000)
    async with running_server(server_config(tmp_path, registrar, agent_ring_seconds=20.0)) as h:
        await registered(h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        carol = await h.agent("carol", voice_endpoint="sip:carol@127.0.0.1", state="away")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
        iid = await call_in_state(h, "offered", agent="alice", what="the call offered to alice")
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Incoming call")
        await asyncio.to_thread(alice_phone.hangup)  # busy: her phone refuses (486)
        await h.wait_for(lambda: agent_in_state(h, "alice", "away"), what="alice set away")

        await carol.set_agent_state("carol", "available")
        await call_in_state(h, "offered", agent="carol", what="the call offered to carol")
        await carol.accept(iid)
        await asyncio.to_thread(carol_phone.wait_log, "Incoming call")  # carol's phone rings...
        await asyncio.to_thread(bob_phone.hangup)  # ...and the caller gives up
        await asyncio.to_thread(carol_phone.wait_call_over)  # our CANCEL stopped the ringing
        await h.interaction_in_state(iid, "wrapup")
        assert (await h.admin.get_agent("carol"))["state"] != "away"  # she was not blamed for it


async def test_the_agents_hold_key_holds_the_interaction_and_the_customer_hears_hold_audio(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        _, iid = await connected_call(h, alice_phone, bob_phone)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(alice_phone.command, "hold")  # her phone sends a re-INVITE (sendonly)
        await h.interaction_in_state(iid, "held")
        held_at = time.monotonic()
        await asyncio.sleep(2.5)
        await asyncio.to_thread(alice_phone.command, "resume")
        await h.interaction_in_state(iid, "active")
        resumed_at = time.monotonic()
        await asyncio.sleep(1.5)
        await asyncio.to_thread(bob_phone.hangup)
        hung_up_at = time.monotonic()  # bob's recording ends here
        await h.interaction_in_state(iid, "wrapup")
    [bob_heard] = [r for r in bob_phone.recordings() if r.name.endswith("-dec.wav")]
    length = recording_seconds(bob_heard)
    start = length - (hung_up_at - held_at)  # the hold, on the recording's clock
    assert resumed_at > held_at
    assert abs(dominant_frequency(bob_heard, skip_seconds=start + 0.5, until_seconds=start + 2.0) - 800) < 20
    assert abs(dominant_frequency(bob_heard, skip_seconds=length - 1.5) - 440) < 20  # alice again
