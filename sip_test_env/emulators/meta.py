"""A Meta Graph API emulator: webhooks for Messenger, Instagram and comments signed as Meta signs
them (X-Hub-Signature-256, hex, over the ASCII-escaped body), the subscription check, the Send API
with its messaging windows (24 h; HUMAN_AGENT tag 7 days; one private reply per comment within
7 days), and comment replies.

Control: ``POST /_control/webhook {"url"}`` (Meta's hub.challenge GET first),
``POST /_control/messenger {"psid", "text", "mid"?, "age_seconds"?}``,
``POST /_control/instagram {"igsid", "text", ...}``, ``POST /_control/comment {"platform", "from",
"message", "comment_id"?, "post_id"?, "age_seconds"?}``; ``GET /_control/sent`` lists Send API
messages and comment replies.
"""

from __future__ import annotations

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


def meta_signature(secret: str, body: bytes) -> str:
    """sha256= + hex HMAC-SHA256 over the raw body, as Meta signs."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class MetaEmulator(Emulator):
    def __init__(self, *, app_secret: str = "meta-app-secret", verify_token: str = "meta-verify-token",
                 page_token: str = "meta-page-token", page_id: str = "100200300", ig_id: str = "178400000",
                 version: str = "v25.0") -> None:
        super().__init__()
        self.app_secret, self.verify_token, self.page_token = app_secret, verify_token, page_token
        self.page_id, self.ig_id, self.version = page_id, ig_id, version
        self.last_from: dict[str, float] = {}  # customer id -> when they last wrote (the window's start)
        self.comments: dict[str, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []
        r = self.app.router
        r.add_get(f"/{version}/me", self.me)
        r.add_post(f"/{version}/me/messages", self.send_api)
        r.add_post(f"/{version}/{page_id}/messages", self.send_api)
        r.add_post(f"/{version}/{{comment_id}}/comments", self.comment_reply)
        r.add_post(f"/{version}/{{comment_id}}/replies", self.comment_reply)
        r.add_post("/_control/webhook", self.register_webhook)
        r.add_post("/_control/messenger", self.post_messenger)
        r.add_post("/_control/instagram", self.post_instagram)
        r.add_post("/_control/comment", self.post_comment)
        r.add_get("/_control/sent", self.list_sent)

    def error_body(self, status: int) -> dict[str, Any]:
        code = 4 if status == 429 else 2
        return {"error": {"message": f"(#{code}) injected {status}", "type": "OAuthException", "code": code,
                          "is_transient": status >= 500, "fbtrace_id": secrets.token_hex(8)}}

    @staticmethod
    def _error(message: str, code: int, subcode: int | None = None, status: int = 400) -> web.Response:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                                 "fbtrace_id": secrets.token_hex(8)}
        if subcode:
            error["error_subcode"] = subcode
        return web.json_response({"error": error}, status=status)

    def _token_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.page_token}" or \
            request.query.get("access_token") == self.page_token

    # ---- the API ---------------------------------------------------------------------------
    async def me(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error("Invalid OAuth access token - Cannot parse access token", 190)
        return web.json_response({"id": self.page_id, "name": "Acme"})

    async def send_api(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error("Invalid OAuth access token - Cannot parse access token", 190)
        body = await request.json()
        recipient, text = body.get("recipient") or {}, (body.get("message") or {}).get("text")
        if not text:
            return self._error("(#100) The parameter message is required", 100)
        now = time.time()
        if "comment_id" in recipient:
            comment = self.comments.get(str(recipient["comment_id"]))
            if comment is None:
                return self._error("(#100) Invalid comment_id", 100)
            if comment.get("private_reply") or now - comment["at"] > 7 * DAY:
                return self._error("(#10) This comment has a private reply already or is older than 7 days", 10,
                                   2018336)
            comment["private_reply"] = True
            to = comment["from"]
        else:
            to = str(recipient.get("id") or "")
            since = now - self.last_from.get(to, 0.0)
            window = 7 * DAY if body.get("messaging_type") == "MESSAGE_TAG" and body.get("tag") == "HUMAN_AGENT" \
                else DAY
            if since > window:
                return self._error("(#10) This message is sent outside of allowed window.", 10, 2018278)
        mid = f"m_{secrets.token_urlsafe(16)}"
        self.sent.append({"kind": "message", "to": to, "recipient": recipient, "text": text, "mid": mid,
                          "messaging_type": body.get("messaging_type"), "tag": body.get("tag")})
        return web.json_response({"recipient_id": to, "message_id": mid})

    async def comment_reply(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return self._error("Invalid OAuth access token - Cannot parse access token", 190)
        comment_id = request.match_info["comment_id"]
        if comment_id not in self.comments:
            return self._error("(#100) Unsupported post request", 100)
        message = (await request.json()).get("message")
        reply_id = f"{comment_id}_{next(counter)}"
        self.sent.append({"kind": "comment_reply", "comment_id": comment_id, "text": message, "id": reply_id})
        return web.json_response({"id": reply_id})

    # ---- control ---------------------------------------------------------------------------
    async def register_webhook(self, request: web.Request) -> web.Response:
        url = (await request.json())["url"]
        challenge = str(next(counter) * 7919)
        status, text = await self.deliver(b"", {}, method="GET", url=(
            f"{url}?hub.mode=subscribe&hub.verify_token={self.verify_token}&hub.challenge={challenge}"))
        valid = status == 200 and text == challenge
        if valid:
            self.webhook_url = url
        return web.json_response({"valid": valid, "status": status}, status=200 if valid else 400)

    async def signed_post(self, payload: dict[str, Any]) -> tuple[int, str]:
        body = json.dumps(payload, ensure_ascii=True).encode()  # Meta escapes non-ASCII before signing
        return await self.deliver(body, {"Content-Type": "application/json",
                                         "X-Hub-Signature-256": meta_signature(self.app_secret, body)})

    def message_payload(self, platform: str, sender: str, text: str, *, mid: str | None = None,
                        age_seconds: float = 0.0) -> dict[str, Any]:
        at = time.time() - age_seconds
        self.last_from[sender] = max(self.last_from.get(sender, 0.0), at)
        owner = self.page_id if platform == "messenger" else self.ig_id
        event = {"sender": {"id": sender}, "recipient": {"id": owner}, "timestamp": int(at * 1000),
                 "message": {"mid": mid or f"m_{secrets.token_urlsafe(16)}", "text": text}}
        return {"object": "page" if platform == "messenger" else "instagram",
                "entry": [{"id": owner, "time": int(time.time() * 1000), "messaging": [event]}]}

    def comment_payload(self, spec: dict[str, Any]) -> dict[str, Any]:
        platform = spec.get("platform", "messenger")
        author = spec.get("from") or {"id": "5550001", "name": "Dana"}
        comment_id = str(spec.get("comment_id") or f"{self.page_id}_{next(counter)}")
        at = time.time() - float(spec.get("age_seconds", 0))
        self.comments[comment_id] = {"from": str(author["id"]), "at": at}
        if platform == "messenger":
            value = {"item": "comment", "verb": "add", "comment_id": comment_id,
                     "post_id": spec.get("post_id", f"{self.page_id}_1"), "from": author,
                     "message": spec.get("message", ""), "created_time": int(at)}
            return {"object": "page", "entry": [{"id": self.page_id, "time": int(time.time() * 1000),
                                                 "changes": [{"field": "feed", "value": value}]}]}
        value = {"id": comment_id, "text": spec.get("message", ""), "from": {"id": str(author["id"]),
                                                                              "username": author.get("name")},
                 "media": {"id": spec.get("post_id", "17890000")}}
        return {"object": "instagram", "entry": [{"id": self.ig_id, "time": int(time.time() * 1000),
                                                  "changes": [{"field": "comments", "value": value}]}]}

    async def post_messenger(self, request: web.Request) -> web.Response:
        spec = await request.json()
        status, text = await self.signed_post(self.message_payload(
            "messenger", str(spec["psid"]), spec.get("text", ""), mid=spec.get("mid"),
            age_seconds=float(spec.get("age_seconds", 0))))
        return web.json_response({"status": status, "body": text})

    async def post_instagram(self, request: web.Request) -> web.Response:
        spec = await request.json()
        status, text = await self.signed_post(self.message_payload(
            "instagram", str(spec["igsid"]), spec.get("text", ""), mid=spec.get("mid"),
            age_seconds=float(spec.get("age_seconds", 0))))
        return web.json_response({"status": status, "body": text})

    async def post_comment(self, request: web.Request) -> web.Response:
        status, text = await self.signed_post(self.comment_payload(await request.json()))
        return web.json_response({"status": status, "body": text})

    async def list_sent(self, request: web.Request) -> web.Response:
        return web.json_response(self.sent)
