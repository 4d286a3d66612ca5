"""The email channel: a support mailbox read over IMAP, replies sent over SMTP.

Inbound: every new message in the mailbox becomes a message on a case (threaded by
In-Reply-To/References, then by the ``[#cas_...]`` tag in the subject). Attachments within the
size limit are stored by content hash under ``<data_dir>/attachments``; larger ones are dropped
with a note to the agent. Auto-replies (Auto-Submitted, Precedence: bulk/junk/list, List-Id)
are stored and flagged ``metadata.auto_submitted`` and never acknowledged automatically; nor is
mail from the support address itself (no loops with ourselves).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from connectors.backoff import Backoff
from connectors.base import (
    Attachment,
    Capability,
    Channel,
    ConnectorContext,
    Health,
    InboundMessage,
    OutboundMessage,
    Sent,
    Settings,
)
from connectors.email.imap import ImapFailure, LoginRefused, MailboxFollower, Position
from connectors.email.outbound import Composer, send_mail
from connectors.email.parse import AttachmentPart, ParsedMail, parse_mail


class EmailSettings(Settings):
    """``[connectors.email]``"""

    imap_host: str = "127.0.0.1"
    imap_port: int = Field(default=143, ge=1, le=65535)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    tls: Literal["starttls", "direct", "none"] = "starttls"
    ca_file: str = ""
    username: str
    password: str = ""
    smtp_username: str = ""  # defaults to username (used only when the SMTP server offers AUTH)
    smtp_password: str = ""
    mailbox: str = "INBOX"
    from_address: str
    from_name: str = ""
    signature: str = "Customer support"
    acknowledge_new_cases: bool = False  # answer mail that opens a case with the acknowledgement template
    template_dir: str = ""
    idle_seconds: float = Field(default=300.0, gt=0, le=1740)  # IDLE is renewed (or the mailbox polled) this often
    use_idle: bool = True  # false: poll every idle_seconds even when the server offers IDLE
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    fetch_batch: int = Field(default=200, ge=1, le=5000)
    reconnect_max_seconds: float = Field(default=60.0, gt=0)


class EmailChannel(Channel[EmailSettings]):
    """IMAP in, SMTP out."""

    settings_model = EmailSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.PRIVATE_REPLY, Capability.THREADING, Capability.ATTACHMENTS})
    identity_kind = "email"

    def __init__(self, ctx: ConnectorContext, settings: EmailSettings) -> None:
        super().__init__(ctx, settings)
        self.config = settings
        self.composer = Composer(settings.from_address, settings.from_name, settings.signature, settings.template_dir)
        self.tls_context = _tls_context(settings.ca_file) if settings.tls != "none" else None
        self.attachments_dir = ctx.data_dir / "attachments"
        self._task: asyncio.Task[None] | None = None
        self.follower: MailboxFollower | None = None  # the current IMAP session, if any
        self.received = 0

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        self._task = asyncio.get_running_loop().create_task(self._read_forever(), name=f"imap:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def send(self, message: OutboundMessage) -> Sent:
        mail = self.composer.compose(message)
        cfg = self.config
        await send_mail(mail, host=cfg.smtp_host, port=cfg.smtp_port, tls=cfg.tls,
                        username=cfg.smtp_username or cfg.username, password=cfg.smtp_password or cfg.password,
                        tls_context=self.tls_context)
        return Sent(external_id=self.composer.message_id(message))

    async def _read_forever(self) -> None:
        cfg, log = self.config, self.ctx.log
        backoff = Backoff(cfg.reconnect_max_seconds)
        while True:
            follower = MailboxFollower(host=cfg.imap_host, port=cfg.imap_port, tls=cfg.tls, username=cfg.username,
                                       password=cfg.password, mailbox=cfg.mailbox, tls_context=self.tls_context,
                                       batch_size=cfg.fetch_batch)
            self.follower = follower
            backoff.session_start()
            try:
                await follower.open()
                follower.can_idle = follower.can_idle and cfg.use_idle
                await self.set_health(Health.CONNECTED)
                cursor = await self.ctx.core.load_cursor()
                start = Position(int(cursor.get("uidvalidity", 0)), int(cursor.get("last_uid", 0))) if cursor else None
                await follower.follow(start, self._take_batch, idle_seconds=cfg.idle_seconds)
            except LoginRefused as exc:
                await self.set_health(Health.BAD_CREDENTIALS, f"IMAP login refused: {exc}")
                backoff.hold_off()
            except (ImapFailure, OSError, TimeoutError) as exc:
                await self.set_health(Health.TRANSIENT_DISCONNECT, f"IMAP {type(exc).__name__}: {exc}"[:300])
            except Exception as exc:  # aioimaplib raises its own Abort/CommandTimeout and more
                log.exception("%s: IMAP session failed", self.name)
                await self.set_health(Health.TRANSIENT_DISCONNECT, f"IMAP {type(exc).__name__}: {exc}"[:300])
            finally:
                await follower.close()
            await backoff.wait()

    async def _take_batch(self, uidvalidity: int, messages: list[tuple[int, bytes]]) -> None:
        """Parse a fetched batch off the event loop, store every message, then move the cursor."""
        limit = self.config.max_attachment_bytes
        parsed = await asyncio.to_thread(lambda: [(uid, parse_mail(raw, attachment_limit=limit))
                                                  for uid, raw in messages])
        results = await asyncio.gather(*(self._store(uidvalidity, uid, mail) for uid, mail in parsed),
                                       return_exceptions=True)
        stored_upto = 0
        for (uid, _), result in zip(parsed, results, strict=True):
            if isinstance(result, BaseException):
                self.ctx.log.error("%s: message uid %s not stored (%s); it is read again later", self.name, uid,
                                   result)
                break
            stored_upto = uid
        if stored_upto:
            await self.ctx.core.save_cursor({"uidvalidity": uidvalidity, "last_uid": stored_upto})
        if stored_upto != parsed[-1][0]:
            raise ImapFailure("some messages could not be stored")

    async def _store(self, uidvalidity: int, uid: int, mail: ParsedMail) -> None:
        attachments = tuple([await self._keep(part) for part in mail.attachments])
        external_id = mail.message_id or f"imap:{self.config.mailbox}:{uidvalidity}:{uid}"
        thread_id = mail.references[0] if mail.references else external_id
        metadata = mail.metadata() | {"imap_uid": uid}
        if mail.auto_submitted:
            self.ctx.log.info("%s: auto-submitted mail from %s (%s) stored, never answered automatically",
                              self.name, mail.sender, mail.auto_submitted)
        acknowledge = (self.config.acknowledge_new_cases and not mail.auto_submitted
                       and mail.sender != self.config.from_address.lower())
        await self.ctx.core.receive(InboundMessage(
            sender_kind="email", sender=mail.sender, name=mail.sender_name, text=mail.text,
            external_id=external_id, subject=mail.subject or None, thread_id=thread_id,
            references=tuple(mail.references), case_hint=mail.case_tag, attachments=attachments, metadata=metadata),
            acknowledge=acknowledge)
        self.received += 1

    async def _keep(self, part: AttachmentPart) -> Attachment:
        if part.content is None:
            return Attachment(part.filename, part.content_type, part.size, dropped=part.dropped)
        digest = part.sha256
        assert digest is not None
        path = self.attachments_dir / digest[:2] / digest
        await asyncio.to_thread(_write_once, path, part.content)
        return Attachment(part.filename, part.content_type, part.size, sha256=digest,
                          stored=str(path.relative_to(self.ctx.data_dir)))


def _write_once(path: Path, content: bytes) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(content)
    partial.replace(path)


def _tls_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context
