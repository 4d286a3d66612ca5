"""Attachments from visitors: ``POST /chat/v1/attachments`` (multipart: ``file``, ``client_id``,
optional ``text``).

Only the configured types are taken, and a file must look like what it says it is (its first bytes
are checked for images and PDF; text must be UTF-8 without NUL), at most ``attachment_max_bytes``
(read in pieces and refused as soon as it is over, 413). Content is kept once by its SHA-256 under
``<data_dir>/attachments/<channel>/``; ``SCAN`` is the hook for a virus scanner (it returns why a
file is refused, or None). The message carries the file's name, type, size and hash; agents
download it through ``GET /api/v1/messages/{id}/attachments/{n}``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader

from connectors.base import WebhookTools
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import ApiError, InvalidInput
from webchat.api import CLIENT_ID, TAG, post_message, stored_frame
from webchat.site import site, visitor_of

api = Api()
SCAN: Callable[[bytes, str], str | None] = lambda content, content_type: None  # noqa: E731
CLIENT_ID_SHAPE = re.compile(CLIENT_ID)
SIGNATURES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
              "image/gif": (b"GIF87a", b"GIF89a"), "application/pdf": (b"%PDF-",)}
SAFE_NAME = re.compile(r"[^\w.\- ]+")


def safe_name(given: str | None) -> str:
    """The file's own name (no folders, no characters a file system or a header would misread)."""
    name = re.split(r"[/\\]", unquote(given or ""))[-1]
    return SAFE_NAME.sub("_", name).strip(". ")[:120] or "file"


class TooLarge(ApiError):
    status = 413
    code = "attachment_too_large"


def looks_like(content: bytes, content_type: str) -> bool:
    """Whether the bytes are of the declared type (as far as their first bytes tell)."""
    if content_type == "image/webp":
        return content[:4] == b"RIFF" and content[8:12] == b"WEBP"
    if content_type == "text/plain":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return b"\x00" not in content
    signatures = SIGNATURES.get(content_type)
    return signatures is None or content.startswith(signatures)


@api.route("POST", "/chat/v1/attachments", summary="Send a file (multipart: file, client_id, text?)", tag=TAG,
           role=None, status=201, errors=(400, 401, 403, 404, 413, 415, 429))
async def upload(call: Call) -> dict[str, Any]:
    request = call.request
    chat, svc = site(request), services(request)
    chat.check_origin(request)
    visitor = await visitor_of(request)
    settings = chat.settings
    if (request.content_length or 0) > settings.attachment_max_bytes + 64 * 1024:
        raise TooLarge(f"files are at most {settings.attachment_max_bytes} bytes")
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("send multipart/form-data with file and client_id", details={"body": "multipart"})
    fields: dict[str, str] = {}
    content, filename, content_type = b"", "", ""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            filename = safe_name(part.filename)
            content_type = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            chunks, size = [], 0
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > settings.attachment_max_bytes:
                    raise TooLarge(f"files are at most {settings.attachment_max_bytes} bytes")
                chunks.append(chunk)
            content = b"".join(chunks)
        elif part.name in ("client_id", "text"):
            fields[part.name] = (await part.read(decode=True))[:20_000].decode("utf-8", "replace")
    client_id = fields.get("client_id", "")
    if not CLIENT_ID_SHAPE.match(client_id):
        raise InvalidInput("client_id: 1-64 letters, digits, _ or -", details={"client_id": "shape"})
    if not content:
        raise InvalidInput("file is required", details={"file": "required"})
    if content_type not in settings.attachment_types or not looks_like(content, content_type):
        error = ApiError(f"files of these types only: {', '.join(settings.attachment_types)}",
                         code="attachment_type_refused", details={"file": content_type or "unknown"})
        error.status = 415
        raise error
    problem = SCAN(content, content_type)
    if problem is not None:
        raise InvalidInput(f"the file was refused: {problem}", code="attachment_refused", details={"file": problem})
    tools = WebhookTools(svc.connectors.http, svc.connectors.data_dir, settings.name)
    attachment = await asyncio.to_thread(tools.keep, content, filename=filename, content_type=content_type)
    received = await post_message(request, visitor, fields.get("text", "").strip() or filename, client_id,
                                  (attachment,))
    return await stored_frame(svc, received)
