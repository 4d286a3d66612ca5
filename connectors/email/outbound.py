"""Agents' replies as email: composed from jinja2 templates and sent with aiosmtplib.

A reply carries In-Reply-To and References of the thread and the case tag ``[#cas_...]`` in
the subject (templates ``reply.*.j2``; the automatic acknowledgement of a new case uses
``acknowledge.*.j2`` and carries ``Auto-Submitted: auto-replied``), so the customer's answer
threads back to the case even through mail clients that drop headers. Its Message-ID is
derived from the message id, the same on every retry.
SMTP answers decide what happens next: 5xx is permanent (the message is marked failed with
the server's words), 4xx and connection problems are temporary (the outbox retries).
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path

import aiosmtplib
import jinja2

from connectors.base import OutboundMessage, PermanentFailure, TemporaryFailure
from connectors.email.parse import CASE_TAG

TEMPLATES = Path(__file__).parent / "templates"


class Composer:
    """Builds reply emails from the packaged templates, or the operator's own folder."""

    def __init__(self, from_address: str, from_name: str, signature: str, template_dir: str = "") -> None:
        self.from_address, self.from_name, self.signature = from_address, from_name, signature
        self.domain = from_address.rpartition("@")[2] or "localhost"
        folders = [str(TEMPLATES)] if not template_dir else [template_dir, str(TEMPLATES)]
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(folders), undefined=jinja2.StrictUndefined,
                                      autoescape=jinja2.select_autoescape(["html", "html.j2"]))

    def subject(self, message: OutboundMessage) -> str:
        base = (message.subject or "Your case").strip()
        if not base.lower().startswith("re:"):
            base = f"Re: {base}"
        return base if CASE_TAG.search(base) else f"{base} [#{message.case_id}]"

    def message_id(self, message: OutboundMessage) -> str:
        return f"<{message.message_id}@{self.domain}>"

    def compose(self, message: OutboundMessage) -> EmailMessage:
        values = {"text": message.text, "case_id": message.case_id, "signature": self.signature}
        mail = EmailMessage()
        mail["From"] = formataddr((self.from_name, self.from_address)) if self.from_name else self.from_address
        mail["To"] = message.to
        mail["Subject"] = self.subject(message)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = self.message_id(message)
        if message.in_reply_to:
            mail["In-Reply-To"] = message.in_reply_to
        references = [r for r in message.references if r.startswith("<") and r.endswith(">")]
        if references:
            mail["References"] = " ".join(references[-20:])
        mail["X-CTI-Case"] = message.case_id
        template = "reply"
        if message.mode == "auto":  # RFC 3834: marked so that autoresponders do not answer it
            mail["Auto-Submitted"] = "auto-replied"
            template = "acknowledge"
        mail.set_content(self.env.get_template(f"{template}.txt.j2").render(values))
        mail.add_alternative(self.env.get_template(f"{template}.html.j2").render(values), subtype="html")
        return mail


async def send_mail(mail: EmailMessage, *, host: str, port: int, tls: str, username: str, password: str,
                    tls_context: ssl.SSLContext | None, timeout_seconds: float = 30.0) -> None:
    """Submit one message. Authenticates only when the server offers AUTH."""
    client = aiosmtplib.SMTP(hostname=host, port=port, use_tls=tls == "direct",
                             start_tls=None if tls == "starttls" else False, tls_context=tls_context,
                             timeout=timeout_seconds)
    try:
        await client.connect()
        if username and client.supports_extension("auth"):
            await client.login(username, password)
        errors, _ = await client.send_message(mail)
        refused = {rcpt: err for rcpt, err in errors.items()}
        if refused:
            raise PermanentFailure(f"recipients refused: {refused}")
    except aiosmtplib.SMTPRecipientsRefused as exc:
        _raise_for_codes([(r.code, f"{r.recipient}: {r.message}") for r in exc.recipients])
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise TemporaryFailure(f"SMTP login refused ({exc.code}): {exc.message}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        _raise_for_codes([(exc.code, exc.message)])
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TemporaryFailure(f"SMTP unavailable: {type(exc).__name__}: {exc}") from exc
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


def _raise_for_codes(answers: list[tuple[int, str]]) -> None:
    detail = "; ".join(f"{code} {text}" for code, text in answers)
    if answers and all(code >= 500 for code, _ in answers):
        raise PermanentFailure(f"SMTP refused: {detail}")
    raise TemporaryFailure(f"SMTP deferred: {detail}")
