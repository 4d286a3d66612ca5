"""Voice that survives faults, with the real parts: Kamailio restarted (and forgetting every binding),
the server killed with SIGKILL mid-call and started again, a server stopped with calls up, and TCP
connections held open by a stranger."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from cti.client import CtiClient
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone
from tests.harness import running_server
from tests.processes import ServerProcess
from tests.voice_helpers import call_in_state, registered, server_config

pytestmark = pytest.mark.slow


async def test_after_a_registrar_restart_calls_reach_agents_within_seconds(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        await asyncio.to_thread(registrar.restart)  # Kamailio keeps bindings in memory only: all forgotten
        for phone in (alice_phone, bob_phone):  # (the phones re-register on their own schedule; make it now)
            await asyncio.to_thread(phone.command, "uareg", "60")
        await asyncio.sleep(10.0)
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
        iid = await call_in_state(h, "offered", agent="alice", what="the call 10 s after the restart")
        assert iid
        assert h.services.connector_health["sip"] == "connected"
        await asyncio.to_thread(bob_phone.hangup)


def _sip_toml(registrar: Registrar, **extra: Any) -> str:
    lines = [f'registrar = "127.0.0.1:{registrar.port}"', 'username = "cti"', 'password = "ctipass"',
             *(f"{k} = {v}" for k, v in extra.items())]
    return "[connectors.sip]\n" + "\n".join(lines) + "\n"


async def _wait(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_server_killed_mid_call_ends_that_call_after_its_restart(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    env = {"CTI_SERVER__LEASE_SECONDS": "3"}
    server = ServerProcess(tmp_path, config_text=_sip_toml(registrar), env=env)
    server.start()
    clients: list[CtiClient] = []
    try:
        admin = CtiClient(server.url, server.cli("token", "create", "--role", "admin"))
        clients.append(admin)
        await admin.create_agent("Alice", id="alice", voice_endpoint=alice_phone.uri)
        alice = CtiClient(server.url, (await admin.create_token("agent", agent_id="alice"))["token"])
        clients.append(alice)
        await alice.set_agent_state("alice", "available")
        await _wait(lambda: _healthy(admin), "registered")

        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
        first = await _wait(lambda: _voice(admin, "offered"), "the call offered")
        await alice.accept(first)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await asyncio.sleep(1.0)
        server.kill()  # SIGKILL mid-call: no BYE, no cleanup, the call's media dies with the process
        for phone in (alice_phone, bob_phone):
            with contextlib.suppress(Exception):
                await asyncio.to_thread(phone.hangup)
        server.start()
        restarted = time.monotonic()

        async def ended() -> bool:
            return (await admin.get_interaction(first))["state"] in ("wrapup", "ended")

        await _wait(ended, "the orphaned call ended after the restart", timeout=15.0)
        assert time.monotonic() - restarted < 15.0
        timeline = await admin.timeline((await admin.get_interaction(first))["case_id"])
        call_ended = [e for e in timeline["entries"] if e["type"] == "call.ended"]
        assert len(call_ended) == 1 and call_ended[0]["data"]["outcome"] == "media_lost"
        await alice.wrapup(first, disposition="lost in a crash")

        await _wait(lambda: _healthy(admin), "registered again")
        await asyncio.to_thread(bob_phone.dial, "sip:cti@127.0.0.1")
        second = await _wait(lambda: _voice(admin, "offered"), "the next call offered")
        assert second != first and (await admin.get_interaction(second))["agent_id"] == "alice"
        await alice.accept(second)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await asyncio.to_thread(bob_phone.hangup)
    finally:
        for client in clients:
            await client.close()
        server.stop()


async def _healthy(admin: CtiClient) -> bool:
    return (await admin.readiness()).get("connectors", {}).get("sip") == "connected"


async def _voice(admin: CtiClient, state: str) -> str | None:
    items = (await admin.list_interactions(channel="voice", state=state))["items"]
    return items[0]["id"] if items else None


async def test_a_stopping_server_hangs_up_all_its_calls_at_once(
        tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    """Callers waiting in the queue (hold audio) whose phones no longer answer (stopped), and a
    server told to stop: BYEs go out to all at once and it stops within the bound, not after a
    10 s BYE timeout per call one after another."""
    callers = [await phones(name, 1000) for name in ("bob", "carol", "2001")]
    server = ServerProcess(tmp_path, config_text=_sip_toml(registrar))
    server.start()
    admin = CtiClient(server.url, server.cli("token", "create", "--role", "admin"))
    try:
        await _wait(lambda: _healthy(admin), "registered")
        for caller in callers:
            await asyncio.to_thread(caller.dial, "sip:cti@127.0.0.1")
        await _wait(lambda: _count_queued(admin, len(callers)), "every caller queued")
        for caller in callers:
            assert caller.process is not None
            os.kill(caller.process.pid, signal.SIGSTOP)  # alive, but answering nothing
        started = time.monotonic()
        try:
            assert server.stop() == 0
            assert time.monotonic() - started < 9.0, "BYEs go out together, not one after another"
        finally:
            for caller in callers:
                assert caller.process is not None
                os.kill(caller.process.pid, signal.SIGCONT)
    finally:
        await admin.close()
        server.stop()


async def _count_queued(admin: CtiClient, count: int) -> bool:
    return len((await admin.list_interactions(channel="voice", state="queued"))["items"]) >= count


async def test_tcp_connections_a_stranger_opens_are_bounded(tmp_path: Path, registrar: Registrar) -> None:
    from connectors.sip import stream

    async with running_server(server_config(tmp_path, registrar, transport="tcp")) as h:
        await registered(h)
        port = int(h.services.connectors.running["sip"].endpoint.port)
        opened: list[socket.socket] = []
        try:
            for _ in range(stream.MAX_PER_ADDRESS + 10):
                conn = socket.socket()
                conn.bind(("127.0.0.2", 0))
                conn.connect(("127.0.0.1", port))
                opened.append(conn)
            await asyncio.sleep(0.5)
            alive = 0
            for conn in opened:
                conn.setblocking(False)
                try:
                    alive += conn.recv(1) != b""
                except BlockingIOError:
                    alive += 1  # open, nothing to read
                except OSError:
                    pass
            assert alive <= stream.MAX_PER_ADDRESS, alive
            head = (b"INVITE sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2:5;branch=z9hG4bKbig\r\n"
                    b"Content-Length: 1000000\r\n\r\n")
            big = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.3", 0))
            big.sendall(head + b"x" * 10_000)
            await asyncio.sleep(0.3)
            big.settimeout(2)
            assert big.recv(1) == b"", "a body larger than SIP needs closes the connection at once"
            big.close()
            assert h.services.connector_health["sip"] == "connected"
        finally:
            for conn in opened:
                conn.close()


async def test_idle_tcp_connections_are_closed(tmp_path: Path, registrar: Registrar, monkeypatch: Any) -> None:
    from connectors.sip import stream

    monkeypatch.setattr(stream, "IDLE_SECONDS", 1.5)
    async with running_server(server_config(tmp_path, registrar, transport="tcp", keepalive_seconds=1)) as h:
        await registered(h)
        port = int(h.services.connectors.running["sip"].endpoint.port)
        idle = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) for _ in range(3)]
        try:
            await asyncio.sleep(3.5)
            for conn in idle:
                conn.settimeout(1)
                assert conn.recv(1) == b"", "an idle connection was closed"
            assert h.services.connector_health["sip"] == "connected", "ours carries a REGISTER every second"
        finally:
            for conn in idle:
                conn.close()
