"""What every emulator shares: an aiohttp server on loopback, outage and error injection, the
record of API calls, and signed webhook delivery to the server under test.

Control API (tests and the demo): ``POST /_control/down {"down": true}`` answers every API call
503 until set false; ``POST /_control/fail {"status": 429, "count": 1, "headers": {...}}`` answers
the next calls so; ``GET /_control/calls`` lists the API calls received.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Emulator:
    """Base: subclasses add their API routes with ``self.app.router`` and their control routes."""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._faults], client_max_size=8 * 1024 * 1024)
        self.calls: list[dict[str, Any]] = []
        self.down = False
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.webhook_url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0
        self.app.router.add_post("/_control/down", self._control_down)
        self.app.router.add_post("/_control/fail", self._control_fail)
        self.app.router.add_get("/_control/calls", self._control_calls)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Emulator:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_control"):
            return await handler(request)
        body = await request.read()
        self.calls.append({"method": request.method, "path": request.path, "query": dict(request.query),
                           "body": body.decode("utf-8", "replace"), "headers": dict(request.headers)})
        if self.down:
            return web.json_response({"error": "service unavailable"}, status=503)
        if self.failures:
            status, headers = self.failures.pop(0)
            return web.json_response(self.error_body(status), status=status, headers=headers)
        return await handler(request)

    def error_body(self, status: int) -> dict[str, Any]:
        """The vendor's error shape for an injected failure."""
        return {"status": status, "title": "error", "detail": f"injected {status}"}

    async def deliver(self, body: bytes, headers: dict[str, str], *, url: str | None = None,
                      method: str = "POST") -> tuple[int, str]:
        """POST a webhook to the server under test; its status and body."""
        assert self._session is not None
        async with self._session.request(method, url or self.webhook_url, data=body, headers=headers) as response:
            return response.status, await response.text()

    async def _control_down(self, request: web.Request) -> web.Response:
        self.down = bool((await request.json()).get("down", True))
        return web.json_response({"down": self.down})

    async def _control_fail(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.failures.extend([(int(spec.get("status", 500)), dict(spec.get("headers") or {}))]
                             * int(spec.get("count", 1)))
        return web.json_response({"queued": len(self.failures)})

    async def _control_calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.calls)
