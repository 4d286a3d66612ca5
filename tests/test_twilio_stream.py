"""A Twilio call's audio over Media Streams into our own media bridge: the Twilio emulator runs the
TwiML the connector answers with (<Connect><Stream> to /media/twilio), streams the caller's real
phone (baresip, 1000 Hz) as 8 kHz mu-law over the WebSocket, and plays back what we send; the
SIP connector's voice desk queues the call with hold audio and bridges it to the agent's real
phone (baresip, 440 Hz) through Kamailio. Keys cross both ways (the caller's as Twilio dtmf
messages, the agent's as in-band tones), and forged or mismatched streams are refused."""

from __future__ import annotations

import asyncio
import audioop
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.sip.voice import VoiceDesk
from sip_test_env.emulators.twilio import TwilioEmulator, twilio_signature
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import tone_levels
from tests.harness import Harness, make_config, running_server
from tests.pg import free_port
from tests.test_twilio_channel import calls_over, heard, wire_number
from tests.voice_helpers import call_events, call_in_state, registered


@pytest.fixture
async def twilio(registrar: Registrar) -> AsyncIterator[TwilioEmulator]:
    emulator = TwilioEmulator(sip_proxy=("127.0.0.1", registrar.port))
    await emulator.start()
    yield emulator
    await emulator.stop()


def stream_config(tmp_path: Path, twilio: TwilioEmulator, registrar: Registrar, port: int) -> Any:
    return make_config(tmp_path, server={"public_url": f"http://127.0.0.1:{port}"}, connectors={
        "twilio": {"account_sid": twilio.account_sid, "auth_token": twilio.auth_token, "media": "stream",
                   "phone_number": twilio.phone_number, "api_base": twilio.url, "place_outbound_calls": False},
        "sip": {"registrar": f"127.0.0.1:{registrar.port}", "username": "cti", "password": "ctipass"}})


