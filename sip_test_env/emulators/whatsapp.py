"""A WhatsApp Business Cloud API emulator (the Graph API's WhatsApp part), following its wire formats.

Webhooks go to the server under test as Meta sends them: ``object`` ``whatsapp_business_account``,
``entry[].changes[]`` with ``field`` ``messages`` and a ``value`` holding ``messaging_product``,
``metadata`` (``display_phone_number``, ``phone_number_id``), ``contacts`` (``profile.name``,
``wa_id``) and ``messages`` (or ``statuses``), signed ``X-Hub-Signature-256: sha256=<hex HMAC of
the raw body with the app secret>``; the subscription check is ``hub.mode=subscribe`` with the
verify token, echoing ``hub.challenge``.

API: ``POST /{version}/{phone_number_id}/messages`` (``messaging_product`` ``whatsapp``, ``to``,
``type`` ``text`` | ``template`` | ``image`` | ``document`` | ``audio`` | ``video``, media by an HTTPS
``link``) answers ``{"messaging_product",
"contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}``, then the message's statuses
arrive as webhooks: ``sent`` and ``delivered`` (``read`` on ``/_control/read``); a free-form message
more than 24 hours after the customer last wrote is accepted and then fails, as the real API does,
with a ``failed`` status carrying error 131047 ("Re-engagement message"); a template always goes.
Media: ``GET /{version}/{media_id}`` gives ``{"url", "mime_type", "sha256", "file_size", "id"}``,
and the URL (``/media/{id}``) answers the bytes with the same bearer token. Errors are Graph errors
(``{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}``); a bad token
is code 190.

Control: ``POST /_control/webhook {"url"}``, ``POST /_control/message {"from", "text"?, "name"?,
"type"?, "age_seconds"?, "id"?, "media"?: {"content_type", "data_b64", "filename"?}, "location"?,
"interactive"?}``, ``POST /_control/read {"id"}``; ``GET /_control/sent``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
from typing import Any

from aiohttp import web

from sip_test_env.emulators.base import Emulator

counter = itertools.count(1)
DAY = 86_400
REENGAGEMENT = {"code": 131047, "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed since "
                                          "the customer last replied to this number."}}


def whatsapp_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WhatsAppEmulator(Emulator):
    def __init__(self, *, app_secret: str = "wa-app-secret", verify_token: str = "wa-verify-token",
                 access_token: str = "wa-access-token", phone_number_id: str = "106540352242922",
                 display_phone_number: str = "15550783881", waba_id: str = "102290129340398",
                 version: str = "v21.0") -> None:
        super().__init__()
        self.app_secret, self.verify_token, self.access_token = app_secret, verify_token, access_token
        self.phone_number_id, self.display, self.waba_id, self.version = (phone_number_id, display_phone_number,
                                                                           waba_id, version)
        self.last_from: dict[str, float] = {}  # wa_id -> when the customer last wrote (the window's start)
        self.media: dict[str, tuple[str, bytes]] = {}  # media id -> (content type, bytes)
        self.sent: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()  # status webhooks on their way
        r = self.app.router
        r.add_post(f"/{version}/{phone_number_id}/messages", self.send_message)
        r.add_get(f"/{version}/{phone_number_id}", self.phone_number)
        r.add_get(f"/{version}/{{media_id}}", self.media_info)
        r.add_get("/media/{media_id}", self.media_bytes)
        r.add_post("/_control/webhook", self.register_webhook)
        r.add_post("/_control/message", self.post_message)
        r.add_post("/_control/read", self.post_read)
        r.add_get("/_control/sent", self.list_sent)

    def error_body(self, status: int) -> dict[str, Any]:
        code = 130429 if status == 429 else 131000
        return {"error": {"message": f"injected {status}", "type": "OAuthException", "code": code,
                          "error_data": {"messaging_product": "whatsapp", "details": f"injected {status}"},
                          "fbtrace_id": secrets.token_hex(8)}}

    @staticmethod
    def _error(message: str, code: int, status: int = 400, details: str = "") -> web.Response:
        return web.json_response({"error": {"message": message, "type": "OAuthException", "code": code,
                                            "error_data": {"messaging_product": "whatsapp", "details": details},
                                            "fbtrace_id": secrets.token_hex(8)}}, status=status)

    def _token_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.access_token}"

    # ---- the API ---------------------------------------------------------------------------
    async def send_message(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error("Invalid OAuth access token - Cannot parse access token", 190, 401)
        try:
            body = await request.json()
        except ValueError:
            return self._error("(#100) Invalid parameter", 100)
        kind, to = body.get("type", "text"), str(body.get("to") or "")
        if body.get("messaging_product") != "whatsapp" or not to.isdigit():
            return self._error("(#100) Invalid parameter", 100, details="messaging_product and to are required")
        content = body.get(kind)
        if kind not in ("text", "template", "image", "document", "audio", "video") or not isinstance(content, dict):
            return self._error("(#100) Invalid parameter", 100, details=f"unsupported type {kind}")
        if kind in ("image", "document", "audio", "video") and not str(content.get("link", "")).startswith("https://"):
            return self._error(f"(#100) Param {kind}['link'] is not a valid URL", 100)
        if kind == "text" and not (content.get("body") or "").strip():
            return self._error("(#100) Param text['body'] is required", 100)
        wamid = "wamid." + base64.b64encode(secrets.token_bytes(24)).decode().rstrip("=")
        self.sent.append({"id": wamid, "to": to, "type": kind, kind: content})
        window_closed = kind != "template" and time.time() - self.last_from.get(to, 0.0) > DAY
        self._later(self._statuses(wamid, to, failed=window_closed))
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": wamid}]})

    def _later(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _statuses(self, wamid: str, to: str, *, failed: bool) -> None:
        await asyncio.sleep(0.05)
        if failed:
            await self.signed_post(self.status_payload(wamid, to, "failed", errors=[REENGAGEMENT]))
            return
        for status in ("sent", "delivered"):
            await self.signed_post(self.status_payload(wamid, to, status))
            await asyncio.sleep(0.05)

    async def phone_number(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error("Invalid OAuth access token - Cannot parse access token", 190, 401)
        return web.json_response({"display_phone_number": self.display, "id": self.phone_number_id})

    async def media_info(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error("Invalid OAuth access token - Cannot parse access token", 190, 401)
        media_id = request.match_info["media_id"]
        if media_id not in self.media:
            return self._error("(#100) Unsupported get request.", 100)
        content_type, data = self.media[media_id]
        return web.json_response({"messaging_product": "whatsapp", "url": f"{self.url}/media/{media_id}",
                                  "mime_type": content_type, "sha256": hashlib.sha256(data).hexdigest(),
                                  "file_size": len(data), "id": media_id})

    async def media_bytes(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return web.Response(status=401)
        found = self.media.get(request.match_info["media_id"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[1], content_type=found[0])

    # ---- webhooks --------------------------------------------------------------------------
    async def signed_post(self, payload: dict[str, Any]) -> tuple[int, str]:
        body = json.dumps(payload, ensure_ascii=True).encode()
        return await self.deliver(body, {"Content-Type": "application/json",
                                         "X-Hub-Signature-256": whatsapp_signature(self.app_secret, body)})

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        return {"object": "whatsapp_business_account", "entry": [{"id": self.waba_id, "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {
                "display_phone_number": self.display, "phone_number_id": self.phone_number_id}, **value}}]}]}

    def message_payload(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A customer's message (text, media, location, contacts, interactive reply) as a webhook."""
        wa_id, at = str(spec["from"]), time.time() - float(spec.get("age_seconds", 0))
        kind = spec.get("type", "text")
        message: dict[str, Any] = {"from": wa_id, "id": spec.get("id") or f"wamid.IN{next(counter):08d}",
                                   "timestamp": str(int(at)), "type": kind}
        if kind == "text":
            message["text"] = {"body": spec.get("text", "")}
        elif kind in ("image", "document", "audio", "video"):
            media = spec["media"]
            media_id = str(900000 + next(counter))
            self.media[media_id] = (media["content_type"], base64.b64decode(media["data_b64"]))
            message[kind] = {"id": media_id, "mime_type": media["content_type"],
                             "sha256": hashlib.sha256(self.media[media_id][1]).hexdigest(),
                             **({"caption": spec["text"]} if spec.get("text") else {}),
                             **({"filename": media["filename"]} if media.get("filename") else {})}
        elif kind in ("location", "contacts", "interactive"):
            message[kind] = spec[kind]
        return self._envelope({"contacts": [{"profile": {"name": spec.get("name", "Customer")}, "wa_id": wa_id}],
                               "messages": [message]})

    def status_payload(self, wamid: str, to: str, status: str, *,
                       errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time())),
                                 "recipient_id": to}
        if errors:
            entry["errors"] = errors
        return self._envelope({"statuses": [entry]})

    # ---- control ---------------------------------------------------------------------------
    async def register_webhook(self, request: web.Request) -> web.Response:
        url = (await request.json())["url"]
        challenge = str(next(counter) * 104729)
        status, text = await self.deliver(b"", {}, method="GET", url=(
            f"{url}?hub.mode=subscribe&hub.verify_token={self.verify_token}&hub.challenge={challenge}"))
        valid = status == 200 and text == challenge
        if valid:
            self.webhook_url = url
        return web.json_response({"valid": valid, "status": status}, status=200 if valid else 400)

    async def post_message(self, request: web.Request) -> web.Response:
        spec = await request.json()
        payload = self.message_payload(spec)
        self.last_from[str(spec["from"])] = time.time() - float(spec.get("age_seconds", 0))
        status, text = await self.signed_post(payload)
        return web.json_response({"status": status, "body": text,
                                  "id": payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]})

    async def post_read(self, request: web.Request) -> web.Response:
        wamid = (await request.json())["id"]
        sent = next((s for s in self.sent if s["id"] == wamid), None)
        if sent is None:
            return web.json_response({"error": "unknown message"}, status=404)
        status, _ = await self.signed_post(self.status_payload(wamid, sent["to"], "read"))
        return web.json_response({"status": status})

    async def list_sent(self, request: web.Request) -> web.Response:
        return web.json_response(self.sent)
