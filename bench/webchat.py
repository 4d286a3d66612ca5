"""Web chat at scale: 2,000 open widget connections, visitors' messages at 100/s, each timed to the
agent's ``message.received`` event (target: p99 < 200 ms), and the widget script's size.

    .venv/bin/python -m bench.webchat [--visitors 2000] [--rate 100] [--seconds 20]

``cti serve`` runs in its own process (SQLite, synchronous=FULL). This process starts every
visitor's conversation (``POST /chat/v1/sessions`` with an allowed Origin), opens one WebSocket
per visitor and waits for each one's ``ready``, then sends messages open-loop at the rate from
visitors picked at random (each visitor stays under its own 30 a minute). A supervisor follows
``GET /api/v1/events`` over WebSocket; each message is stamped when the visitor's socket writes it
and when its event arrives, so the figure covers the widget's socket, the rate limits, ingest
(durable), routing's read and the event stream. The per-address limits are raised for the run
(every visitor here comes from 127.0.0.1). At the end it checks that every message was stored
once, every socket is still open, and each visitor's own echo arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from cti.client import CtiClient
from tests.processes import ServerProcess

ORIGIN = "https://shop.example.com"
CONFIG = f"""
[channels.webchat]
allowed_origins = ["{ORIGIN}"]
address_messages_per_minute = 100000
sessions_per_hour_per_address = 100000
[pivot.opening_hours]
mon = "00:00-24:00"
tue = "00:00-24:00"
wed = "00:00-24:00"
thu = "00:00-24:00"
fri = "00:00-24:00"
sat = "00:00-24:00"
sun = "00:00-24:00"
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(server: ServerProcess, token: str, visitors: int, rate: float, seconds: float) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(server.url + "/chat/widget.js", headers={"Accept-Encoding": "gzip"},
                               auto_decompress=False) as response:
            gzipped = len(await response.read())
        async with session.get(server.url + "/chat/widget.js", headers={"Accept-Encoding": "identity"}) as response:
            plain = len(await response.read())
        print(f"widget.js: {plain / 1024:.1f} kB, {gzipped / 1024:.1f} kB gzipped")

        started = time.perf_counter()
        semaphore = asyncio.Semaphore(50)

        async def start() -> str:
            async with semaphore, session.post(server.url + "/chat/v1/sessions", json={},
                                               headers={"Origin": ORIGIN}) as answer:
                assert answer.status == 201, await answer.text()
                return str((await answer.json())["visitor_token"])

        tokens = await asyncio.gather(*(start() for _ in range(visitors)))
        echoes: dict[str, float] = {}
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        readers: list[asyncio.Task[None]] = []

        async def reader(ws: aiohttp.ClientWebSocketResponse, ready: asyncio.Event) -> None:
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame["type"] == "ready":
                    ready.set()
                elif frame["type"] == "message" and frame.get("client_id") in sent_at:
                    echoes[frame["client_id"]] = time.perf_counter() - sent_at[frame["client_id"]]

        sent_at: dict[str, float] = {}

        async def connect(secret: str) -> None:
            async with semaphore:
                ws = await session.ws_connect(f"{server.url}/chat/v1/ws?token={secret}", headers={"Origin": ORIGIN},
                                              heartbeat=None)
                ready = asyncio.Event()
                sockets.append(ws)
                readers.append(asyncio.create_task(reader(ws, ready)))
                await asyncio.wait_for(ready.wait(), 30)

        await asyncio.gather(*(connect(secret) for secret in tokens))
        print(f"{visitors} conversations started and their sockets open in {time.perf_counter() - started:.1f} s")

        latencies: list[float] = []
        total = int(rate * seconds)
        done = asyncio.Event()
        async with CtiClient(server.url, token) as supervisor:
            async def follow() -> None:
                async for event in supervisor.events(types=["message.received"]):
                    text = event["data"]["message"]["text"]
                    if text in sent_at:
                        latencies.append(time.perf_counter() - sent_at[text])
                        if len(latencies) == total:
                            done.set()
                            return

            follower = asyncio.create_task(follow())
            await asyncio.sleep(1.0)
            begin = time.perf_counter()
            for n in range(total):
                target = begin + n / rate
                await asyncio.sleep(max(0.0, target - time.perf_counter()))
                ws = sockets[random.randrange(len(sockets))]
                key = f"m{n}"
                sent_at[key] = time.perf_counter()
                await ws.send_str(json.dumps({"type": "message", "text": key, "client_id": key}))
            await asyncio.wait_for(done.wait(), 60)
            follower.cancel()
        await asyncio.sleep(1.0)
        ms = [x * 1000 for x in latencies]
        echo_ms = [x * 1000 for x in echoes.values()]
        still_open = sum(1 for ws in sockets if not ws.closed)
        print(f"{len(ms)} messages at {rate:.0f}/s from {visitors} open widgets -> the agent's event: "
              f"p50 {statistics.median(ms):.1f} ms  p90 {pct(ms, 0.9):.1f} ms  p99 {pct(ms, 0.99):.1f} ms  "
              f"max {max(ms):.1f} ms (target p99 < 200 ms)")
        print(f"each visitor's own echo: {len(echo_ms)} of {total}, p50 {statistics.median(echo_ms):.1f} ms  "
              f"p99 {pct(echo_ms, 0.99):.1f} ms; sockets still open: {still_open} of {visitors}")
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cti-bench-webchat-"))
    server = ServerProcess(workdir, config_text=CONFIG, node_id="bench")
    server.start()
    try:
        token = server.cli("token", "create", "--role", "supervisor").strip().split()[-1]
        asyncio.run(run(server, token, args.visitors, args.rate, args.seconds))
        with sqlite3.connect(workdir / "data" / "cti.db") as db:
            stored = db.execute("select count(*), count(distinct external_id) from messages "
                                "where channel = 'webchat' and direction = 'inbound'").fetchone()
        print(f"stored: {stored[0]} messages ({stored[1]} distinct) of {int(args.rate * args.seconds)} sent")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
