"""Pivot links: minting and verifying, and the landing page, against a bare aiohttp hello.

    .venv/bin/python -m bench.pivot [--seconds 10] [--links 500] [--connections 32]

Minting is measured two ways: through the API (POST /api/v1/interactions/{id}/pivot with wrk,
each request a durable write with its pivot.created event) and through the core (the same
``mint_link`` op submitted by 256 concurrent tasks to the batched database writer in this
process, which is what the API's handler calls). Verifying is ``find_link`` (SHA-256 and one
indexed read) for known and unknown tokens. The landing page (GET /p/{token}) is fetched by wrk
for a few hundred real links with a phone's User-Agent, after their first open (so, like most
opens, it only reads), and for unknown tokens (404) to compare response times.
Targets (issue 5): landing page >= 2,000 req/s; minting >= 5,000 links/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import BareHello, run_wrk, start_server
from tests.processes import CALLS_TOML

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148"
PATHS_LUA = """
local paths = {PATHS}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], {["User-Agent"] = "UA", ["Accept-Language"] = "fi,en;q=0.5"})
end
"""
PIVOT_LUA = """
local ids = {IDS}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/api/v1/interactions/" .. ids[(i % #ids) + 1] .. "/pivot",
                    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer TOKEN"},
                    '{"to":"callback","max_uses":1}')
end
"""


def _api(url: str, token: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def _lua_list(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


async def core_mint_and_verify(count: int) -> tuple[float, float, float]:
    """Links minted per second through the batched writer; verifications per second (known, unknown)."""
    from cti.main import load_app_config as load_config
    from cti.routing.policy import RoutingPolicy
    from cti.services.actors import SYSTEM
    from cti.services.inbound import InboundItem, ingest
    from cti.storage.db import Database
    from cti.storage.migrate import upgrade_database
    from pivot.links import MintRequest, find_link, mint_link
    from pivot.tokens import new_token

    folder = Path(tempfile.mkdtemp(prefix="cti-bench-pivot-"))
    url = f"sqlite+aiosqlite:///{folder / 'cti.db'}"
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url, synchronous="full")
    await db.start()
    config = load_config(None, environ={})
    policy = RoutingPolicy()
    try:
        item = InboundItem(channel="shop-chat", from_kind="x", from_value="42", text="help", external_id="b-1")
        stored = await db.write(lambda tx: ingest(tx, item, policy))
        iid = stored.interaction_id
        request = MintRequest()
        tokens: list[str] = []

        def mint(tx: Any) -> None:
            tokens.append(mint_link(tx, iid, request, actor=SYSTEM, config=config.pivot,
                                    public_url="https://cti.example", channel=None)["pivot_link"]["url"])

        semaphore = asyncio.Semaphore(256)

        async def one() -> None:
            async with semaphore:
                await db.write(mint)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        mint_rate = count / (time.perf_counter() - started)

        known = [t.rsplit("/", 1)[1] for t in tokens[:2000]]
        unknown = [new_token() for _ in range(len(known))]
        rates = []
        for batch in (known, unknown):
            started = time.perf_counter()
            found = await db.read(lambda conn, b=batch: sum(find_link(conn, t) is not None for t in b))
            rates.append(len(batch) / (time.perf_counter() - started))
            assert found == (len(batch) if batch is known else 0), found
        return mint_rate, rates[0], rates[1]
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--core-mints", type=int, default=20_000)
    args = parser.parse_args()

    mint_rate, verify_known, verify_unknown = asyncio.run(core_mint_and_verify(args.core_mints))
    bare = BareHello()
    # Callback links need a connector that places calls: a Twilio account (its API is never reached here).
    server = start_server(CALLS_TOML, env={"CTI_PIVOT__MISSES_PER_CLIENT_PER_MINUTE": "100000000"})
    token = server.cli("token", "create", "--role", "admin")
    server.start()
    wrk = {"seconds": args.seconds, "connections": args.connections}
    try:
        ids, paths = [], []
        for i in range(args.links):
            stored = _api(server.url + "/api/v1/inbound", token, "POST", {
                "channel": "shop-chat", "from": {"kind": "x", "value": f"{1000 + i}"}, "text": "help",
                "external_id": f"bench-{i}"})
            ids.append(stored["interaction_id"])
            link = _api(f"{server.url}/api/v1/interactions/{stored['interaction_id']}/pivot", token, "POST",
                        {"to": "callback"})["pivot_link"]
            paths.append("/p/" + link["url"].rsplit("/p/", 1)[1])
        for path in paths:  # the first open of each (recorded); the measured opens only read
            urllib.request.urlopen(urllib.request.Request(server.url + path, headers={"User-Agent": PHONE_UA})).read()
        unknown = [f"/p/{'x' * 43}{i}" for i in range(200)]
        page_lua = PATHS_LUA.replace("UA", PHONE_UA)
        hello = run_wrk(bare.url, **wrk)
        landing = run_wrk(server.url + "/", script=page_lua.replace("{PATHS}", "{" + _lua_list(paths) + "}"), **wrk)
        missing = run_wrk(server.url + "/", script=page_lua.replace("{PATHS}", "{" + _lua_list(unknown) + "}"), **wrk)
        hello2 = run_wrk(bare.url, **wrk)
        minted = run_wrk(server.url + "/", script=PIVOT_LUA.replace("{IDS}", "{" + _lua_list(ids) + "}")
                         .replace("TOKEN", token), **wrk)
        base = statistics.mean([hello["rps"], hello2["rps"]])
        print(f"bare aiohttp hello           {base:8.0f} req/s")
        print(f"GET /p/{{token}} (landing)     {landing['rps']:8.0f} req/s  p50 {landing['p50_ms']:6.2f} ms  "
              f"p99 {landing['p99_ms']:6.2f} ms  non-2xx {landing['non_2xx']:.0f}  "
              f"({landing['rps'] / base:.2f} of bare)")
        print(f"GET /p/{{unknown}} (404 page)  {missing['rps']:8.0f} req/s  p50 {missing['p50_ms']:6.2f} ms  "
              f"p99 {missing['p99_ms']:6.2f} ms  (valid/unknown p50 {landing['p50_ms'] / missing['p50_ms']:.2f})")
        print(f"POST .../pivot (API mint)    {minted['rps']:8.0f} links/s  p50 {minted['p50_ms']:6.2f} ms  "
              f"p99 {minted['p99_ms']:6.2f} ms  non-2xx {minted['non_2xx']:.0f}")
        print(f"mint_link via batched writer {mint_rate:8.0f} links/s  ({args.core_mints} links, SQLite FULL)")
        print(f"find_link (verify)           {verify_known:8.0f} known/s  {verify_unknown:8.0f} unknown/s")
    finally:
        server.stop()
        bare.stop()


if __name__ == "__main__":
    main()
