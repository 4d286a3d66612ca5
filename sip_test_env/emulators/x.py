"""An X API emulator: Account Activity webhooks signed as X signs them (CRC check at registration),
the v2 endpoints the connector calls (users/me, tweets, DMs, mentions timeline) with
x-rate-limit-* headers and 429s on demand.

Control: ``POST /_control/webhook {"url"}`` registers a webhook (X's CRC GET first);
``POST /_control/mention {"user": {...}, "text", "id"?}`` and ``POST /_control/dm {...}`` post a
signed event to it and answer with the server's status; ``GET /_control/tweets`` and
``GET /_control/dms`` list what was posted through the API.
"""

from __future__ import annotations

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

ids = itertools.count(1_790_000_000_000_000_000)


def x_signature(secret: str, data: bytes) -> str:
    """sha256= + base64 HMAC-SHA256: X's webhook signature and CRC answer."""
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


class XEmulator(Emulator):
    def __init__(self, *, consumer_secret: str = "x-consumer-secret", bearer_token: str = "x-bearer-token",
                 account_id: str = "1000", handle: str = "acme", rate_limit: int = 300) -> None:
        super().__init__()
        self.consumer_secret, self.bearer_token, self.account_id, self.handle = (
            consumer_secret, bearer_token, account_id, handle)
        self.rate_limit, self.remaining, self.reset_at = rate_limit, rate_limit, int(time.time()) + 900
        self.tweets: list[dict[str, Any]] = []  # posted through the API
        self.dms: list[dict[str, Any]] = []
        self.mentions: list[dict[str, Any]] = []  # the mentions timeline (v2 shape)
        users: dict[str, dict[str, Any]] = {}
        self.users = users
        r = self.app.router
        r.add_get("/2/users/me", self.me)
        r.add_post("/2/tweets", self.create_tweet)
        r.add_post("/2/dm_conversations/with/{participant}/messages", self.send_dm)
        r.add_get("/2/users/{id}/mentions", self.mentions_timeline)
        r.add_post("/_control/webhook", self.register_webhook)
        r.add_post("/_control/mention", self.post_mention)
        r.add_post("/_control/dm", self.post_dm)
        r.add_get("/_control/tweets", self.list_tweets)
        r.add_get("/_control/dms", self.list_dms)

    async def list_tweets(self, request: web.Request) -> web.Response:
        return web.json_response(self.tweets)

    async def list_dms(self, request: web.Request) -> web.Response:
        return web.json_response(self.dms)

    # ---- the API ---------------------------------------------------------------------------
    def _limits(self) -> dict[str, str]:
        if time.time() >= self.reset_at:
            self.remaining, self.reset_at = self.rate_limit, int(time.time()) + 900
        self.remaining = max(0, self.remaining - 1)
        return {"x-rate-limit-limit": str(self.rate_limit), "x-rate-limit-remaining": str(self.remaining),
                "x-rate-limit-reset": str(self.reset_at)}

    def _authorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.bearer_token}":
            return web.json_response({"title": "Unauthorized", "type": "about:blank", "status": 401,
                                      "detail": "Unauthorized"}, status=401)
        if self.remaining <= 0 and time.time() < self.reset_at:
            return web.json_response({"title": "Too Many Requests", "status": 429, "detail": "Too Many Requests"},
                                     status=429, headers=self._limits())
        return None

    async def me(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused:
            return refused
        return web.json_response({"data": {"id": self.account_id, "name": "Acme Support", "username": self.handle}},
                                 headers=self._limits())

    async def create_tweet(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused:
            return refused
        body = await request.json()
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return web.json_response({"errors": [{"message": "text is required"}], "title": "Invalid Request",
                                      "status": 400}, status=400, headers=self._limits())
        tweet = {"id": str(next(ids)), "text": text, "reply": body.get("reply")}
        self.tweets.append(tweet)
        return web.json_response({"data": {"id": tweet["id"], "text": text, "edit_history_tweet_ids": [tweet["id"]]}},
                                 status=201, headers=self._limits())

    async def send_dm(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused:
            return refused
        participant = request.match_info["participant"]
        text = (await request.json()).get("text")
        if not isinstance(text, str) or not text or len(text) > 10_000:
            return web.json_response({"errors": [{"message": "text must be 1 to 10000 characters"}], "status": 400},
                                     status=400, headers=self._limits())
        event_id = str(next(ids))
        low, high = sorted([participant, self.account_id], key=int)
        self.dms.append({"dm_event_id": event_id, "to": participant, "text": text})
        return web.json_response({"data": {"dm_conversation_id": f"{low}-{high}", "dm_event_id": event_id}},
                                 status=201, headers=self._limits())

    async def mentions_timeline(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused:
            return refused
        since = int(request.query.get("since_id") or 0)
        newer = [m for m in self.mentions if int(m["id"]) > since][-100:]
        newer.reverse()  # newest first, as X answers
        body: dict[str, Any] = {"meta": {"result_count": len(newer)}}
        if newer:
            body["data"] = newer
            body["meta"].update(newest_id=newer[0]["id"], oldest_id=newer[-1]["id"])
            authors = {m["author_id"] for m in newer}
            body["includes"] = {"users": [self._v2_user(self.users[a]) for a in authors if a in self.users]}
        return web.json_response(body, headers=self._limits())

    @staticmethod
    def _v2_user(user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id_str"], "name": user.get("name"), "username": user.get("screen_name"),
                "public_metrics": {"followers_count": user.get("followers_count", 0)}}

    # ---- control ---------------------------------------------------------------------------
    async def register_webhook(self, request: web.Request) -> web.Response:
        url = (await request.json())["url"]
        token = secrets.token_urlsafe(24)
        status, text = await self.deliver(b"", {}, url=f"{url}?crc_token={token}", method="GET")
        valid = status == 200 and json.loads(text).get("response_token") == x_signature(
            self.consumer_secret, token.encode())
        if valid:
            self.webhook_url = url
        return web.json_response({"valid": valid, "status": status}, status=200 if valid else 400)

    def _user(self, spec: dict[str, Any]) -> dict[str, Any]:
        user = {"id": int(spec.get("id", 2244994945)), "id_str": str(spec.get("id", 2244994945)),
                "name": spec.get("name", "Dana"), "screen_name": spec.get("screen_name", "dana"),
                "followers_count": int(spec.get("followers_count", 120)), "verified": bool(spec.get("verified"))}
        self.users[user["id_str"]] = user
        return user

    async def signed_post(self, payload: dict[str, Any]) -> tuple[int, str]:
        """Deliver an Account Activity payload signed as X does."""
        body = json.dumps(payload).encode()
        return await self.deliver(body, {"Content-Type": "application/json",
                                         "x-twitter-webhooks-signature": x_signature(self.consumer_secret, body)})

    def mention_payload(self, spec: dict[str, Any]) -> dict[str, Any]:
        user = self._user(spec.get("user") or {})
        tweet_id = str(spec.get("id") or next(ids))
        text = spec.get("text") or f"@{self.handle} hello"
        tweet = {"created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime()), "id": int(tweet_id),
                 "id_str": tweet_id, "text": text, "user": user, "lang": spec.get("lang", "en"),
                 "in_reply_to_status_id_str": spec.get("in_reply_to"),
                 "entities": {"user_mentions": [{"screen_name": self.handle, "id_str": self.account_id}]}}
        if not any(m["id"] == tweet_id for m in self.mentions):
            self.mentions.append({"id": tweet_id, "text": text, "author_id": user["id_str"], "lang": tweet["lang"]})
        return {"for_user_id": self.account_id, "user_has_blocked": "false", "tweet_create_events": [tweet]}

    def dm_payload(self, spec: dict[str, Any]) -> dict[str, Any]:
        user = self._user(spec.get("user") or {})
        event_id = str(spec.get("id") or next(ids))
        event = {"type": "message_create", "id": event_id, "created_timestamp": str(int(time.time() * 1000)),
                 "message_create": {"target": {"recipient_id": self.account_id}, "sender_id": user["id_str"],
                                    "message_data": {"text": spec.get("text") or "hi", "entities": {}}}}
        return {"for_user_id": self.account_id, "direct_message_events": [event],
                "users": {user["id_str"]: {"id": user["id_str"], "name": user["name"],
                                           "screen_name": user["screen_name"],
                                           "followers_count": user["followers_count"]}}}

    async def post_mention(self, request: web.Request) -> web.Response:
        status, text = await self.signed_post(self.mention_payload(await request.json()))
        return web.json_response({"status": status, "body": text})

    async def post_dm(self, request: web.Request) -> web.Response:
        status, text = await self.signed_post(self.dm_payload(await request.json()))
        return web.json_response({"status": status, "body": text})
