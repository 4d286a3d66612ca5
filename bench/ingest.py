"""Inbound ingest and read-route throughput, against a bare aiohttp endpoint in the same run.

    .venv/bin/python -m bench.ingest [--seconds 20] [--connections 32]

Prints: the bare 'hello' rate; POST /api/v1/inbound rate with p50/p99 (each request creates a
contact, case, interaction, message and five events, durable on SQLite with synchronous=FULL)
and how many were stored; GET /api/v1/interactions/{id} rate; and both ratios to the bare rate.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import urllib.request

from bench.common import BareHello, run_wrk, start_server

INBOUND_LUA = """
local counter = 0
local prefix = tostring(math.random(1, 1e9))
request = function()
  counter = counter + 1
  local id = prefix .. "-" .. counter
  local body = '{"channel":"shop-chat","from":{"kind":"email","value":"c' .. id .. '@example.com"},' ..
               '"text":"my router died","external_id":"' .. id .. '"}'
  return wrk.format("POST", "/api/v1/inbound", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer TOKEN"}, body)
end
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    bare = BareHello()
    server = start_server()
    token = server.cli("token", "create", "--role", "admin")
    server.start()
    try:
        hello = run_wrk(bare.url, seconds=args.seconds, connections=args.connections)
        print(f"bare aiohttp hello:      {hello['rps']:8.0f} req/s  p50 {hello['p50_ms']:.2f} ms  "
              f"p99 {hello['p99_ms']:.2f} ms")

        ingest = run_wrk(server.url + "/api/v1/inbound", seconds=args.seconds, connections=args.connections,
                         script=INBOUND_LUA.replace("TOKEN", token))
        db = sqlite3.connect(server.workdir / "data" / "cti.db")
        stored = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        print(f"POST /api/v1/inbound:    {ingest['rps']:8.0f} msg/s  p50 {ingest['p50_ms']:.2f} ms  "
              f"p99 {ingest['p99_ms']:.2f} ms  ({ingest['requests']:.0f} requests, {ingest['non_2xx']:.0f} non-2xx,"
              f" socket errors: {ingest['socket_errors']}; {stored} messages and {events} events stored)")
        print(f"  ratio to bare hello:   {ingest['rps'] / hello['rps']:.2f}")

        request = urllib.request.Request(server.url + "/api/v1/interactions?limit=1",
                                         headers={"Authorization": f"Bearer {token}"})
        iid = json.loads(urllib.request.urlopen(request).read())["items"][0]["id"]
        read = run_wrk(f"{server.url}/api/v1/interactions/{iid}", seconds=args.seconds,
                       connections=args.connections, headers={"Authorization": f"Bearer {token}"})
        print(f"GET /interactions/{{id}}: {read['rps']:8.0f} req/s  p50 {read['p50_ms']:.2f} ms  "
              f"p99 {read['p99_ms']:.2f} ms  ({read['non_2xx']:.0f} non-2xx)")
        print(f"  ratio to bare hello:   {read['rps'] / hello['rps']:.2f}  (target 0.40)")
    finally:
        server.stop()
        bare.stop()


if __name__ == "__main__":
    main()
