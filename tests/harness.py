"""A running server for tests: real app, real database, a bound port, an admin client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from cti.api.context import SERVICES, Services
from cti.app import create_app
from cti.client import CtiClient
from cti.main import load_app_config as load_config


class Harness:
    """One server and helpers around it."""

    def __init__(self, server: TestServer, admin: CtiClient) -> None:
        self.server = server
        self.admin = admin
        self._clients: list[CtiClient] = [admin]

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return str(self.server.make_url("")).rstrip("/")

    @property
    def services(self) -> Services:
        """The server's services (for white-box checks)."""
        return self.server.app[SERVICES]

    def client(self, token: str) -> CtiClient:
        """A client with another token (closed with the harness)."""
        client = CtiClient(self.url, token)
        self._clients.append(client)
        return client

    async def agent(self, agent_id: str, *, state: str = "available", **fields: Any) -> CtiClient:
        """Create an agent, make it available, and return a client with its token."""
        await self.admin.create_agent(fields.pop("name", agent_id.title()), id=agent_id, **fields)
        token = await self.admin.create_token("agent", agent_id=agent_id)
        client = self.client(token["token"])
        if state != "offline":
            await client.set_agent_state(agent_id, state)
        return client

    async def wait_for(self, check: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
        """Poll an async or sync check until it returns something truthy (readiness, not sleep)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def interaction_in_state(self, interaction_id: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the interaction reaches the state."""
        async def check() -> dict[str, Any] | None:
            row = await self.admin.get_interaction(interaction_id)
            return row if row["state"] == state else None

        return await self.wait_for(check, timeout=timeout, what=f"{interaction_id} to be {state}")

    async def close(self) -> None:
        """Close every client."""
        for client in self._clients:
            await client.close()


# A deployment that can place calls (a Twilio account; its API is not reached in the tests that
# use this, which check pivot links and pages, not the call itself). Pivot links to a callback are
# minted only where a connector can place the call (pivot/links.py).
CALLS = {"twilio": {"account_sid": "AC" + "0" * 32, "auth_token": "test-auth-token-0123456789",
                    "phone_number": "+15550100", "api_base": "http://127.0.0.1:9"}}


def make_config(data_dir: Path, **sections: dict[str, Any]) -> Any:
    """A configuration for tests: SQLite in data_dir unless database_url is given."""
    server = {"data_dir": str(data_dir), "sqlite_synchronous": "normal", **sections.pop("server", {})}
    # Every test receiver listens on loopback, which production refuses (cti/targets.py).
    webhooks = {"allow_private_targets": True, **sections.pop("webhooks", {})}
    overrides = {"server": server, "webhooks": webhooks, **sections}
    return load_config(None, environ={}, overrides=overrides)


@asynccontextmanager
async def running_server(config: Any, *, port: int | None = None, **app_kwargs: Any) -> Any:
    """Start the app on a free port (or ``port``, when the config's public_url must name it) with an
    admin token; yield a Harness."""
    from cti.services.tokens import create_token

    app: web.Application = create_app(config, **app_kwargs)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        svc = app[SERVICES]
        _, secret = await svc.db.write(lambda tx: create_token(tx, role="admin", name="tests"))
        harness = Harness(server, CtiClient(str(server.make_url("")).rstrip("/"), secret))
        try:
            yield harness
        finally:
            await harness.close()
    finally:
        await server.close()
