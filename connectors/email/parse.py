"""Raw RFC 5322 bytes to what an agent needs: sender, subject, readable text, attachments, threading.

Parsing uses the standard ``email`` package with ``policy.default`` (RFC 2047 headers in any
charset decoded). It never raises: a message that cannot be read becomes a note with its size,
so nothing accepted is lost. HTML-only mail is reduced to plain text (scripts, styles and markup
dropped; links kept as "text (url)"), since agents are shown text, never sender HTML.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, MIMEPart
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

log = logging.getLogger(__name__)
CASE_TAG = re.compile(r"\[#(cas_[0-9a-f]{11,40})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr"}
SKIPPED_TAGS = {"script", "style", "head", "title", "template", "noscript"}
NOT_AUTO = {"", "no"}
BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


@dataclass
class AttachmentPart:
    """An attachment's facts, and its content when within the limit."""

    filename: str
    content_type: str
    size: int
    content: bytes | None
    dropped: str | None = None

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None


@dataclass
class ParsedMail:
    """What the connector hands on from one email."""

    message_id: str | None
    sender: str
    sender_name: str | None
    subject: str
    text: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    case_tag: str | None = None
    auto_submitted: str | None = None
    had_html: bool = False
    attachments: list[AttachmentPart] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"message_id": self.message_id, "to": self.to}
        if self.auto_submitted:
            meta["auto_submitted"] = self.auto_submitted
        if self.had_html:
            meta["html_reduced"] = True
        if self.defects:
            meta["defects"] = self.defects[:10]
        return meta


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self._skip += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS and self._skip:
            self._skip -= 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a" and self._href:
            if self._href.startswith(("http://", "https://", "mailto:")):
                self.parts.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text from HTML; markup, scripts and styles dropped."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser is lenient; this is the last line of defence
        return re.sub(r"<[^>]*>", " ", html)
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception as exc:  # a header the policy cannot parse
        log.warning("email header %s unreadable: %s", name, exc)
        return ""
    return str(value).strip() if value is not None else ""


def _content(part: MIMEPart) -> str:
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError, AssertionError, ValueError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)


def _ids(value: str) -> list[str]:
    return MESSAGE_ID.findall(value or "")


def _auto_submitted(msg: EmailMessage) -> str | None:
    auto = _header(msg, "Auto-Submitted").lower()
    if auto.split(";")[0].strip() not in NOT_AUTO:
        return auto.split(";")[0].strip()
    precedence = _header(msg, "Precedence").lower()
    if precedence in BULK_PRECEDENCE:
        return f"precedence:{precedence}"
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond") or _header(msg, "List-Id"):
        return "auto-replied"
    return None


def _attachments(msg: EmailMessage, limit: int) -> list[AttachmentPart]:
    found: list[AttachmentPart] = []
    for part in msg.iter_attachments():
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            payload = None
        content = payload if isinstance(payload, bytes) else b""
        name = part.get_filename() or f"attachment-{len(found) + 1}"
        entry = AttachmentPart(str(name), part.get_content_type(), len(content), content)
        if entry.size > limit:
            entry.content, entry.dropped = None, f"over the {limit} byte limit"
        found.append(entry)
    return found


def parse_mail(raw: bytes, *, attachment_limit: int = 10 * 1024 * 1024) -> ParsedMail:
    """Parse one message; never raises."""
    try:
        return _parse(raw, attachment_limit)
    except Exception as exc:
        log.warning("email could not be parsed (%d bytes): %s: %s", len(raw), type(exc).__name__, exc)
        sender = parseaddr(_raw_header(raw, b"from"))[1] or "unknown@invalid"
        return ParsedMail(message_id=next(iter(_ids(_raw_header(raw, b"message-id"))), None), sender=sender.lower(),
                          sender_name=None, subject=_raw_header(raw, b"subject")[:200] or "(unreadable email)",
                          text=f"[This email ({len(raw)} bytes) could not be read: {type(exc).__name__}. "
                               "The original is kept on the mail server.]",
                          defects=[f"{type(exc).__name__}: {exc}"[:200]])


def _raw_header(raw: bytes, name: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line.lower().startswith(name + b":"):
            return line.split(b":", 1)[1].strip().decode("utf-8", errors="replace")
    return ""


def _parse(raw: bytes, attachment_limit: int) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    name, address = parseaddr(_header(msg, "Reply-To") or _header(msg, "From"))
    subject = " ".join(_header(msg, "Subject").split())
    body = msg.get_body(preferencelist=("plain", "html"))
    had_html, text = False, ""
    if body is not None:
        content = _content(body)
        if body.get_content_subtype() == "html":
            had_html, text = True, html_to_text(content)
        else:
            text = content.strip()
    elif msg.get_content_maintype() == "text":
        text = _content(msg).strip()
    attachments = _attachments(msg, attachment_limit)
    for item in attachments:
        if item.dropped:
            text += f"\n\n[Attachment {item.filename} ({item.size} bytes) was dropped: {item.dropped}.]"
    references = _ids(_header(msg, "References"))
    in_reply_to = ([None, *_ids(_header(msg, "In-Reply-To"))])[-1]
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)
    tag = CASE_TAG.search(subject)
    return ParsedMail(
        message_id=next(iter(_ids(_header(msg, "Message-ID"))), None), sender=address.lower() or "unknown@invalid",
        sender_name=name or None, subject=subject, text=text.strip() or "(empty email)", in_reply_to=in_reply_to,
        references=references, case_tag=tag.group(1) if tag else None, auto_submitted=_auto_submitted(msg),
        had_html=had_html, attachments=attachments,
        to=[addr.lower() for _, addr in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if addr],
        defects=[type(d).__name__ for d in msg.defects],
    )
