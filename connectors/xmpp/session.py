"""One slixmpp login, wrapped so the caller sees a plain outcome: connected, refused or lost.

slixmpp retries failed connections on its own schedule; the connector wants its own backoff
and health reporting, so each attempt is a fresh client that is aborted when the attempt fails.
Shared by the connector and by the test environment's customer client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import slixmpp


class LoginRefused(Exception):
    """The server refused the JID or password."""


class ConnectFailed(Exception):
    """The server could not be reached or the stream failed before the session started."""


def make_client(jid: str, password: str, *, tls: Literal["starttls", "direct", "none"] = "starttls",
                ca_file: str = "", plugins: tuple[str, ...] = ("xep_0085", "xep_0030", "xep_0199")
                ) -> slixmpp.ClientXMPP:
    """A client set up for the given TLS mode (``none`` only for loopback test servers)."""
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_plaintext = tls == "none"
    client.enable_starttls = tls == "starttls"
    client.enable_direct_tls = tls == "direct"
    if ca_file:
        client.ca_certs = Path(ca_file)
    for plugin in plugins:
        client.register_plugin(plugin)
    if tls == "none":
        mechanisms = client.plugin["feature_mechanisms"]
        mechanisms.unencrypted_plain = True
        mechanisms.unencrypted_scram = True
    client.auto_reconnect = False  # type: ignore[attr-defined]  # (set on the instance; not in its stubs)
    return client


async def open_session(client: slixmpp.ClientXMPP, host: str, port: int, *, timeout_seconds: float = 15.0,
                       on_ready: Callable[[], Any] | None = None) -> asyncio.Event:
    """Connect and wait for the session to start; returns an event set when the link is lost later."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[str] = loop.create_future()
    lost = asyncio.Event()

    def settle(result: str) -> None:
        if not outcome.done():
            outcome.set_result(result)

    async def session_start(_event: Any) -> None:
        if on_ready is not None:
            await on_ready()
        settle("ok")

    client.add_event_handler("session_start", session_start)
    client.add_event_handler("failed_all_auth", lambda _e: settle("auth"))
    client.add_event_handler("connection_failed", lambda e: settle(f"connect:{e}"))

    def on_disconnected(_reason: Any) -> None:
        settle("closed")
        lost.set()

    client.add_event_handler("disconnected", on_disconnected)
    client.connect(host or None, port or None)
    try:
        result = await asyncio.wait_for(outcome, timeout_seconds)
    except TimeoutError:
        result = "timeout"
    if result == "ok":
        return lost
    await close(client)
    if result == "auth":
        raise LoginRefused("the server refused the JID or password")
    raise ConnectFailed(result)


async def close(client: slixmpp.ClientXMPP) -> None:
    """Stop connecting or disconnect, without waiting long."""
    with contextlib.suppress(Exception):
        client.cancel_connection_attempt()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(wait=0.5), 2.0)
    with contextlib.suppress(Exception):
        client.abort()
