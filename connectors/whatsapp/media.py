"""A WhatsApp message's media, fetched through the Cloud API's media URL flow before the message is
stored: ``GET /{version}/{media_id}`` (bearer token) gives a short-lived URL, its type and size;
``GET`` that URL with the same token gives the bytes. The URL is followed only to Meta's media
hosts (or the configured API host, for an emulator), files over ``MAX_BYTES`` and failures are
noted on the attachment (``dropped``) and the message is stored all the same. Files are kept once
by their SHA-256 under the data folder; a hook for scanning them (antivirus) is ``SCAN``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import mimetypes
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp

from connectors.base import Attachment, InboundMessage, WebhookTools

if TYPE_CHECKING:
    from connectors.whatsapp.channel import WhatsAppSettings

MAX_BYTES = 16 * 1024 * 1024  # WhatsApp's own limit for documents is 100 MB; what an agent opens is less
MEDIA_HOSTS = (".fbsbx.com", ".whatsapp.net", ".facebook.com")
# Called with (content, content_type) before a file is kept; returns why to drop it, or None.
SCAN: Callable[[bytes, str], str | None] = lambda content, content_type: None  # noqa: E731


async def fetch_media(message: InboundMessage, settings: WhatsAppSettings, tools: WebhookTools) -> InboundMessage:
    media = message.metadata["media"]
    kind = str(message.metadata.get("kind") or "file")
    content_type = str(media.get("mime_type") or "application/octet-stream")
    filename = str(media.get("filename") or f"{kind}{mimetypes.guess_extension(content_type.split(';')[0]) or ''}")
    try:
        content, content_type = await _download(str(media["media_id"]), settings, tools.http)
        if media.get("sha256") and hashlib.sha256(content).hexdigest() != media["sha256"]:
            raise ValueError("the file does not match the hash WhatsApp gave")
        problem = SCAN(content, content_type)
        if problem:
            raise ValueError(problem)
        attachment = await asyncio.to_thread(tools.keep, content, filename=filename, content_type=content_type)
    except (ValueError, aiohttp.ClientError, TimeoutError) as exc:
        attachment = Attachment(filename, content_type, 0, dropped=f"not fetched: {exc}"[:200])
    return dataclasses.replace(message, attachments=(*message.attachments, attachment))


async def _download(media_id: str, settings: WhatsAppSettings, http: aiohttp.ClientSession) -> tuple[bytes, str]:
    headers = {"Authorization": f"Bearer {settings.access_token}"}
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    base = settings.api_base.rstrip("/")
    async with http.get(f"{base}/{settings.api_version}/{urllib.parse.quote(media_id, safe='')}", headers=headers,
                        timeout=timeout) as response:
        if response.status != 200:
            raise ValueError(f"the media lookup answered {response.status}")
        info = await response.json(content_type=None)
    url, size = str(info.get("url") or ""), int(info.get("file_size") or 0)
    if size > MAX_BYTES:
        raise ValueError(f"{size} bytes is over the {MAX_BYTES}-byte limit")
    host = urllib.parse.urlsplit(url).hostname or ""
    if host != urllib.parse.urlsplit(base).hostname and not host.endswith(MEDIA_HOSTS):
        raise ValueError(f"the media URL points at {host!r}, not WhatsApp's media hosts")
    async with http.get(url, headers=headers, timeout=timeout) as response:
        if response.status != 200:
            raise ValueError(f"the media download answered {response.status}")
        content = await response.content.read(MAX_BYTES + 1)
        if len(content) > MAX_BYTES:
            raise ValueError(f"over the {MAX_BYTES}-byte limit")
        return content, str(info.get("mime_type") or response.content_type or "application/octet-stream")
