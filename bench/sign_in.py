"""Signing in must not stall the server: the API's latency with and without 20 sign-ins a second.

    .venv/bin/python -m bench.sign_in [--seconds 10] [--rate 20]

A ``cti serve`` process (SQLite FULL). A probe calls ``GET /api/v1/interactions/{id}`` 100 times a
second (open loop, so a stalled loop shows as latency, not as fewer calls) for ``--seconds``,
first alone, then while another client signs in ``--rate`` times a second with a right password
(each sign-in is one argon2id check, about 25 ms of CPU, in a worker thread). Target (issue
18): the probe's p99 stays near its quiet value (the loop is never blocked by hashing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from bench.common import start_server
from cti.client import CtiClient

PASSWORD = "a long enough password"


async def _probe(session: aiohttp.ClientSession, url: str, token: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def one() -> None:
        started = time.perf_counter()
        async with session.get(url, headers=headers) as answer:
            await answer.read()
            assert answer.status == 200, answer.status
        latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(int(seconds * 100)):
        await asyncio.sleep(max(0.0, start + i / 100 - loop.time()))
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    return latencies


async def _sign_ins(url: str, rate: float, seconds: float) -> tuple[int, int]:
    done = failed = 0

    async def one() -> None:
        nonlocal done, failed
        async with aiohttp.ClientSession() as browser, browser.post(
                url + "/api/v1/sessions", json={"login": "bench", "password": PASSWORD}) as answer:
            await answer.read()
            done += 1
            failed += answer.status != 200

    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for i in range(int(seconds * rate)):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    return done, failed


def _summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (f"{name:<34} {len(ordered):5d} calls  p50 {statistics.median(ordered):6.2f} ms  p99 {p99:6.2f} ms  "
            f"max {ordered[-1]:6.2f} ms")


async def run(args: argparse.Namespace) -> None:
    server = start_server()
    token = server.cli("token", "create", "--role", "admin")
    server.start()
    try:
        async with CtiClient(server.url, token) as admin, aiohttp.ClientSession() as session:
            await admin.request("POST", "/api/v1/users", json={"login": "bench", "name": "Bench", "password": PASSWORD,
                                                               "role": "supervisor"})
            stored = await admin.inbound(channel="shop-chat", sender=("email", "b@example.com"), text="hi",
                                         external_id="bench-1")
            url = f"{server.url}/api/v1/interactions/{stored['interaction_id']}"
            await _probe(session, url, token, 1.0)  # warm up
            quiet = await _probe(session, url, token, args.seconds)
            busy, (done, failed) = await asyncio.gather(_probe(session, url, token, args.seconds),
                                                        _sign_ins(server.url, args.rate, args.seconds))
        print(_summary("GET /interactions/{id}, quiet", quiet))
        print(_summary(f"  ... while {args.rate:g} sign-ins/s", busy))
        print(f"sign-ins: {done} answered, {failed} not 200, in {args.seconds:g} s")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
