"""XMPP round trip: a customer's chat message to the ``message.received`` event (target p99 < 200 ms).

    .venv/bin/python -m bench.xmpp_latency [--messages 500] [--interval 0.02]

Real Prosody on loopback, ``cti serve`` in its own process with the XMPP connector, a customer
logged in with slixmpp, and an admin following ``GET /api/v1/events`` over WebSocket. Each
message is stamped when the customer's client writes it and when its event arrives at the
WebSocket client, so the figure covers Prosody, the connector, ingest (durable on SQLite) and
the event stream. Messages are sent open-loop at a fixed interval from 20 customers' worth of
conversation (one account, as a busy customer would).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from cti.client import CtiClient
from sip_test_env.chat_client import ChatCustomer
from sip_test_env.xmpp import XmppServer
from tests.processes import ServerProcess


async def measure(server: ServerProcess, xmpp: XmppServer, token: str, count: int, interval: float) -> list[float]:
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    async with CtiClient(server.url, token) as admin:
        await admin.health()

        async def follow() -> None:
            async for event in admin.events(types=["message.received"]):
                text = event["data"]["message"]["text"]
                if text in sent_at:
                    latencies.append(time.perf_counter() - sent_at.pop(text))
                    if len(latencies) == count:
                        done.set()
                        return

        follower = asyncio.get_running_loop().create_task(follow())
        async with ChatCustomer("customer@localhost", "customerpass", xmpp.port) as customer:
            customer.say("support@localhost", "warm-up")
            await asyncio.sleep(1.0)
            for n in range(count):
                text = f"bench message {n}"
                sent_at[text] = time.perf_counter()
                customer.say("support@localhost", text)
                await asyncio.sleep(interval)
            await asyncio.wait_for(done.wait(), 60)
        follower.cancel()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    xmpp = XmppServer().start()
    server: ServerProcess | None = None
    try:
        workdir = Path(tempfile.mkdtemp(prefix="cti-bench-xmpp-"))
        config = (f'[connectors.xmpp]\njid = "support@localhost"\npassword = "supportpass"\nhost = "127.0.0.1"\n'
                  f'port = {xmpp.port}\ntls = "none"\n')
        server = ServerProcess(workdir, config_text=config, node_id="bench")
        server.start()
        token = server.cli("token", "create", "--role", "admin").strip().split()[-1]
        deadline = time.monotonic() + 20
        while '"xmpp":"connected"' not in _readyz(server).replace(" ", "") and time.monotonic() < deadline:
            time.sleep(0.1)
        latencies = asyncio.run(measure(server, xmpp, token, args.messages, args.interval))
        ms = sorted(x * 1000 for x in latencies)
        p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
        print(f"xmpp inbound -> message.received over WebSocket: {len(ms)} messages at "
              f"{1 / args.interval:.0f}/s: p50 {statistics.median(ms):.1f} ms  p90 {p(0.90):.1f} ms  "
              f"p99 {p(0.99):.1f} ms  max {ms[-1]:.1f} ms (target p99 < 200 ms)")
    finally:
        if server is not None:
            server.stop()
        xmpp.stop()


def _readyz(server: ServerProcess) -> str:
    import urllib.request

    with urllib.request.urlopen(server.url + "/readyz", timeout=2) as response:
        return response.read().decode()


if __name__ == "__main__":
    main()
