"""``cti receiver``: a tiny backend for the configured custom channels, so a newcomer sees a reply arrive.

It listens where each custom channel's ``outbound_url`` points (on this machine), checks every
POST's signature with that channel's secret (``X-CTI-Signature``, see the README's "Signatures"),
prints the reply in one line, and answers ``{"external_id": ...}`` as a real backend would. A
bad signature is printed and refused with 401, so it also shows what the checks look like."""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
import urllib.parse
from typing import TextIO

import orjson
from aiohttp import web

from cti.config import Config, CustomChannelConfig
from cti.errors import ConfigError
from cti.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

LOCAL = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def _listeners(config: Config) -> dict[tuple[str, int], list[CustomChannelConfig]]:
    found: dict[tuple[str, int], list[CustomChannelConfig]] = {}
    for channel in config.channels.custom:
        parts = urllib.parse.urlsplit(channel.outbound_url)
        if parts.scheme == "http" and parts.hostname in LOCAL and parts.port:
            found.setdefault((parts.hostname, parts.port), []).append(channel)
    if not found:
        raise ConfigError("no [[channels.custom]] outbound_url points at this machine (http://127.0.0.1:PORT/...); "
                          "cti receiver listens there")
    return found


def receiver_app(channels: list[CustomChannelConfig], out: TextIO) -> web.Application:
    """An application that takes the signed replies of these channels and prints them."""
    counter = itertools.count(1)
    by_path = {urllib.parse.urlsplit(c.outbound_url).path or "/": c for c in channels}

    async def take(request: web.Request) -> web.Response:
        channel = by_path.get(request.path) or channels[0]
        body = await request.read()
        if not verify_signature(channel.secret, body, request.headers.get(TIMESTAMP_HEADER, ""),
                                request.headers.get(SIGNATURE_HEADER, "")):
            print(f"{channel.name}: refused a POST with a bad signature (401)", file=out, flush=True)
            return web.json_response({"error": "bad signature"}, status=401)
        try:
            payload = orjson.loads(body)
            message = payload.get("message") or {}
            to = payload.get("to") or {}
            text = str(message.get("text", ""))
        except (orjson.JSONDecodeError, AttributeError):
            return web.json_response({"error": "not JSON"}, status=400)
        print(f"{channel.name}: reply to {to.get('kind', '?')}:{to.get('value', '?')} "
              f"(delivery {request.headers.get('X-CTI-Delivery', '?')}): {text}", file=out, flush=True)
        return web.json_response({"external_id": f"{channel.name}-reply-{next(counter)}"})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/{tail:.*}", take)
    return app


async def run_receiver(config: Config, out: TextIO = sys.stdout) -> None:
    """Listen until SIGINT or SIGTERM."""
    runners = []
    for (host, port), channels in _listeners(config).items():
        runner = web.AppRunner(receiver_app(channels, out), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} for {channels[0].name} ({exc.strerror})") from exc
        runners.append(runner)
        names = ", ".join(c.name for c in channels)
        print(f"receiving replies for {names} on http://{host}:{port} (Ctrl-C stops)", file=out, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()
