"""The SIP connector's registration against a real Kamailio: reachable through it, health, recovery."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sip_test_env.kamailio import Registrar
from tests.harness import Harness, make_config, running_server

USERS = {"cti": "ctipass", "alice": "alicepass"}


@pytest.fixture
async def registrar() -> AsyncIterator[Registrar]:
    server = await asyncio.to_thread(Registrar(USERS).start)
    yield server
    await asyncio.to_thread(server.close)


def sip_config(data_dir: Path, registrar: Registrar, **overrides: Any) -> Any:
    settings = {"registrar": f"127.0.0.1:{registrar.port}", "username": "cti", "password": "ctipass",
                "expires": 10, "reconnect_max_seconds": 1.0, "answer_timeout_seconds": 2.0, **overrides}
    return make_config(data_dir, connectors={"sip": settings})


def options_through(registrar: Registrar, user: str = "cti") -> bytes:
    """OPTIONS for sip:user@127.0.0.1 via the registrar, which relays it to the registered contact."""
    return registrar.options(user)


async def health(h: Harness, wanted: str) -> None:
    await h.wait_for(lambda: h.services.connector_health.get("sip") == wanted, timeout=30, what=f"sip {wanted}")


async def test_registers_and_is_reachable_through_the_registrar(tmp_path: Path, registrar: Registrar) -> None:
    assert (await asyncio.to_thread(options_through, registrar)).startswith(b"SIP/2.0 404")  # not yet registered
    async with running_server(sip_config(tmp_path, registrar)) as h:
        await health(h, "connected")
        answer = await asyncio.to_thread(options_through, registrar)
        assert answer.startswith(b"SIP/2.0 200") and b"Server: cti-pivot" in answer
        # Garbage and a hostile packet at the server's SIP port do not disturb it.
        port = h.services.connectors.running["sip"].endpoint.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for junk in (os.urandom(300), b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:99999\r\n\r\n",
                         b"\x00" * 2000, b"SIP/2.0 200 OK\r\n\r\n"):
                sock.sendto(junk, ("127.0.0.1", port))
        assert (await asyncio.to_thread(options_through, registrar)).startswith(b"SIP/2.0 200")
        assert h.services.connectors.running["sip"].endpoint.dropped >= 3
    # An orderly stop unregisters.
    assert (await asyncio.to_thread(options_through, registrar)).startswith(b"SIP/2.0 404")


async def test_wrong_password_shows_bad_credentials(tmp_path: Path, registrar: Registrar) -> None:
    async with running_server(sip_config(tmp_path, registrar, password="wrong")) as h:
        await health(h, "bad_credentials")
        body = await h.admin.readiness()
        assert body["connectors"]["sip"] == "bad_credentials"


async def test_registrar_restart_is_survived(tmp_path: Path, registrar: Registrar) -> None:
    async with running_server(sip_config(tmp_path, registrar)) as h:
        await health(h, "connected")
        await asyncio.to_thread(registrar.stop)
        await health(h, "transient_disconnect")  # the refresh finds nobody answering
        await asyncio.to_thread(registrar.resume)  # same port; registrations were lost with it
        await health(h, "connected")
        assert (await asyncio.to_thread(options_through, registrar)).startswith(b"SIP/2.0 200")
