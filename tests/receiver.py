"""A local HTTP endpoint that records signed POSTs (a customer's shop backend, a webhook consumer)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from cti.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


class Receiver:
    """Records what it receives; can answer errors or be taken down and brought back on the same port."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.status = 200
        self.answer: dict[str, Any] | None = None  # a fixed JSON answer instead of a fresh external_id
        self.arrived = asyncio.Event()
        self._server: TestServer | None = None
        self.port: int | None = None

    def url(self, path: str = "/hook") -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(self.secret, body, request.headers.get(TIMESTAMP_HEADER, ""),
                              request.headers.get(SIGNATURE_HEADER, ""))
        if not ok:
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if self.status != 200:
            return web.json_response({"error": "not now"}, status=self.status)
        self.received.append({"body": orjson.loads(body), "delivery": request.headers.get("X-CTI-Delivery")})
        self.arrived.set()
        return web.json_response(self.answer or {"external_id": f"ext-{len(self.received)}"})

    async def start(self) -> None:
        """Listen (on the same port as before when restarted)."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=self.port)
        await self._server.start_server()
        self.port = self._server.port

    async def stop(self) -> None:
        """Stop listening (connections are refused until start())."""
        if self._server is not None:
            await self._server.close()
            self._server = None
