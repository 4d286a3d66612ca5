"""The media bridge of one call (connectors/sip/bridge.py) on real loopback sockets: parties join
where they said, who hears whom is a table, and a table the bridge cannot make is refused."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator

import pytest

from connectors.media import AGENT, APART, CUSTOMER, TALKING, MixUnsupported
from connectors.sip.bridge import CallBridge


def rtp(ssrc: int, sequence: int, payload: bytes = b"\xff" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, sequence, sequence * 160, ssrc) + payload


@pytest.fixture
def phones() -> Iterator[tuple[socket.socket, socket.socket]]:
    pair = []
    for _ in range(2):
        phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        phone.bind(("127.0.0.1", 0))
        phone.settimeout(0.3)
        pair.append(phone)
    yield pair[0], pair[1]
    for phone in pair:
        phone.close()


async def heard(phone: socket.socket) -> bytes | None:
    try:
        return await asyncio.to_thread(phone.recv, 2048)
    except TimeoutError:
        return None


async def test_two_parties_hear_each_other_and_hold_parts_them(phones: tuple[socket.socket, socket.socket]) -> None:
    customer, agent = phones
    bridge = CallBridge("127.0.0.1")
    customer_port, agent_port = await bridge.open()
    try:
        bridge.add_party(CUSTOMER, customer.getsockname())
        bridge.add_party(AGENT, agent.getsockname())
        customer.sendto(rtp(1, 1, b"hello-agent" * 10), ("127.0.0.1", customer_port))
        got = await heard(agent)
        assert got is not None and got.endswith(b"hello-agent" * 10)  # relayed untouched (header rewritten)
        agent.sendto(rtp(2, 1, b"hello-customer" * 10), ("127.0.0.1", agent_port))
        got = await heard(customer)
        assert got is not None and got.endswith(b"hello-customer" * 10)

        bridge.connect(APART)
        assert bridge.apart
        customer.sendto(rtp(1, 2), ("127.0.0.1", customer_port))
        assert await heard(agent) is None, "on hold nobody hears anybody"

        bridge.connect(TALKING)
        customer.sendto(rtp(1, 3, b"back" * 40), ("127.0.0.1", customer_port))
        got = await heard(agent)
        assert got is not None and got.endswith(b"back" * 40)
    finally:
        bridge.close()


async def test_hold_audio_plays_to_the_customer_and_stops(phones: tuple[socket.socket, socket.socket]) -> None:
    customer, _ = phones
    bridge = CallBridge("127.0.0.1")
    await bridge.open()
    try:
        bridge.play(CUSTOMER, b"\x00\x10" * 8000)  # before a party sits there: nothing to play to
        assert not bridge.playing
        bridge.add_party(CUSTOMER, customer.getsockname())
        bridge.play(CUSTOMER, b"\x00\x10" * 8000)
        assert bridge.playing and await heard(customer) is not None
        bridge.play(CUSTOMER, None)
        assert not bridge.playing
    finally:
        bridge.close()


@pytest.mark.parametrize("hears", [
    {CUSTOMER: frozenset({AGENT, "supervisor:s1"})},  # a party the call does not have (yet)...
    {"guest:g1": frozenset({CUSTOMER})},  # ...as a listener either: open_party comes first
])
async def test_a_table_the_bridge_cannot_make_is_refused(hears: dict[str, frozenset[str]]) -> None:
    bridge = CallBridge("127.0.0.1")
    await bridge.open()
    try:
        with pytest.raises(MixUnsupported):
            bridge.connect(hears)
        assert bridge.hears is TALKING, "a refused table changes nothing"
    finally:
        bridge.close()


async def test_one_way_audio_is_mixed_and_two_parties_talking_are_relayed_again() -> None:
    bridge = CallBridge("127.0.0.1")
    await bridge.open()
    try:
        bridge.connect({AGENT: frozenset({CUSTOMER})})  # one way only: the mixer makes it
        assert bridge.mixer is not None and not bridge.apart
        bridge.connect(TALKING)
        assert bridge.mixer is None and bridge.hears is TALKING  # packets relayed untouched again
    finally:
        bridge.close()
