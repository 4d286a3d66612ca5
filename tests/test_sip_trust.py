"""The SIP side attacked from outside, on the real environment (Kamailio, baresip): INVITEs from
strangers and for numbers that are not ours, SDP that points nowhere, media before the ACK, a
relay sprayed while a party answers, and the small protocol rules (case-sensitive methods, 481s).
Each test is the attack that found the hole."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.sip.relay import RtpRelay
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone
from tests.harness import Harness, running_server
from tests.voice_helpers import (
    assert_heard_each_other,
    bridged_call,
    offered_call,
    registered,
    server_config,
)


def sip_port(h: Harness) -> int:
    return int(h.services.connectors.running["sip"].endpoint.port)


def desk(h: Harness) -> Any:
    return h.services.connectors.running["sip"].desk


class Stranger:
    """A host that is not the registrar (another loopback address): sends INVITEs straight to the
    server's SIP port, and listens on the RTP port its SDP names, counting whatever arrives there."""

    def __init__(self, server_port: int, host: str = "127.0.0.2") -> None:
        self.host, self.server = host, ("127.0.0.1", server_port)
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((host, 0))
        self.sip.setblocking(False)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((host, 0))
        self.rtp.setblocking(False)
        self.port, self.rtp_port = self.sip.getsockname()[1], self.rtp.getsockname()[1]

    def sdp(self, host: str | None = None, port: int | None = None) -> bytes:
        host = host or self.host
        return (f"v=0\r\no=x 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
                f"m=audio {self.rtp_port if port is None else port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").encode()

    def invite(self, uri: str, call_id: str, *, sdp: bytes | None = None, method: str = "INVITE") -> bytes:
        body = sdp if sdp is not None else self.sdp()
        head = (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{call_id}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:+4930123456@evil.example.com>;tag=s{call_id[:8]}\r\n"
                f"To: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
                f"Contact: <sip:x@{self.host}:{self.port}>\r\nContent-Type: application/sdp\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def request(self, method: str, call_id: str, *, to_tag: str = "") -> bytes:
        """A request in the dialog of our INVITE with that Call-ID (the same From tag), or outside any."""
        tag = f";tag={to_tag}" if to_tag else ""
        return (f"{method} sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {self.host}:{self.port};"
                f"branch=z9hG4bK{method}{call_id}\r\nMax-Forwards: 70\r\n"
                f"From: <sip:+4930123456@evil.example.com>;tag=s{call_id[:8]}\r\n"
                f"To: <sip:cti@127.0.0.1>{tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
                f"Content-Length: 0\r\n\r\n").encode()

    def send(self, data: bytes) -> None:
        self.sip.sendto(data, self.server)

    def answers(self) -> list[bytes]:
        out = []
        with contextlib.suppress(BlockingIOError):
            while True:
                out.append(self.sip.recv(65535))
        return out

    def media_packets(self) -> int:
        count = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                self.rtp.recv(65535)
                count += 1
        return count

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()


def statuses(packets: list[bytes]) -> list[int]:
    return [int(p.split(b" ", 2)[1]) for p in packets if p.startswith(b"SIP/2.0 ")]


def finals_by_call(packets: list[bytes]) -> list[int]:
    """The final status of each call (retransmissions of an unACKed error counted once)."""
    found: dict[bytes, int] = {}
    for packet in packets:
        if packet.startswith(b"SIP/2.0 ") and int(packet.split(b" ", 2)[1]) >= 200:
            call_id = next(line for line in packet.split(b"\r\n") if line.lower().startswith(b"call-id:"))
            found[call_id] = int(packet.split(b" ", 2)[1])
    return sorted(found.values())


async def voice_count(h: Harness) -> int:
    return len((await h.admin.list_interactions(channel="voice", limit=200))["items"])


async def test_a_flood_of_foreign_invites_changes_nothing_during_a_bridged_call(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:
        _, iid = await bridged_call(h, alice_phone, bob_phone)

        stranger = Stranger(sip_port(h))
        try:
            uris = ["sip:+4930123456@evil.example.com", "sip:nobody@10.9.9.9", "sip:cti@127.0.0.1"]
            got: list[int] = []
            for n in range(2000):  # 2,000 INVITEs at ~200/s, while the real call talks
                stranger.send(stranger.invite(uris[n % 3], f"flood{n}-{os.urandom(4).hex()}"))
                if n % 20 == 19:
                    await asyncio.sleep(0.1)
                    got += statuses(stranger.answers())
            await asyncio.sleep(1.0)
            got += statuses(stranger.answers())
            assert got and set(got) <= {100, 403}, sorted(set(got))
            assert 200 not in got
            assert stranger.media_packets() == 0, "no media ever went to the stranger"
            assert await voice_count(h) == 1, "no foreign INVITE became an interaction"
            assert desk(h).sessions.keys() == {iid}
        finally:
            stranger.close()
        await asyncio.to_thread(bob_phone.hangup)
        await asyncio.to_thread(alice_phone.wait_call_over)
    assert_heard_each_other(alice_phone, bob_phone)  # the real call kept its audio through the flood


async def test_invites_not_for_us_bad_sdp_and_media_before_ack(tmp_path: Path, registrar: Registrar) -> None:
    """From a trusted address (the registrar's host): the Request-URI must be ours, the SDP must
    name an address audio can go to, and nothing is stored or sent before the caller's ACK."""
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        trusted = Stranger(sip_port(h), host="127.0.0.1")
        try:
            for uri in ("sip:+4930123456@evil.example.com", "sip:nobody@127.0.0.1"):
                trusted.send(trusted.invite(uri, f"notours-{os.urandom(3).hex()}"))
            for sdp in (trusted.sdp(port=70000), trusted.sdp(host="evil.example.com"), trusted.sdp(port=0)):
                trusted.send(trusted.invite("sip:cti@127.0.0.1", f"badsdp-{os.urandom(3).hex()}", sdp=sdp))
            await asyncio.sleep(1.0)
            got = finals_by_call(trusted.answers())
            assert got == [404, 404, 488, 488, 488], got

            call_id = f"noack-{os.urandom(3).hex()}"
            trusted.send(trusted.invite("sip:cti@127.0.0.1", call_id))
            await asyncio.sleep(2.0)
            answers = trusted.answers()
            assert 200 in statuses(answers), "answered"
            assert trusted.media_packets() == 0, "no hold audio before the ACK"
            assert await voice_count(h) == 0, "nothing stored before the ACK"
            ok = next(a for a in answers if a.startswith(b"SIP/2.0 200"))
            to_line = next(line for line in ok.split(b"\r\n") if line.lower().startswith((b"to:", b"t:")))
            tag = to_line.split(b"tag=", 1)[1].split(b";")[0].decode()
            trusted.send(trusted.request("ACK", call_id, to_tag=tag))
            await h.wait_for(lambda: voice_count(h), what="the call stored after its ACK")
            await h.wait_for(trusted.media_packets, what="hold audio after the ACK")
            trusted.send(trusted.request("BYE", call_id, to_tag=tag))
        finally:
            trusted.close()


async def test_small_protocol_rules(tmp_path: Path, registrar: Registrar, caplog: Any) -> None:
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        peer = Stranger(sip_port(h), host="127.0.0.1")
        try:
            peer.send(peer.invite("sip:cti@127.0.0.1", "lower-1", method="invite"))
            peer.send(peer.request("CANCEL", "nothing-1"))
            peer.send(peer.request("BYE", "nothing-2"))
            await asyncio.sleep(1.0)
            got = finals_by_call(peer.answers())
            assert got == [481, 481, 501], got  # "invite" is not INVITE (RFC 3261 7.1)
            assert await voice_count(h) == 0
            timed = peer.invite("sip:cti@127.0.0.1", "timers-1").replace(
                b"Content-Type:", b"Supported: timer\r\nSession-Expires: 120\r\nContent-Type:", 1)
            peer.send(timed)
            await asyncio.sleep(1.0)
            ok = next(p for p in peer.answers() if p.startswith(b"SIP/2.0 200"))
            assert b"Session-Expires: 120;refresher=uac" in ok and b"Require: timer" in ok  # RFC 4028
            caplog.set_level(logging.INFO, logger="connectors.sip.endpoint")
            caplog.clear()
            for _ in range(5000):
                peer.sip.sendto(os.urandom(200), peer.server)
            await asyncio.sleep(1.0)
            lines = [r for r in caplog.records if "not SIP" in r.getMessage()]
            assert 1 <= len(lines) <= 2, f"{len(lines)} log lines for a flood of garbage"
        finally:
            peer.close()


def _rtp(ssrc: bytes, seq: int, payload: bytes = b"\xff" * 160) -> bytes:
    return struct.pack("!BBHI", 0x80, 0, seq, seq * 160) + ssrc + payload


async def test_the_relay_latches_only_the_signalled_address_and_pins_the_stream() -> None:
    relay = RtpRelay("127.0.0.1")
    port_a, port_b = await relay.open()
    loop = asyncio.get_running_loop()
    party, attacker, far = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3))
    party.bind(("127.0.0.1", 0))
    attacker.bind(("127.0.0.2", 0))
    far.bind(("127.0.0.1", 0))
    far.settimeout(0.3)
    try:
        relay.set_peer("b", far.getsockname())  # the other side listens
        relay.set_peer("a", party.getsockname())  # leg a expects the party's signalled address
        for n in range(20):  # the attacker sprays during the answer, before the party's first packet
            attacker.sendto(_rtp(b"EVIL", n), ("127.0.0.1", port_a))
        await asyncio.sleep(0.2)
        assert relay.a.peer == party.getsockname() and not relay.a.latched, "the attacker took nothing"
        party.sendto(_rtp(b"GOOD", 1), ("127.0.0.1", port_a))
        await asyncio.sleep(0.1)
        for n in range(5):  # from the party's own address, another stream while its own is live
            party.sendto(_rtp(b"EVL2", 100 + n), ("127.0.0.1", port_a))
        for n in range(2, 6):
            party.sendto(_rtp(b"GOOD", n), ("127.0.0.1", port_a))
            attacker.sendto(_rtp(b"EVIL", 50 + n), ("127.0.0.1", port_a))
        await asyncio.sleep(0.2)
        received = []
        with contextlib.suppress(TimeoutError):
            while True:
                received.append(await loop.run_in_executor(None, far.recv, 2048))
        assert len(received) == 5, len(received)  # GOOD 1..5, nothing else
        assert relay.a.received == 5
    finally:
        for s in (party, attacker, far):
            s.close()
        relay.close()
    assert port_b


