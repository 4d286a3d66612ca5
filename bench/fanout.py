"""Event fan-out: events per second to many WebSocket subscribers, delivery latency and loss.

    .venv/bin/python -m bench.fanout [--subscribers 200] [--events-per-second 400] [--seconds 10]

A separate process holds the subscribers (so the server's core is measured, not the
client's). Events are produced by inbound messages (each makes five events). Latency is the
arrival time at the subscriber minus the event's server timestamp (stamped when its write op
runs, so it includes the commit). Loss: every subscriber must see every seq, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import statistics
import time
import uuid
from typing import Any

from bench.common import start_server
from cti.client import CtiClient
from cti.events import iso

HEAD = re.compile(rb'^\{"seq":(\d+),"type":"[^"]*","ts":"([^"]+)"')


class _RawSubscriber(asyncio.Protocol):
    """A WebSocket reader that splits frames and keeps (arrival, seq, ts) only.

    aiohttp's client costs more per message than the server does to send it, so with it the
    benchmark would measure the client. This one does the handshake, splits frames (server frames
    are unmasked) and reads seq and ts from the head of each event (the server writes them first)."""

    def __init__(self, request: bytes, ready: asyncio.Future[None]) -> None:
        self.request, self.ready = request, ready
        self.seen: list[tuple[float, int, bytes]] = []
        self._buffer = bytearray()
        self.upgraded = False

    def connection_made(self, transport: Any) -> None:
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        self._buffer += data
        if not self.upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(self._buffer[:end]).decode(errors="replace")))
                return
            del self._buffer[:end + 4]
            self.upgraded = True
            self.ready.set_result(None)
        buffer, pos = self._buffer, 0
        while len(buffer) - pos >= 2:
            size, offset = buffer[pos + 1] & 0x7F, 2
            if size == 126:
                size, offset = int.from_bytes(buffer[pos + 2:pos + 4], "big"), 4
            elif size == 127:
                size, offset = int.from_bytes(buffer[pos + 2:pos + 10], "big"), 10
            if len(buffer) - pos < offset + size:
                break
            if buffer[pos] & 0x0F == 0x1:
                match = HEAD.match(bytes(buffer[pos + offset:pos + offset + 120]))
                if match:
                    self.seen.append((arrived, int(match.group(1)), match.group(2)))
            pos += offset + size
        del buffer[:pos]


def _subscribers(port: int, token: str, count: int, ready: Any, out_path: str, seconds: float) -> None:
    request = (f"GET /api/v1/events?types=message.*,interaction.*,case.*,contact.* HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode()

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        protocols = []
        for _ in range(count):
            upgraded: asyncio.Future[None] = loop.create_future()
            _, protocol = await loop.create_connection(lambda f=upgraded: _RawSubscriber(request, f), "127.0.0.1", port)
            await upgraded
            protocols.append(protocol)
            ready.put(1)
        await asyncio.sleep(seconds + 5)
        return [[(seq, arrived - _parse(ts.decode())) for arrived, seq, ts in p.seen] for p in protocols]

    parsed = asyncio.run(main())
    with open(out_path, "w") as out:
        json.dump(parsed, out)


def _parse(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


async def _produce(url: str, token: str, rate_events: float, seconds: float) -> int:
    """Send inbound messages on a fixed schedule (open loop: a slow answer does not slow the rate)."""
    per_second = rate_events / 5  # an inbound message makes five events
    prefix = uuid.uuid4().hex[:8]
    total = int(per_second * seconds)
    async with CtiClient(url, token) as client:
        t0 = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = t0 + i / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(client.inbound(
                channel="shop-chat", sender=("email", f"{prefix}{i}@example.com"), text="x",
                external_id=f"{prefix}-{i}")))
        await asyncio.gather(*tasks)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events-per-second", type=float, default=400)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    assert iso(0.0)  # the event timestamps are ISO 8601 with milliseconds

    server = start_server()
    token = server.cli("token", "create", "--role", "admin")
    server.start()
    try:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, nothing inherited from this one
        ready: Any = context.Queue()
        out_path = str(server.workdir / "subscribers.json")
        proc = context.Process(target=_subscribers, args=(server.port, token, args.subscribers, ready, out_path,
                                                                  args.seconds))
        proc.start()
        for _ in range(args.subscribers):
            ready.get(timeout=60)
        sent = asyncio.run(_produce(server.url, token, args.events_per_second, args.seconds))
        proc.join(300)
        with open(out_path) as f:
            outs = json.load(f)
        expected = sent * 5
        latencies = sorted(lat * 1000 for out in outs for _, lat in out)
        complete = sum(1 for out in outs if [s for s, _ in out] == sorted({s for s, _ in out}) and len(out) == expected)
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        print(f"{args.subscribers} subscribers, {sent * 5 / args.seconds:.0f} events/s for {args.seconds:.0f} s "
              f"({expected} events each, {len(latencies)} deliveries)")
        print(f"delivery latency: p50 {statistics.median(latencies):.1f} ms  p99 {p99:.1f} ms  "
              f"max {latencies[-1]:.1f} ms  (target p99 < 50 ms)")
        print(f"subscribers that got every event in order: {complete}/{args.subscribers} "
              f"(loss: {expected * args.subscribers - len(latencies)} deliveries)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
