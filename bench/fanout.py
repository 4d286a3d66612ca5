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
import json
import multiprocessing
import statistics
import time
import uuid
from typing import Any

import aiohttp
import orjson

from bench.common import start_server
from cti.client import CtiClient
from cti.events import iso


def _subscribers(url: str, token: str, count: int, ready: Any, results: Any, seconds: float) -> None:
    async def one(session: aiohttp.ClientSession, out: list[Any]) -> None:
        async with session.ws_connect(url, headers={"Authorization": f"Bearer {token}"},
                                      params={"types": "message.*,interaction.*,case.*,contact.*"}) as ws:
            ready.put(1)
            deadline = time.time() + seconds + 15
            while time.time() < deadline:
                try:
                    message = await asyncio.wait_for(ws.receive(), 3)
                except TimeoutError:
                    break
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                out.append((time.time(), message.data))  # parsed after the run, to keep up

    async def main() -> None:
        outs: list[list[Any]] = [[] for _ in range(count)]
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(one(session, out) for out in outs))
        parsed = []
        for out in outs:
            rows = []
            for arrived, data in out:
                event = orjson.loads(data)
                rows.append((event["seq"], arrived - _parse(event["ts"])))
            parsed.append(rows)
        results.put(json.dumps(parsed))

    asyncio.run(main())


def _parse(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


async def _produce(url: str, token: str, rate_events: float, seconds: float) -> int:
    per_second = rate_events / 5  # an inbound message makes five events
    prefix = uuid.uuid4().hex[:8]
    sent = 0
    async with CtiClient(url, token) as client:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await client.inbound(channel="shop-chat", sender=("email", f"{prefix}{sent}@example.com"), text="x",
                                 external_id=f"{prefix}-{sent}")
            sent += 1
            delay = t0 + sent / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    return sent


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
        ready: Any = multiprocessing.Queue()
        results: Any = multiprocessing.Queue()
        ws_url = server.url.replace("http", "ws") + "/api/v1/events"
        proc = multiprocessing.Process(target=_subscribers, args=(ws_url, token, args.subscribers, ready, results,
                                                                  args.seconds))
        proc.start()
        for _ in range(args.subscribers):
            ready.get(timeout=60)
        sent = asyncio.run(_produce(server.url, token, args.events_per_second, args.seconds))
        outs = json.loads(results.get(timeout=120))
        proc.join(30)
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
