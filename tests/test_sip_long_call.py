"""A call longer than 90 seconds, with hostile packets at the server's SIP port throughout.

pyVoIP's calls dropped at about 32 s (its ACK to the 200 OK carried a fresh To tag, so the
callee kept retransmitting and gave up); this call must outlive that by far, keep audio both
ways to the end, and shrug off garbage and RFC 4475-style bad messages sent while it runs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency, recording_seconds
from tests.harness import make_config, running_server
from tests.voice_helpers import call_in_state

pytestmark = pytest.mark.slow
HOSTILE = [
    b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:99999;branch=z9hG4bKbad\r\n\r\n",
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nCSeq: 1 INVITE\r\n\r\n",
    b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
    b"BYE sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
    b"To: <sip:cti@127.0.0.1>;tag=2\r\nCall-ID: not-a-call\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
]


@pytest.fixture
async def registrar() -> Any:
    server = await asyncio.to_thread(Registrar({"cti": "ctipass", "alice": "alicepass", "bob": "bobpass"}).start)
    yield server
    await asyncio.to_thread(server.close)


async def test_a_95_second_call_survives_with_audio_both_ways_under_hostile_packets(
        tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    alice_phone, bob_phone = await phones("alice", 440), await phones("bob", 1000)
    config = make_config(tmp_path, connectors={"sip": {
        "registrar": f"127.0.0.1:{registrar.port}", "username": "cti", "password": "ctipass"}})
    async with running_server(config) as h:
        await h.wait_for(lambda: h.services.connector_health.get("sip") == "connected", what="registered")
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")

        iid = await call_in_state(h, "offered", what="the call offered")
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        started = time.monotonic()
        sip_port = h.services.connectors.running["sip"].endpoint.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while time.monotonic() - started < 95:
                for packet in (*HOSTILE, os.urandom(200)):
                    sock.sendto(packet, ("127.0.0.1", sip_port))
                await asyncio.sleep(5)
        for p in (alice_phone, bob_phone):
            assert "session closed" not in p.log() and "terminated (duration" not in p.log(), p.log()[-800:]
        assert (await h.admin.get_interaction(iid))["state"] == "active"
        await asyncio.to_thread(bob_phone.hangup)
        await asyncio.to_thread(alice_phone.wait_call_over)
        await h.interaction_in_state(iid, "wrapup")
    # The last seconds of the call still carried audio both ways.
    for phone, expected in ((alice_phone, 1000), (bob_phone, 440)):
        [heard] = [r for r in phone.recordings() if r.name.endswith("-dec.wav")]
        length = recording_seconds(heard)
        assert length > 90, length
        assert abs(dominant_frequency(heard, skip_seconds=length - 6, until_seconds=length - 1) - expected) < 20
