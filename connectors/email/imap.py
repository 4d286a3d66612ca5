"""Follows one IMAP mailbox: new mail is fetched by UID, then IDLE (or polling) waits for more.

The position (UIDVALIDITY and the last UID handed on) is durable, so a restart continues where
it stopped. When UIDVALIDITY changes the mailbox was rebuilt and every message is read again;
the core drops those it already holds (messages are deduplicated by Message-ID). Messages are
never flagged or moved on the server: the mailbox stays the customer-facing record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aioimaplib import aioimaplib

log = logging.getLogger(__name__)
UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
FETCH_UID = re.compile(rb"UID (\d+)")


class LoginRefused(Exception):
    """The server refused the username or password."""


class ImapFailure(Exception):
    """The server answered a command with NO/BAD, or the link broke."""


@dataclass(frozen=True)
class Position:
    """Where reading stopped."""

    uidvalidity: int
    last_uid: int


Batch = Callable[[int, list[tuple[int, bytes]]], Awaitable[None]]


class MailboxFollower:
    """One logged-in IMAP session on one mailbox."""

    def __init__(self, *, host: str, port: int, tls: str, username: str, password: str, mailbox: str,
                 tls_context: ssl.SSLContext | None, timeout_seconds: float = 30.0, batch_size: int = 200) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.username, self.password, self.mailbox = username, password, mailbox
        self.tls_context, self.timeout, self.batch_size = tls_context, timeout_seconds, batch_size
        self.client: aioimaplib.IMAP4 | None = None
        self.lost = asyncio.Event()
        self.uidvalidity = 0
        self.can_idle = False

    async def open(self) -> None:
        """Connect, upgrade to TLS when asked, log in and select the mailbox."""
        self.lost.clear()
        on_lost = lambda _exc: self.lost.set()  # noqa: E731
        if self.tls == "direct":
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(self.host, self.port, timeout=self.timeout,
                                                            ssl_context=self.tls_context)
            client.protocol.conn_lost_cb = on_lost
        else:
            client = aioimaplib.IMAP4(self.host, self.port, timeout=self.timeout, conn_lost_cb=on_lost)
        self.client = client
        await client.wait_hello_from_server()
        if self.tls == "starttls" and client.has_capability("STARTTLS"):
            await self._starttls(client)
        response = await client.login(self.username, self.password)
        if response.result != "OK":
            raise LoginRefused(_text(response.lines))
        response = await client.select(self.mailbox)
        if response.result != "OK":
            raise ImapFailure(f"SELECT {self.mailbox}: {_text(response.lines)}")
        match = next((m for line in response.lines if (m := UIDVALIDITY.search(bytes(line)))), None)
        self.uidvalidity = int(match.group(1)) if match else 0
        self.can_idle = client.has_capability("IDLE")

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        protocol = client.protocol
        response = await protocol.execute(aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))
        if response.result != "OK":
            raise ImapFailure(f"STARTTLS refused: {_text(response.lines)}")
        context = self.tls_context or ssl.create_default_context()
        protocol.transport = await protocol.loop.start_tls(protocol.transport, protocol, context,
                                                           server_hostname=self.host)
        await protocol.capability()

    async def close(self) -> None:
        """Log out politely; drop the link if that fails."""
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            if client.protocol.has_pending_idle_command():
                client.idle_done()
            if not self.lost.is_set():
                await asyncio.wait_for(client.logout(), 2)
        with contextlib.suppress(Exception):
            if client.protocol.transport is not None:
                client.protocol.transport.close()

    async def new_uids(self, after: int) -> list[int]:
        """UIDs above ``after`` in ascending order."""
        assert self.client is not None
        response = await self.client.uid_search(f"UID {after + 1}:*", charset=None)
        if response.result != "OK":
            raise ImapFailure(f"UID SEARCH: {_text(response.lines)}")
        found = [int(tok) for line in response.lines[:-1] for tok in bytes(line).split() if tok.isdigit()]
        return sorted(uid for uid in set(found) if uid > after)

    async def fetch(self, uids: list[int]) -> list[tuple[int, bytes]]:
        """(uid, raw message) for these UIDs; the messages stay unread on the server."""
        assert self.client is not None
        wanted = set(uids)
        response = await self.client.uid("fetch", f"{uids[0]}:{uids[-1]}", "(UID BODY.PEEK[])")
        if response.result != "OK":
            raise ImapFailure(f"UID FETCH: {_text(response.lines)}")
        found: list[tuple[int, bytes]] = []
        current: int | None = None
        for line in response.lines:
            if isinstance(line, bytearray):
                if current is not None and current in wanted:
                    found.append((current, bytes(line)))
                current = None
            elif b" FETCH " in line and (match := FETCH_UID.search(line)):
                current = int(match.group(1))
        return sorted(found)

    async def wait_for_news(self, seconds: float) -> None:
        """IDLE until the server reports a change or seconds pass (sleep when IDLE is missing)."""
        assert self.client is not None
        if not self.can_idle:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.lost.wait(), seconds)
            return
        idle = await self.client.idle_start(timeout=seconds + 30)
        push = asyncio.ensure_future(self.client.wait_server_push(timeout=seconds))
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            push.cancel()
            lost.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await push
        if self.lost.is_set():
            idle.cancel()
            raise ImapFailure("connection lost during IDLE")
        self.client.idle_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(idle, self.timeout)

    async def follow(self, start: Position | None, on_batch: Batch, *, idle_seconds: float) -> None:
        """Hand on every message after ``start``, then keep waiting for new ones, until the link breaks."""
        last = start.last_uid if start is not None and start.uidvalidity == self.uidvalidity else 0
        if start is not None and start.uidvalidity != self.uidvalidity and start.uidvalidity:
            log.warning("mailbox %s: UIDVALIDITY changed (%s -> %s); reading it again, known mail is skipped",
                        self.mailbox, start.uidvalidity, self.uidvalidity)
        while True:
            uids = await self.new_uids(last)
            for index in range(0, len(uids), self.batch_size):
                chunk = uids[index:index + self.batch_size]
                messages = await self.fetch(chunk)
                if messages:
                    await on_batch(self.uidvalidity, messages)
                last = chunk[-1]
            if self.lost.is_set():
                raise ImapFailure("connection lost")
            await self.wait_for_news(idle_seconds)


def _text(lines: list[bytes | bytearray]) -> str:
    return " ".join(bytes(line).decode(errors="replace") for line in lines)[:300]
