"""Recording Twilio calls in dial mode through Twilio's own recording (the emulator records the real
RTP it relays between the caller's phone and the agent's): by policy (``[recording] record =
"all"``) from the agent's answer, paused (nothing of it kept) and resumed by API, completed with the
call, fetched into our recordings and served like any other. And the "none" policy refuses."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti import models
from cti.bus import EventFilter
from cti.errors import Conflict
from cti.gateway import CoreGateway
from cti.services.actors import Actor, Role
from cti.services.recordings import RecordEveryCall, recording_state, request_recording
from cti.services.rows import fetch_one
from sip_test_env.emulators.twilio import TwilioEmulator
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import tone_levels
from tests.harness import Harness, running_server
from tests.pg import free_port
from tests.test_mixing import channel
from tests.test_twilio_channel import twilio, twilio_config, wire_number
from tests.voice_helpers import call_in_state

__all__ = ["twilio"]  # (the emulator fixture)
pytestmark = pytest.mark.slow


async def test_a_dial_mode_call_is_recorded_by_twilio_paused_and_served(
        tmp_path: Path, registrar: Registrar, phones: Any, twilio: TwilioEmulator) -> None:
    alice_phone, caller_phone = await phones("alice", 440), await phones("bob", 1000)
    port = free_port()
    config = twilio_config(tmp_path, twilio, port, registrar, recording={"record": "all"})
    async with running_server(config, port=port) as h:
        wire_number(twilio, h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        call = await twilio.place_inbound_call("+358409998877", caller_sip=caller_phone.uri)
        iid = await call_in_state(h, "offered", agent="alice", what="the Twilio call offered")
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await h.wait_for(lambda: "recording started" in call.log, what="Twilio recording (policy: all)")
        await asyncio.sleep(2.0)
        verb = f"/api/v1/interactions/{iid}/recording"
        await alice.request("POST", verb, json={"action": "pause"})
        await asyncio.sleep(1.5)
        await alice.request("POST", verb, json={"action": "resume"})
        await asyncio.sleep(1.5)
        await alice.end(iid)  # the recording ends with the call
        await asyncio.to_thread(alice_phone.wait_call_over)

        async def recorded() -> dict[str, Any] | None:
            items = (await alice.request("GET", "/api/v1/recordings", params={"interaction_id": iid}))["items"]
            return items[0] if items and items[0]["state"] == "stopped" else None

        found = await h.wait_for(recorded, timeout=20, what="the recording fetched from Twilio")
        assert 2 <= found["seconds"] <= 4, found  # about 3.5 s recorded (whole seconds, as Twilio counts)
        assert len(found["paused"]) == 1 and 1.2 < found["paused"][0][1] - found["paused"][0][0] < 1.9
        kinds = [e.type.value for e in await h.services.bus.replay(0, EventFilter(types=["call.*"]))
                 if e.type.value.startswith("call.record")]
        assert kinds == ["call.recording.started", "call.recording.paused", "call.recording.resumed",
                         "call.recorded"]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {alice.token}"}) as session:
            async with session.get(f"{h.url}/api/v1/recordings/{found['id']}/audio") as response:
                assert response.status == 200 and response.content_type == "audio/wav"
                (tmp_path / "served.wav").write_bytes(await response.read())
    with wave.open(str(tmp_path / "served.wav")) as served:
        assert served.getnchannels() == 2 and 3.0 < served.getnframes() / 8000 < 4.3, served.getnframes()
    caller = tone_levels(channel(tmp_path / "served.wav", 0, tmp_path / "0.wav"), [1000.0, 440.0], skip_seconds=0.3)
    agent = tone_levels(channel(tmp_path / "served.wav", 1, tmp_path / "1.wav"), [1000.0, 440.0], skip_seconds=0.3)
    assert caller[1000.0] > 0.5 and caller[440.0] < 0.05, caller  # the caller on the first channel
    assert agent[440.0] > 0.5 and agent[1000.0] < 0.05, agent


async def test_the_none_policy_refuses_to_start_a_recording(harness: Harness, tmp_path: Path) -> None:
    alice = await harness.agent("alice")
    svc = harness.services
    gateway = CoreGateway("sip", svc.db, svc.policies, {}, svc.bus)
    iid = await gateway.start_call("phone", "+358401234567", "call-none-1")
    await harness.interaction_in_state(iid, "offered")
    await alice.accept(iid)
    actor = Actor(Role.AGENT, agent_id="alice")
    with pytest.raises(Conflict) as refused:
        await svc.db.write(lambda tx: request_recording(tx, iid, "start", actor=actor, policy="none"))
    assert refused.value.code == "recording_off"
    await svc.db.write(lambda tx: request_recording(tx, iid, "start", actor=actor, policy="on_demand"))
    commands = await svc.bus.replay(0, EventFilter(types=["call.command"]))
    assert [(e.data["action"], e.data["op"]) for e in commands] == [("recording", "start")]  # one, not two

    # "all": the first leg to answer asks for a start; once the call has a recording, later legs do not.
    policy = RecordEveryCall()
    row = await svc.db.read(lambda c: fetch_one(c, models.interactions, iid, what="interaction"))
    other = await gateway.start_call("phone", "+358401234568", "call-none-2")
    other_row = await svc.db.read(lambda c: fetch_one(c, models.interactions, other, what="interaction"))
    await svc.db.write(lambda tx: policy.leg_answered(tx, other_row, "customer"))
    await svc.db.write(lambda tx: recording_state(tx, iid, "call-none-1", str(tmp_path / "r.wav"), "started"))
    await svc.db.write(lambda tx: policy.leg_answered(tx, row, "agent"))
    starts = [e.interaction_id for e in await svc.bus.replay(0, EventFilter(types=["call.command"]))
              if e.data.get("by") == "policy"]
    assert starts == [other], starts