def tone_power(mulaw: bytes, hz: float) -> float:
    """Goertzel power of one frequency in mu-law audio, relative to the audio's total power."""
    pcm = audioop.ulaw2lin(mulaw, 2)
    samples = [int.from_bytes(pcm[i:i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
    coefficient = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for sample in samples:
        s1, s2 = sample + coefficient * s1 - s2, s1
    energy = sum(x * x for x in samples) or 1
    return (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (energy * len(samples) / 2)


def has_key_five(mulaw: bytes) -> bool:
    """Digit 5 (770 + 1336 Hz) in some 100 ms window, and not the other rows and columns."""
    for start in range(0, len(mulaw) - 800, 160):
        window = mulaw[start:start + 800]
        low, high = tone_power(window, 770), tone_power(window, 1336)
        if low > 0.2 and high > 0.2 and tone_power(window, 697) < 0.05 and tone_power(window, 1209) < 0.05:
            return True
    return False


def desk_of(h: Harness) -> VoiceDesk:
    return h.services.connectors.running["sip"].desk


async def test_a_twilio_call_streams_into_the_bridge_and_reaches_the_agents_phone(
        tmp_path: Path, registrar: Registrar, phones: Any, twilio: TwilioEmulator) -> None:
    alice_phone, caller_phone = await phones("alice", 440), await phones("bob", 1000)
    port = free_port()
    async with running_server(stream_config(tmp_path, twilio, registrar, port), port=port) as h:
        wire_number(twilio, h)
        await registered(h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        call = await twilio.place_inbound_call("+358409998877", caller_sip=caller_phone.uri)
        iid = await call_in_state(h, "offered", agent="alice", what="the streamed call offered")
        assert (await h.admin.get_interaction(iid))["external_id"] == call.sid
        await h.wait_for(lambda: call.stream is not None and call.stream.media_out > 50,
                         what="hold audio streamed to the caller while queued")
        assert call.log[:2] == ["Say", "Connect"], call.log

        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await asyncio.sleep(2.0)  # talk
        await asyncio.to_thread(caller_phone.send_dtmf, "7")

        async def customer_key() -> Any:
            return [d for t, d in await call_events(h) if t == "call.dtmf" and d.get("leg") == "customer"]

        pressed = await h.wait_for(customer_key, what="the caller's key as call.dtmf")
        assert pressed[0]["digits"] == "7"
        played_from = len(call.stream.heard)
        await alice.dtmf(iid, "5")
        await h.wait_for(lambda: len(call.stream.heard) - played_from > 8000, what="a second more audio played")
        assert has_key_five(bytes(call.stream.heard[played_from:])), "the agent's key reached the caller in-band"
        await alice.end(iid)
        await h.wait_for(lambda: calls_over(alice_phone) >= 1, what="her phone hung up")
        await asyncio.to_thread(caller_phone.wait_call_over)
        await h.wait_for(call.done.is_set, what="the Twilio call completed")
        await h.wait_for(lambda: len(call.log) >= 3, what="the stream's end in the call log")
        assert call.log[:3] == ["Say", "Connect", "stream closed by the application"], call.log
        assert call.status == "completed"

        async def ended() -> list[str] | None:
            kinds = [t for t, _ in await call_events(h)]
            return kinds if "call.ended" in kinds else None

        kinds = await h.wait_for(ended, what="call.ended")
        await asyncio.sleep(1.0)  # Twilio's own status callback arrives too: still one call.ended
        assert [t for t, _ in await call_events(h)].count("call.ended") == 1, kinds
        assert desk_of(h).sessions == {}, "no media session left"
    assert abs(heard(alice_phone) - 1000) < 20, "the agent heard the caller through the stream"
    assert abs(heard(caller_phone) - 440) < 20, "the caller heard the agent through the stream"


async def test_forged_and_mismatched_streams_are_refused(
        tmp_path: Path, registrar: Registrar, twilio: TwilioEmulator) -> None:
    port = free_port()
    async with running_server(stream_config(tmp_path, twilio, registrar, port), port=port) as h:
        await registered(h)
        url = f"ws://127.0.0.1:{port}/media/twilio"
        async with aiohttp.ClientSession() as http:
            for headers, status in (({}, 401), ({"X-Twilio-Signature": twilio_signature("wrong", url, {})}, 403)):
                async with http.get(h.url + "/media/twilio", headers=headers) as response:
                    assert response.status == status, await response.text()
            signed = {"X-Twilio-Signature": twilio_signature(twilio.auth_token, url, {})}
            async with http.get(h.url + "/media/twilio", headers=signed) as response:
                assert response.status == 400  # signed, but not a WebSocket
            async with http.ws_connect(url, headers=signed) as ws:  # signed, but no such call
                await ws.send_json({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
                    "streamSid": "MZ1", "callSid": "CAnot-ours", "customParameters": {"interaction": "nope"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
                message = await ws.receive(timeout=10)
                assert message.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4400
        assert desk_of(h).sessions == {}


@asynccontextmanager
async def streamed_call(tmp_path: Path, twilio: TwilioEmulator, registrar: Registrar, caller_phone: Any, agent: str,
                        endpoint: str) -> AsyncIterator[tuple[Harness, Any, Any, str]]:
    """A server with both connectors; the caller's phone calls the Twilio number, the call streams in
    and the agent (at ``endpoint``) accepts it."""
    port = free_port()
    async with running_server(stream_config(tmp_path, twilio, registrar, port), port=port) as h:
        wire_number(twilio, h)
        await registered(h)
        client = await h.agent(agent, voice_endpoint=endpoint)
        call = await twilio.place_inbound_call("+358409998877", caller_sip=caller_phone.uri)
        iid = await call_in_state(h, "offered", agent=agent, what=f"the streamed call offered to {agent}")
        await client.accept(iid)
        yield h, client, call, iid


async def test_a_twilio_caller_talks_to_an_agent_in_the_browser(
        tmp_path: Path, registrar: Registrar, phones: Any, twilio: TwilioEmulator) -> None:
    """Neither side is a SIP phone of ours: a Media Stream on one side, WebRTC on the other."""
    import av
    from aiortc import MediaStreamTrack

    from tests.test_desk_softphone import connect_softphone
    from tests.test_media_legs import strongest

    caller_phone = await phones("bob", 1000)
    async with streamed_call(tmp_path, twilio, registrar, caller_phone, "dana", "browser") as (h, dana, call, iid):
        received: list[bytes] = []
        browser = await connect_softphone(dana, iid)
        listeners = []

        async def listen(track: MediaStreamTrack) -> None:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
            while len(received) < 150:
                for frame in resampler.resample(await track.recv()):
                    received.append(bytes(frame.planes[0])[: frame.samples * 2])

        try:
            listeners = [asyncio.ensure_future(listen(r.track)) for r in browser.getReceivers()]
            await h.wait_for(lambda: len(received) >= 150, timeout=15, what="three seconds heard in the browser")
            assert strongest(b"".join(received[100:150]), 8000, range(300, 1200, 20)) == 1000, "the caller's tone"
            await dana.end(iid)
            await asyncio.to_thread(caller_phone.wait_call_over)
        finally:
            for listener in listeners:
                listener.cancel()
            await browser.close()
        await h.wait_for(call.done.is_set, what="the Twilio call completed")
        assert desk_of(h).sessions == {}
    assert abs(heard(caller_phone) - 700) < 25, "the caller heard the agent's browser"


async def test_a_twilio_caller_in_a_conference_hears_both_and_is_heard(
        tmp_path: Path, registrar: Registrar, phones: Any, twilio: TwilioEmulator) -> None:
    """The customer on a Media Stream, the agent and a colleague on phones: a conference mixes the
    stream with the phones (the caller hears both; the colleague hears the caller through it)."""
    alice_phone, caller_phone, carol_phone = await phones("alice", 440), await phones("bob", 1000), \
        await phones("carol", 600)
    async with streamed_call(tmp_path, twilio, registrar, caller_phone, "alice",
                             "sip:alice@127.0.0.1") as (h, alice, call, iid):
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await alice.request("POST", f"/api/v1/interactions/{iid}/participants",
                            json={"sip_uri": "sip:carol@127.0.0.1", "mode": "conference"})
        await asyncio.to_thread(carol_phone.wait_log, "Call established")

        async def joined() -> bool:
            items = (await alice.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"]
            return any(p["state"] == "connected" for p in items)

        await h.wait_for(joined, what="carol in the conference")
        await asyncio.sleep(1.0)
        assert call.stream is not None
        start = len(call.stream.heard)
        await h.wait_for(lambda: len(call.stream.heard) - start > 16000, what="two seconds of the conference")
        conference = bytes(call.stream.heard[start:start + 16000])
        assert tone_power(conference, 440) > 0.1 and tone_power(conference, 600) > 0.1, "the caller hears both"
        assert tone_power(conference, 1000) < 0.02, "and not itself"
        await alice.end(iid)
        await asyncio.to_thread(caller_phone.wait_call_over)
        await asyncio.to_thread(carol_phone.wait_call_over)
    carol_heard = [r for r in carol_phone.recordings() if r.name.endswith("-dec.wav")]
    levels = tone_levels(carol_heard[0], [1000.0, 440.0], skip_seconds=0.8)
    assert levels[1000.0] > 0.15 and levels[440.0] > 0.15, levels  # the colleague hears the streamed caller
