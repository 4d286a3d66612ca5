"""Routing offer latency with 500 agents and 10,000 waiting interactions.

    .venv/bin/python -m bench.routing [--agents 500] [--waiting 10000] [--arrivals 1000] [--rate 100]

Setup: 500 available agents (chat capacity 3) and 10,000 interactions waiting in a 'backlog'
queue whose skill no agent has, so the router holds them all in its view and walks them on
every full pass. Then new interactions arrive at a steady rate in the default queue. Latency is
queued -> offered from the two events' server timestamps (the queued event is stamped when
the inbound op runs, the offered event when the offer op runs), read from the event log.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import time
import uuid

from bench.common import start_server
from cti.client import CtiClient

POLICY = """
[routing]
default_capacity = { chat = 3 }
[[routing.queues]]
name = "default"
channels = ["*"]
[[routing.queues]]
name = "backlog"
channels = []
skills = { backlog = 1 }
"""


async def _fill(client: CtiClient, n: int, queue: str, concurrency: int = 32) -> None:
    prefix = uuid.uuid4().hex[:8]
    pending = iter(range(n))

    async def worker() -> None:
        for i in pending:
            await client.inbound(channel="shop-chat", sender=("email", f"{prefix}{i}@example.com"), text="x",
                                 external_id=f"{prefix}-{i}", queue=queue)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run(args: argparse.Namespace) -> None:
    server = start_server(POLICY)
    token = server.cli("token", "create", "--role", "admin")
    server.start()
    try:
        async with CtiClient(server.url, token) as client:
            started = time.perf_counter()
            await _fill(client, args.waiting, "backlog")
            print(f"{args.waiting} waiting interactions stored in {time.perf_counter() - started:.1f} s")
            for i in range(args.agents):
                await client.create_agent(f"Agent {i}", id=f"a{i}")
                await client.set_agent_state(f"a{i}", "available")
            print(f"{args.agents} agents available")
            prefix = uuid.uuid4().hex[:8]
            interval = 1.0 / args.rate
            t0 = time.perf_counter()
            for i in range(args.arrivals):
                await client.inbound(channel="shop-chat", sender=("email", f"{prefix}{i}@example.com"), text="x",
                                     external_id=f"{prefix}-{i}")
                delay = t0 + (i + 1) * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.sleep(2.0)
        db = sqlite3.connect(server.workdir / "data" / "cti.db")
        rows = db.execute("""
            SELECT q.ts, o.ts FROM events q JOIN events o ON o.interaction_id = q.interaction_id
            WHERE q.type = 'interaction.queued' AND o.type = 'interaction.offered' AND q.queue = 'default'
        """).fetchall()
        latencies = sorted((o - q) * 1000 for q, o in rows)
        waiting = db.execute("SELECT count(*) FROM interactions WHERE state = 'queued'").fetchone()[0]
        if len(latencies) < args.arrivals:
            print(f"WARNING: only {len(latencies)} of {args.arrivals} arrivals were offered")
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        print(f"offer latency (queued -> offered), {len(latencies)} offers at {args.rate}/s with {args.agents} agents "
              f"and {waiting} still waiting: p50 {statistics.median(latencies):.2f} ms  p99 {p99:.2f} ms  "
              f"max {latencies[-1]:.2f} ms  (target p99 < 20 ms)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--arrivals", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
