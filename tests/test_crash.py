"""Nothing acknowledged is lost: SIGKILL in the middle of a burst; SIGTERM drains in-flight requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from cti.client import CtiApiError, CtiClient
from tests.processes import SHOP_CHAT_TOML, ServerProcess

pytestmark = pytest.mark.slow


async def _burst(client: CtiClient, prefix: str, total: int, acked: list[str], stop_after: int,
                 on_threshold: asyncio.Event) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            external_id = f"{prefix}-{i}"
            try:
                await client.inbound(channel="shop-chat", sender=("email", f"{prefix}{i}@example.com"),
                                     text=f"message {i}", external_id=external_id)
            except (TimeoutError, aiohttp.ClientError, CtiApiError, OSError):
                continue  # not acknowledged: the server promised nothing
            acked.append(external_id)
            if len(acked) >= stop_after:
                on_threshold.set()

    await asyncio.gather(*(worker() for _ in range(16)))


async def _all_stored(node: ServerProcess, token: str, prefix: str, acked: list[str]) -> None:
    """Re-sending each acknowledged message must find it stored (duplicate: true)."""
    async with CtiClient(node.url, token) as client:
        for external_id in acked:
            i = external_id.rsplit("-", 1)[1]
            again = await client.inbound(channel="shop-chat", sender=("email", f"{prefix}{i}@example.com"),
                                         text=f"message {i}", external_id=external_id)
            assert again["duplicate"] is True, f"{external_id} was acknowledged but lost"


def _started(tmp_path: Path) -> tuple[ServerProcess, str]:
    node = ServerProcess(tmp_path, config_text=SHOP_CHAT_TOML)
    token = node.cli("token", "create", "--role", "admin")
    node.start()
    return node, token


async def test_sigkill_mid_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    node, token = _started(tmp_path)
    acked: list[str] = []
    threshold = asyncio.Event()
    async with CtiClient(node.url, token, timeout=5) as client:
        burst = asyncio.create_task(_burst(client, "k", 3000, acked, 300, threshold))
        await asyncio.wait_for(threshold.wait(), 60)
        node.kill()
        await asyncio.wait_for(burst, 60)
    assert 300 <= len(acked) < 3000, "the kill landed mid-burst"
    node.start()
    try:
        await _all_stored(node, token, "k", acked)
    finally:
        node.stop()


async def test_sigterm_drains_and_exits_cleanly(tmp_path: Path) -> None:
    node, token = _started(tmp_path)
    acked: list[str] = []
    threshold = asyncio.Event()
    async with CtiClient(node.url, token, timeout=5) as client:
        burst = asyncio.create_task(_burst(client, "t", 2000, acked, 200, threshold))
        await asyncio.wait_for(threshold.wait(), 60)
        assert node.process is not None
        node.process.terminate()
        await asyncio.wait_for(burst, 60)
        code = await asyncio.to_thread(node.process.wait, 30)
    assert code == 0, node.log.read_text()[-3000:]
    assert "unhandled error" not in node.log.read_text()
    node.start()
    try:
        await _all_stored(node, token, "t", acked)
    finally:
        node.stop()
