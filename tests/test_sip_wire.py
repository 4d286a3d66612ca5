"""The SIP connector on the wire: retransmitted INVITEs, RFC 4475-style torture while a call is
up, and SIPp calls that lose packets (both sides' retransmissions must recover them)."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.sip_b2bua import B2bua
from bench.sip_calls import ensure_sipp
from connectors.sip.endpoint import SipEndpoint
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone
from sip_test_env.ports import free_port, free_port_pair, wait_udp_bound
from sip_test_env.sipp import write_scenario
from tests.harness import Harness, running_server
from tests.voice_helpers import assert_heard_each_other, call_events, call_in_state, registered, server_config

SDP = (b"v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40002 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


class RawPhone:
    """A hand-written UDP peer: sends exact bytes, collects what comes back."""

    def __init__(self, server_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port, self.server = self.sock.getsockname()[1], ("127.0.0.1", server_port)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def collect(self, seconds: float) -> list[bytes]:
        deadline, out = time.monotonic() + seconds, []
        while time.monotonic() < deadline:
            try:
                out.append(self.sock.recv(65535))
            except TimeoutError:
                continue
        return out

    def invite(self, call_id: str, branch: str) -> bytes:
        head = (f"INVITE sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:+358401234567@127.0.0.1>;tag=raw1\r\nTo: <sip:cti@127.0.0.1>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:raw@127.0.0.1:{self.port}>\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n")
        return head.encode() + SDP

    def in_dialog(self, method: str, call_id: str, to_tag: str, seq: int, branch: str) -> bytes:
        return (f"{method} sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:+358401234567@127.0.0.1>;tag=raw1\r\n"
                f"To: <sip:cti@127.0.0.1>;tag={to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {seq} {method}\r\n"
                f"Content-Length: 0\r\n\r\n").encode()

    def close(self) -> None:
        self.sock.close()


def status_lines(packets: list[bytes]) -> list[str]:
    return [p.split(b"\r\n", 1)[0].decode() for p in packets]


def to_tag(response: bytes) -> str:
    line = next(h for h in response.decode().split("\r\n") if h.lower().startswith(("to:", "t:")))
    return line.split("tag=")[1].split(";")[0].strip()


def sip_port(h: Harness) -> int:
    return int(h.services.connectors.running["sip"].endpoint.port)


async def voice_interactions(h: Harness) -> list[dict[str, Any]]:
    return (await h.admin.list_interactions(channel="voice", limit=200))["items"]


async def test_a_retransmitted_invite_never_starts_a_second_call(tmp_path: Path, registrar: Registrar) -> None:
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        phone = RawPhone(sip_port(h))
        try:
            invite = phone.invite("retrans-1@raw", "z9hG4bKretrans1")
            for _ in range(4):  # the INVITE and three retransmissions (as if our answers were lost)
                phone.send(invite)
                await asyncio.sleep(0.1)
            answers = await asyncio.to_thread(phone.collect, 1.5)
            finals = [line for line in status_lines(answers) if line.startswith("SIP/2.0 200")]
            assert finals  # answered (and the 200 OK retransmitted until our ACK)
            assert await voice_interactions(h) == [], "nothing is stored before the caller's ACK"
            tag = to_tag(next(p for p in answers if p.startswith(b"SIP/2.0 200")))
            phone.send(phone.in_dialog("ACK", "retrans-1@raw", tag, 1, "z9hG4bKack1"))
            await h.wait_for(lambda: _count_voice(h, 1), what="one voice interaction")
            await asyncio.sleep(0.5)
            assert len(await voice_interactions(h)) == 1
            phone.send(phone.in_dialog("BYE", "retrans-1@raw", tag, 2, "z9hG4bKbye1"))
            assert "SIP/2.0 200 OK" in status_lines(await asyncio.to_thread(phone.collect, 1.0))
            [only] = await voice_interactions(h)
            await h.interaction_in_state(only["id"], "abandoned")
        finally:
            phone.close()


async def _count_voice(h: Harness, count: int) -> bool:
    return len(await voice_interactions(h)) >= count


TORTURE = [
    b"INVITE sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKt1\r\n"
    b"Content-Length: 9999\r\n\r\nshort",  # a body shorter than its Content-Length
    b"OPTIONS sip:cti@127.0.0.1 SIP/2.0\r\nContent-Length: -5\r\n\r\n",  # negative length
    b"OPTIONS sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKt3\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:cti@127.0.0.1>\r\nCall-ID: t3\r\nCSeq: 1 INVITE\r\n\r\n",  # CSeq method differs
    b"OPTIONS sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKt4\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:cti@127.0.0.1>\r\nCSeq: 1 OPTIONS\r\n\r\n",  # no Call-ID
    b"OPTIONS sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:99999;branch=z9hG4bKt5\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:cti@127.0.0.1>\r\nCall-ID: t5\r\nCSeq: 1 OPTIONS\r\n\r\n",  # port too big
    b"OPTIONS sip:cti@127.0.0.1 SIP/7.0\r\nVia: SIP/7.0/UDP 127.0.0.1;branch=z9hG4bKt6\r\n\r\n",  # unknown version
    b"OPTIONS sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKt7\r\nX: "
    + b"a" * 60000 + b"\r\n\r\n",  # one header of 60 kB
    b"OPTIONS sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKt8\r\nFrom: \x00\x00\x00\r\n\r\n",
    b"SIP/2.0 999 Whatever\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKnone\r\nCSeq: 1 INVITE\r\n\r\n",
    b"OPTIONS sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKt10\r\n"
    b"Content-Length: 0\r\nContent-Length: 20\r\n\r\n",  # two different lengths
    b"\xff\xfe\x00INVITE\r\n\r\n",
    b"INVITE\r\n\r\n",
    b"INVITE sip:cti@127.0.0.1 SIP/2.0\r\n" + b"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKt13\r\n" * 500 + b"\r\n",
]
# Valid though unusual (RFC 4475 section 3.1.1's spirit): compact and mixed-case names, folded
# and tab-separated values, an escaped user, an unknown header, no Max-Forwards spacing.
ODD_BUT_VALID = (
    b"OPTIONS sip:%63ti@127.0.0.1 SIP/2.0\r\n"
    b"v:  SIP/2.0/UDP 127.0.0.1:PORT\t;branch=z9hG4bKodd1\r\n"
    b"mAX-fORWARDS:\t70\r\n"
    b"f: \"A \\\"quoted\\\" name\" <sip:odd@127.0.0.1>;tag=odd\r\n"
    b"t: <sip:cti@127.0.0.1>\r\n"
    b"i: odd-but-valid-1\r\n"
    b"CSeq:   8\r\n   OPTIONS\r\n"
    b"X-Unknown-Header: ;;,,;;\r\n"
    b"l: 0\r\n\r\n"
)


async def test_torture_messages_during_a_call_change_nothing(tmp_path: Path, registrar: Registrar) -> None:
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        port = sip_port(h)
        phone, attacker = RawPhone(port), RawPhone(port)
        try:
            phone.send(phone.invite("torture-call@raw", "z9hG4bKcall"))
            answers = await asyncio.to_thread(phone.collect, 1.0)
            tag = to_tag(next(p for p in answers if p.startswith(b"SIP/2.0 200")))
            phone.send(phone.in_dialog("ACK", "torture-call@raw", tag, 1, "z9hG4bKack"))
            [call] = await h.wait_for(lambda: _voice_if(h, 1), what="the call queued")
            endpoint = h.services.connectors.running["sip"].endpoint
            dropped_before = endpoint.dropped

            for packet in TORTURE:
                attacker.send(packet)
            attacker.send(attacker.in_dialog("BYE", "torture-call@raw", "wrong-tag", 2, "z9hG4bKwrongtag"))
            attacker.send(ODD_BUT_VALID.replace(b"PORT", str(attacker.port).encode()))
            replies = status_lines(await asyncio.to_thread(attacker.collect, 1.5))
            assert "SIP/2.0 200 OK" in replies  # the odd-but-valid OPTIONS is answered
            assert "SIP/2.0 481 Call/Transaction Does Not Exist" in replies  # a BYE for no dialog of ours
            assert endpoint.dropped - dropped_before >= len(TORTURE) - 3  # the broken ones are counted and dropped
            assert (await h.admin.get_interaction(call["id"]))["state"] == "queued"  # the call is undisturbed

            phone.send(phone.in_dialog("BYE", "torture-call@raw", tag, 2, "z9hG4bKbye"))
            assert "SIP/2.0 200 OK" in status_lines(await asyncio.to_thread(phone.collect, 1.0))
            await h.interaction_in_state(call["id"], "abandoned")
            assert len(await voice_interactions(h)) == 1  # no torture message started a call
        finally:
            phone.close()
            attacker.close()


async def _voice_if(h: Harness, count: int) -> list[dict[str, Any]] | None:
    found = await voice_interactions(h)
    return found if len(found) >= count else None


def run_sipp(args: list[str], workdir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ensure_sipp(), *args, "-i", "127.0.0.1", "-ci", "127.0.0.1", "-cp", str(free_port()),
                           "-nostdin", "-trace_screen", "-trace_err", "-screen_file", str(workdir / "screen.log")],
                          capture_output=True, text=True, cwd=workdir, timeout=timeout)


async def test_sipp_calls_losing_a_tenth_of_packets_all_complete_once(
        tmp_path: Path, registrar: Registrar) -> None:
    calls = 30
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        result = await asyncio.to_thread(run_sipp, [
            "-sn", "uac", f"127.0.0.1:{sip_port(h)}", "-s", "cti", "-p", str(free_port_pair()), "-m", str(calls),
            "-r", "10", "-d", "300", "-lost", "10", "-recv_timeout", "30000"], tmp_path)
        screen = (tmp_path / "screen.log").read_text(errors="replace")
        assert result.returncode == 0, screen[-2500:]  # every call succeeded despite the losses
        # A call becomes an interaction once the caller confirms it: its ACK, or (the ACK lost) any
        # in-dialog request with our tag, such as its BYE. When SIPp "lost" both its ACK and its BYE
        # (about 1 call in 100), the call was never confirmed on our side: our ACK timeout (64*T1 =
        # 32 s, RFC 3261 13.3.1.4) ends it with a BYE and nothing is stored.
        started = time.monotonic()

        async def over() -> bool:  # all stored calls abandoned: all of them, or past the ACK timeout
            at_least = calls if time.monotonic() - started < 40 else calls - 3
            return await _all_abandoned(h, at_least)

        await h.wait_for(over, timeout=70, what="every call over")
        found = await voice_interactions(h)
        ended = [d for kind, d in await call_events(h) if kind == "call.ended"]
        assert len(ended) == len(found) and len({d["call_id"] for d in ended}) == len(found)  # one each, once


async def _all_abandoned(h: Harness, at_least: int) -> bool:
    found = await voice_interactions(h)
    return len(found) >= at_least and all(i["state"] == "abandoned" for i in found)


async def test_over_tcp_the_connector_registers_and_bridges_a_call_with_audio(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    """transport = "tcp": REGISTER, the INVITE from the registrar, our INVITE to the agent through
    it and the responses travel over TCP; the phones themselves stay on UDP (the registrar
    bridges the transports) and the media is RTP over UDP as always."""
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar, transport="tcp")) as h:
        await registered(h)
        endpoint = h.services.connectors.running["sip"].endpoint
        assert endpoint.contact().endswith(";transport=tcp>") and endpoint.streams.by_peer  # registered over TCP
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
        iid = await call_in_state(h, "offered", what="the call offered to alice")
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(bob_phone.hangup)
        await asyncio.to_thread(alice_phone.wait_call_over)
        await h.interaction_in_state(iid, "wrapup")
        assert len(endpoint.streams.by_peer) >= 2  # our connection to the registrar and the one it opened to us
    assert_heard_each_other(alice_phone, bob_phone)


class LossyEndpoint(SipEndpoint):
    """The server's SIP endpoint on a bad network: a seeded share of what it sends and of what it
    receives is dropped, in both directions, on both legs of every bridged call."""

    def __init__(self, port: int, loss: float, seed: int) -> None:
        super().__init__("127.0.0.1", port)
        self.loss, self.random = loss, random.Random(seed)
        self.lost_in = self.lost_out = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        send = transport.sendto

        def lossy_send(data: bytes, addr: Any = None) -> None:
            if self.random.random() < self.loss:
                self.lost_out += 1
                return
            send(data, addr)

        transport.sendto = lossy_send

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.random.random() < self.loss:
            self.lost_in += 1
            return
        super().datagram_received(data, addr)


async def test_bridged_calls_recover_from_losses_on_both_legs(tmp_path: Path) -> None:
    """SIPp uac -> the B2BUA on our SIP layer (losing 15 % of packets each way) -> SIPp uas. Every
    loss must be recovered by a retransmission: ours (INVITE and BYE: timers A and E; the 200 OK
    until its ACK; ACK again for a retransmitted 200) or SIPp's, which we absorb. (The far end is
    SIPp's uas changed to answer a retransmitted INVITE again, as phones do: the built-in one
    aborts the call when our INVITE comes again because we lost both its 180 and its 200.)"""
    uas_port = free_port_pair()
    uas = subprocess.Popen(  # noqa: ASYNC220 (a background process, not waited on here)
        [ensure_sipp(), "-sf", str(write_scenario(tmp_path)), "-i", "127.0.0.1", "-p", str(uas_port),
         "-ci", "127.0.0.1", "-cp", str(free_port()), "-nostdin", "-trace_err"], cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lossy = LossyEndpoint(free_port_pair(), loss=0.15, seed=4475)
    b2bua = B2bua(lossy.port, uas_port, announce=False, endpoint=lossy)
    await lossy.start()
    try:
        # SIPp has no readiness signal: wait until its socket is bound (a fixed pause was too short on a
        # busy machine, and the first call then met a far end that was not listening yet).
        await asyncio.to_thread(wait_udp_bound, uas_port, what="SIPp's uas")
        await asyncio.sleep(0.2)  # bound is not yet reading: let it reach its scenario loop
        result = await asyncio.to_thread(run_sipp, [
            "-sn", "uac", f"127.0.0.1:{lossy.port}", "-s", "cti", "-p", str(free_port_pair()),
            "-m", "30", "-r", "10", "-d", "300", "-recv_timeout", "60000"], tmp_path)
        screen = (tmp_path / "screen.log").read_text(errors="replace")
        assert b2bua.failed == 0, b2bua.failures
        assert result.returncode == 0, screen[-2500:]
        assert b2bua.bridged == 30
        assert lossy.lost_in > 10 and lossy.lost_out > 10  # the network really was bad
        # A BYE that was lost is sent again (timer E); when SIPp's 200 to it was lost, SIPp (its call
        # over) does not answer again and our hang-up gives up after its 10 s. And when we dropped
        # SIPp's ACK and its BYE, SIPp takes our retransmitted 200 for the INVITE as the answer to
        # its BYE (it does not check CSeq): only our ACK timeout (32 s, then BYE) ends that leg.
        for _ in range(450):
            if b2bua.active == 0:
                break
            await asyncio.sleep(0.1)
        assert b2bua.active == 0  # every bridge was torn down
    finally:
        lossy.close()
        for task in list(b2bua.tasks):
            task.cancel()
        uas.terminate()
        uas.wait(10)
