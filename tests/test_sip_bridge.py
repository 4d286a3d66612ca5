"""The server's SIP layer places calls to two real baresip phones through Kamailio and bridges them.

This is the mechanics of a callback: call one party, call the other, relay RTP between them.
Proof is acoustic: each phone plays its own tone, and each phone's recording of what it heard
carries the other's tone (FFT). The registrar challenges the server's INVITEs with 407 (as RFC
3261 proxies do) or 401.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.sip import sdp
from connectors.sip.call import CallFailed, CallManager
from connectors.sip.endpoint import SipEndpoint
from connectors.sip.register import Account
from connectors.sip.relay import RtpRelay
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency

USERS = {"cti": "ctipass", "alice": "alicepass", "bob": "bobpass", "carol": "carolpass"}


@pytest.fixture(params=["proxy", "www"])
async def registrar(request: pytest.FixtureRequest) -> AsyncIterator[Registrar]:
    server = await asyncio.to_thread(Registrar(USERS, invite_auth=request.param).start)
    yield server
    await asyncio.to_thread(server.close)


async def manager(registrar: Registrar) -> CallManager:
    endpoint = SipEndpoint()
    await endpoint.start()
    return CallManager(endpoint, Account("cti", "ctipass", "127.0.0.1", registrar.address), registrar.address)


async def test_two_phones_are_called_and_bridged_with_audio_both_ways(registrar: Registrar, phones: Any) -> None:
    alice, bob = await phones("alice", 440), await phones("bob", 1000)
    calls = await manager(registrar)
    relay = RtpRelay()
    try:
        port_a, port_b = await relay.open()
        leg_a, leg_b = calls.call(alice.uri), calls.call(bob.uri)
        media_a = await leg_a.dial(sdp.offer("127.0.0.1", port_a, payloads=(0, 101)))
        relay.set_peer("a", (media_a.host, media_a.port))
        media_b = await leg_b.dial(sdp.offer("127.0.0.1", port_b, payloads=(0, 101)))
        relay.set_peer("b", (media_b.host, media_b.port))
        assert media_a.payloads[0] == 0 and media_b.payloads[0] == 0  # both answered PCMU
        await asyncio.sleep(3.0)  # three seconds of conversation
        await leg_a.hangup()
        await leg_b.hangup()
        stats = relay.stats()
        assert stats["a_to_b"] > 50 and stats["b_to_a"] > 50, stats
        await asyncio.to_thread(alice.wait_call_over)
        await asyncio.to_thread(bob.wait_call_over)
        heard = {p.name: [dominant_frequency(r) for r in p.recordings() if r.name.endswith("-dec.wav")]
                 for p in (alice, bob)}
        assert heard["alice"] and abs(heard["alice"][0] - 1000) < 20, heard  # alice heard bob's tone
        assert heard["bob"] and abs(heard["bob"][0] - 440) < 20, heard  # and bob heard alice's
    finally:
        relay.close()
        calls.endpoint.close()


async def test_the_far_end_hangs_up_and_an_unknown_user_is_refused(registrar: Registrar, phones: Any) -> None:
    carol = await phones("carol", 600)
    calls = await manager(registrar)
    relay = RtpRelay()
    try:
        port_a, _ = await relay.open()
        leg = calls.call(carol.uri)
        await leg.dial(sdp.offer("127.0.0.1", port_a))
        await asyncio.to_thread(carol.command, "hangup")
        await asyncio.wait_for(leg.ended.wait(), 10)
        assert leg.ended_by == "them"
        with pytest.raises(CallFailed) as refused:
            await calls.call("sip:nobody@127.0.0.1").dial(sdp.offer("127.0.0.1", port_a))
        assert refused.value.status == 404
    finally:
        relay.close()
        calls.endpoint.close()