async def test_a_relay_sprayed_while_the_agent_answers_keeps_her_leg(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:
        alice, iid = await offered_call(h, bob_phone)
        session = desk(h).sessions[iid]
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker.bind(("127.0.0.2", 0))
        attacker.setblocking(False)
        stop = time.monotonic() + 6.0

        async def spray() -> None:  # at both relay ports, from the moment she accepts until well after
            n = 0
            while time.monotonic() < stop:
                for leg in (session.media.relay.a, session.media.relay.b):
                    with contextlib.suppress(OSError):
                        attacker.sendto(_rtp(b"EVIL", n), ("127.0.0.1", leg.port))
                n += 1
                await asyncio.sleep(0.005)

        sprayer = asyncio.ensure_future(spray())
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await sprayer
        stolen = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                attacker.recv(2048)
                stolen += 1
        attacker.close()
        assert stolen == 0, "no customer audio went to the attacker"
        assert session.media.relay.b.peer is not None and session.media.relay.b.peer[0] == "127.0.0.1"
        await asyncio.sleep(2.0)
        await asyncio.to_thread(bob_phone.hangup)
        await asyncio.to_thread(alice_phone.wait_call_over)
    assert_heard_each_other(alice_phone, bob_phone)


@pytest.fixture
def short_silence() -> dict[str, Any]:
    return {"no_media_seconds": 5.0}


async def test_a_caller_whose_phone_dies_is_ended_after_the_silence_time(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone],
        short_silence: dict[str, Any]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar, **short_silence)) as h:
        _, iid = await bridged_call(h, alice_phone, bob_phone)
        await asyncio.sleep(1.0)
        assert bob_phone.process is not None
        bob_phone.process.kill()  # SIGKILL: no BYE will ever come
        killed = time.monotonic()
        await h.interaction_in_state(iid, "wrapup", timeout=20)
        assert time.monotonic() - killed < 5.0 + 3.0
        events = (await h.admin.timeline((await h.admin.get_interaction(iid))["case_id"]))["entries"]
        ended = next(e for e in events if e["type"] == "call.ended")
        assert (ended["data"]["by"], ended["data"]["outcome"]) == ("customer", "no_media")
        await asyncio.to_thread(alice_phone.wait_call_over)  # her phone was hung up too


def test_a_session_timer_that_runs_out_ends_the_call() -> None:
    """RFC 4028 on our side: a caller that asked for timers and stops refreshing is gone."""
    from types import SimpleNamespace

    from connectors.sip.call import CallLeg
    from connectors.sip.custody import CallCustody

    now = time.monotonic()
    watchdog = CallCustody(None, {}, end=lambda *a, **k: None, spawn=lambda c: None)  # type: ignore[arg-type]

    def leg(refreshed_seconds_ago: float) -> CallLeg:
        call = CallLeg(SimpleNamespace(endpoint=None), "timer-call")  # type: ignore[arg-type]
        call.session_expires, call.refreshed_at = 90, now - refreshed_seconds_ago
        return call

    fresh = SimpleNamespace(done=False, agent_leg=None, caller=leg(60))
    stale = SimpleNamespace(done=False, agent_leg=None, caller=leg(91))
    assert watchdog._gone_party(fresh, now) is None  # type: ignore[arg-type]
    assert watchdog._gone_party(stale, now) == ("customer", "session_expired")  # type: ignore[arg-type]
