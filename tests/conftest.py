"""Shared fixtures: a running server on SQLite, and a real PostgreSQL when the machine has one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sip_test_env.emulators.x import XEmulator
from tests.harness import Harness, make_config, running_server
from tests.pg import PostgresServer, find_postgres_bin

CUSTOM_CHANNELS = {"custom": [
    {"name": "shop-chat", "outbound_url": "http://127.0.0.1:9/unused", "secret": "shop-secret-0123456789"},
    {"name": "sms-gw", "outbound_url": "http://127.0.0.1:9/unused", "secret": "sms-secret-0123456789",
     "capacity_class": "social"},
]}


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """A server on SQLite with two custom channels and the default policy."""
    async with running_server(make_config(tmp_path, channels=CUSTOM_CHANNELS)) as h:
        yield h


@pytest.fixture
async def x() -> AsyncIterator[XEmulator]:
    """The X emulator (signed webhooks, the v2 API), started and stopped around a test."""
    emulator = XEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture(scope="session")
def postgres() -> Any:
    """A real PostgreSQL server for the session (Debian's package; .ci/run installs it)."""
    if find_postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (run the README's test command, which installs it)")
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres: Any) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    return postgres.create_database()


@pytest.fixture
async def phones(registrar: Any) -> AsyncIterator[Any]:
    """Start baresip phones on the test module's registrar (password "<name>pass"); all are closed
    afterwards, including one whose start failed half-way."""
    import asyncio

    from sip_test_env.phones import Phone

    started: list[Phone] = []

    async def make(name: str, tone: float, *, auto_answer: bool = True) -> Phone:
        phone = Phone(name, f"{name}pass", registrar.port, tone_hz=tone, auto_answer=auto_answer)
        started.append(phone)
        await asyncio.to_thread(phone.start)
        await asyncio.to_thread(phone.wait_log, "200 OK")  # registered
        return phone

    yield make
    for phone in started:
        await asyncio.to_thread(phone.close)


@pytest.fixture
async def registrar() -> AsyncIterator[Any]:
    """Kamailio with the voice tests' users, challenging INVITEs with 407 as RFC 3261 proxies do
    (modules that need another registrar define their own fixture of this name)."""
    import asyncio

    from sip_test_env.kamailio import Registrar
    from tests.voice_helpers import USERS

    server = await asyncio.to_thread(Registrar(USERS, invite_auth="proxy").start)
    yield server
    await asyncio.to_thread(server.close)


@pytest.fixture
async def agent_and_customer(phones: Any) -> tuple[Any, Any]:
    """Alice's desk phone (440 Hz) and Bob the customer's phone (1000 Hz), both auto-answering."""
    return await phones("alice", 440), await phones("bob", 1000)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def shop() -> AsyncIterator[Any]:
    """A custom channel's backend (receives the signed replies) for the pivot tests' shop-chat."""
    from tests.pivot_helpers import SHOP_SECRET
    from tests.receiver import Receiver

    receiver = Receiver(SHOP_SECRET)
    await receiver.start()
    yield receiver
    await receiver.stop()



AUDIO_MARKERS = ("registrar", "sipp", "Phone(", "RTCPeerConnection", "tone_wav")
BROWSER_MARKERS = ("playwright", "browser: Any")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """With pytest-xdist (``./dev test`` runs two workers), the tests that carry real-time audio stay
    together on one worker, one at a time, and so do the tests that drive Chromium: never two calls'
    audio, or two browsers, at once on a two-core machine. Everything else (API, database, protocol
    tests) is spread over both workers."""
    groups: dict[str, str | None] = {}
    for item in items:
        path = str(item.path)
        if path not in groups:
            source = Path(path).read_text(encoding="utf-8")
            groups[path] = ("audio" if any(m in source for m in AUDIO_MARKERS)
                            else "browser" if any(m in source for m in BROWSER_MARKERS) else None)
        if groups[path] is not None:
            item.add_marker(pytest.mark.xdist_group(groups[path]))
