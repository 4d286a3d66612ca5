"""The RTP relay over loopback sockets: strict latching, no audio from strangers or departed parties."""

from __future__ import annotations

import asyncio
import socket
import struct

from connectors.sip.relay import RtpRelay


def rtp(seq: int, ssrc: int, payload: bytes = b"\xff" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def received(sock: socket.socket, wait: float = 0.3) -> list[bytes]:
    await asyncio.sleep(wait)
    out = []
    while True:
        try:
            out.append(sock.recv(2048))
        except BlockingIOError:
            return out


async def test_only_the_expected_party_is_relayed_and_a_departed_one_is_never_learned_again() -> None:
    relay = RtpRelay()
    port_a, port_b = await relay.open()
    customer, old_agent, new_agent, stranger = udp(), udp(), udp(), udp()
    try:
        relay.set_peer("a", customer.getsockname())
        stranger.sendto(rtp(1, 9), ("127.0.0.1", port_b))  # nobody is expected on leg b yet
        customer.sendto(rtp(1, 1), ("127.0.0.1", port_a))
        assert await received(old_agent) == [] and relay.b.received == 0

        relay.set_peer("b", old_agent.getsockname())
        old_agent.sendto(rtp(2, 2), ("127.0.0.1", port_b))
        stranger.sendto(rtp(3, 9), ("127.0.0.1", port_b))  # leg b has learned its party: dropped
        assert len(await received(customer)) == 1

        relay.forget_peer("b")  # a transfer: the old agent's phone keeps sending for a moment
        old_agent.sendto(rtp(4, 2), ("127.0.0.1", port_b))
        relay.set_peer("b", new_agent.getsockname())
        old_agent.sendto(rtp(5, 2), ("127.0.0.1", port_b))
        assert await received(customer) == []
        assert relay.b.peer == new_agent.getsockname()

        new_agent.sendto(rtp(6, 3), ("127.0.0.1", port_b))
        customer.sendto(rtp(7, 1), ("127.0.0.1", port_a))
        assert len(await received(customer)) == 1
        assert len(await received(new_agent)) == 1 and await received(old_agent) == []
    finally:
        relay.close()
        for sock in (customer, old_agent, new_agent, stranger):
            sock.close()
