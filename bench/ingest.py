"""Inbound ingest and read-route throughput, against a bare aiohttp endpoint in the same run.

    .venv/bin/python -m bench.ingest [--seconds 10] [--rounds 3] [--connections 32]

Each round runs the bare 'hello' endpoint, then the route, back to back, and the ratio is
taken within the round (this machine's speed drifts by tens of percent between minutes);
the figures printed are the medians over the rounds. Ingest: POST /api/v1/inbound, each
request creating a contact, case, interaction, message and five events, durable on SQLite
(synchronous=FULL). Read: GET /api/v1/interactions/{id}, twice: the same interaction on
every request (after the first, answered from the rendering kept for the row's version, which
the read still checks against the database), and a different one on every request, going round
more interactions than are kept, so every read reads and renders the row.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import urllib.request
import uuid
from typing import Any

from bench.common import BareHello, run_wrk, start_server

INBOUND_LUA = """
local counter = 0
local prefix = "PREFIX"
request = function()
  counter = counter + 1
  local id = prefix .. "-" .. counter
  local body = '{"channel":"shop-chat","from":{"kind":"email","value":"c' .. id .. '@example.com"},' ..
               '"text":"my router died","external_id":"' .. id .. '"}'
  return wrk.format("POST", "/api/v1/inbound", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer TOKEN"}, body)
end
"""


SPREAD_READS_LUA = """
local ids = {IDS}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/api/v1/interactions/" .. ids[(counter % #ids) + 1],
                    {["Authorization"] = "Bearer TOKEN"})
end
"""
SPREAD_READ_IDS = 20_000  # twice the renderings a server keeps (cti/api/rendered.py)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _report(name: str, runs: list[dict[str, Any]], bases: list[dict[str, Any]], unit: str) -> None:
    ratios = [r["rps"] / b["rps"] for r, b in zip(runs, bases, strict=True)]
    print(f"{name:26s} {_median(runs, 'rps'):8.0f} {unit}  p50 {_median(runs, 'p50_ms'):6.2f} ms  "
          f"p99 {_median(runs, 'p99_ms'):6.2f} ms  (worst p99 {max(r['p99_ms'] for r in runs):.2f} ms; "
          f"non-2xx {sum(r['non_2xx'] for r in runs):.0f})")
    print(f"{'':26s} ratio to bare hello: median {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    bare = BareHello()
    server = start_server()
    token = server.cli("token", "create", "--role", "admin")
    server.start()
    wrk = {"seconds": args.seconds, "connections": args.connections}
    try:
        hello_i, ingest = [], []
        for _ in range(args.rounds):
            hello_i.append(run_wrk(bare.url, **wrk))
            # a fresh id prefix each round: every request must create new records, never hit a duplicate
            script = INBOUND_LUA.replace("TOKEN", token).replace("PREFIX", uuid.uuid4().hex)
            ingest.append(run_wrk(server.url + "/api/v1/inbound", script=script, **wrk))
        db = sqlite3.connect(server.workdir / "data" / "cti.db")
        stored = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        answered = sum(r["requests"] for r in ingest)
        if stored < answered:
            raise SystemExit(f"only {stored} messages stored for {answered:.0f} answered requests")

        request = urllib.request.Request(server.url + "/api/v1/interactions?limit=1",
                                         headers={"Authorization": f"Bearer {token}"})
        iid = json.loads(urllib.request.urlopen(request).read())["items"][0]["id"]
        ids = [r[0] for r in db.execute("SELECT id FROM interactions ORDER BY rowid LIMIT ?", (SPREAD_READ_IDS,))]
        spread_script = SPREAD_READS_LUA.replace("IDS", ",".join(f'"{i}"' for i in ids)).replace("TOKEN", token)
        hello_r, read, spread = [], [], []
        for _ in range(args.rounds):
            hello_r.append(run_wrk(bare.url, **wrk))
            read.append(run_wrk(f"{server.url}/api/v1/interactions/{iid}",
                                headers={"Authorization": f"Bearer {token}"}, **wrk))
            spread.append(run_wrk(f"{server.url}/api/v1/interactions/x", script=spread_script, **wrk))

        print(f"bare aiohttp hello         {_median(hello_i + hello_r, 'rps'):8.0f} req/s  "
              f"p50 {_median(hello_i + hello_r, 'p50_ms'):6.2f} ms  p99 {_median(hello_i + hello_r, 'p99_ms'):6.2f} ms")
        _report("POST /api/v1/inbound", ingest, hello_i, "msg/s")
        print(f"{'':26s} {answered:.0f} answered 2xx, {stored} messages and {events} events stored "
              f"(stored >= answered: requests cut off when wrk stops may still commit)")
        _report("GET /interactions/{id}", read, hello_r, "req/s")
        _report(f"  ... over {len(ids)} ids", spread, hello_r, "req/s")
    finally:
        server.stop()
        bare.stop()


if __name__ == "__main__":
    main()
