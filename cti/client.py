"""An async Python client for the CTI API.

    async with CtiClient("http://127.0.0.1:8080", token) as cti:
        await cti.inbound(channel="shop-chat", sender=("email", "ann@example.com"), text="hi", external_id="m1")
        async for event in cti.events(since=0, types=["interaction.*"]):
            ...

``events()`` follows the WebSocket stream and, when the connection drops, reconnects with
backoff and resumes after the last seq it delivered: the caller sees every event once.
Errors come back as ``CtiApiError`` with the API's status, code, message and details.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp
import orjson

Json = dict[str, Any]


class CtiApiError(Exception):
    """An error answer from the server."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or {}


class CtiClient:
    """Every route of docs/api.md as a coroutine."""

    def __init__(self, base_url: str, token: str, *, session: aiohttp.ClientSession | None = None,
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._own_session = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> CtiClient:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if the client made it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session (made on first use)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(self, method: str, path: str, *, json: Json | None = None,
                      params: dict[str, Any] | None = None) -> Any:
        """Call a route; return the decoded JSON (None for 204) or raise CtiApiError."""
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if json is not None:
            data = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        async with self.session.request(method, self.base_url + path, data=data, params=query, headers=headers,
                                        timeout=self._timeout) as response:
            body = await response.read()
            if response.status >= 400:
                try:
                    error = orjson.loads(body)["error"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    error = {"code": "http_error", "message": body.decode(errors="replace")[:200]}
                raise CtiApiError(response.status, error.get("code", ""), error.get("message", ""),
                                  error.get("details"))
            if response.status == 204 or not body:
                return None
            if response.content_type == "application/json":
                return orjson.loads(body)
            return body.decode()

    # ---- agents ----------------------------------------------------------------------------
    async def create_agent(self, name: str, **fields: Any) -> Json:
        """POST /api/v1/agents"""
        return await self.request("POST", "/api/v1/agents", json={"name": name, **fields})

    async def list_agents(self, **filters: Any) -> Json:
        """GET /api/v1/agents"""
        return await self.request("GET", "/api/v1/agents", params=filters)

    async def get_agent(self, agent_id: str) -> Json:
        """GET /api/v1/agents/{id}"""
        return await self.request("GET", f"/api/v1/agents/{agent_id}")

    async def update_agent(self, agent_id: str, **fields: Any) -> Json:
        """PATCH /api/v1/agents/{id}"""
        return await self.request("PATCH", f"/api/v1/agents/{agent_id}", json=fields)

    async def delete_agent(self, agent_id: str) -> None:
        """DELETE /api/v1/agents/{id}"""
        await self.request("DELETE", f"/api/v1/agents/{agent_id}")

    async def set_agent_state(self, agent_id: str, state: str) -> Json:
        """PUT /api/v1/agents/{id}/state"""
        return await self.request("PUT", f"/api/v1/agents/{agent_id}/state", json={"state": state})

    # ---- contacts and cases ---------------------------------------------------------------
    async def list_contacts(self, **filters: Any) -> Json:
        """GET /api/v1/contacts"""
        return await self.request("GET", "/api/v1/contacts", params=filters)

    async def get_contact(self, contact_id: str) -> Json:
        """GET /api/v1/contacts/{id}"""
        return await self.request("GET", f"/api/v1/contacts/{contact_id}")

    async def link_identity(self, contact_id: str, kind: str, value: str) -> Json:
        """POST /api/v1/contacts/{id}/identities"""
        return await self.request("POST", f"/api/v1/contacts/{contact_id}/identities",
                                  json={"kind": kind, "value": value})

    async def list_cases(self, **filters: Any) -> Json:
        """GET /api/v1/cases"""
        return await self.request("GET", "/api/v1/cases", params=filters)

    async def get_case(self, case_id: str) -> Json:
        """GET /api/v1/cases/{id}"""
        return await self.request("GET", f"/api/v1/cases/{case_id}")

    async def update_case(self, case_id: str, **fields: Any) -> Json:
        """PATCH /api/v1/cases/{id}"""
        return await self.request("PATCH", f"/api/v1/cases/{case_id}", json=fields)

    async def timeline(self, case_id: str) -> Json:
        """GET /api/v1/cases/{id}/timeline"""
        return await self.request("GET", f"/api/v1/cases/{case_id}/timeline")

    # ---- interactions ------------------------------------------------------------------------
    async def inbound(self, *, channel: str, sender: tuple[str, str], text: str, external_id: str,
                      **extra: Any) -> Json:
        """POST /api/v1/inbound (custom-channel API)"""
        body = {"channel": channel, "from": {"kind": sender[0], "value": sender[1]}, "text": text,
                "external_id": external_id, **extra}
        return await self.request("POST", "/api/v1/inbound", json=body)

    async def list_interactions(self, **filters: Any) -> Json:
        """GET /api/v1/interactions"""
        return await self.request("GET", "/api/v1/interactions", params=filters)

    async def get_interaction(self, interaction_id: str) -> Json:
        """GET /api/v1/interactions/{id}"""
        return await self.request("GET", f"/api/v1/interactions/{interaction_id}")

    async def start_interaction(self, channel: str, to: str | Json, **fields: Any) -> Json:
        """POST /api/v1/interactions (MakeCall, outbound email, ...)"""
        return await self.request("POST", "/api/v1/interactions", json={"channel": channel, "to": to, **fields})

    async def _verb(self, interaction_id: str, verb: str, body: Json | None = None) -> Any:
        return await self.request("POST", f"/api/v1/interactions/{interaction_id}/{verb}", json=body or {})

    async def accept(self, interaction_id: str) -> Json:
        """POST /api/v1/interactions/{id}/accept"""
        return await self._verb(interaction_id, "accept")

    async def reject(self, interaction_id: str, reason: str | None = None) -> Json:
        """POST /api/v1/interactions/{id}/reject"""
        return await self._verb(interaction_id, "reject", {"reason": reason} if reason else None)

    async def hold(self, interaction_id: str) -> Json:
        """POST /api/v1/interactions/{id}/hold"""
        return await self._verb(interaction_id, "hold")

    async def resume(self, interaction_id: str) -> Json:
        """POST /api/v1/interactions/{id}/resume"""
        return await self._verb(interaction_id, "resume")

    async def transfer(self, interaction_id: str, *, agent_id: str | None = None, queue: str | None = None,
                       number: str | None = None, participant_id: str | None = None) -> Json:
        """POST /api/v1/interactions/{id}/transfer (``participant_id``: an attended transfer to a consulted party)"""
        body = {k: v for k, v in {"agent_id": agent_id, "queue": queue, "number": number,
                                  "participant_id": participant_id}.items() if v}
        return await self._verb(interaction_id, "transfer", body)

    async def reply(self, interaction_id: str, text: str, mode: str | None = None) -> Json:
        """POST /api/v1/interactions/{id}/messages"""
        return await self._verb(interaction_id, "messages", {"text": text, **({"mode": mode} if mode else {})})

    async def messages(self, interaction_id: str) -> Json:
        """GET /api/v1/interactions/{id}/messages"""
        return await self.request("GET", f"/api/v1/interactions/{interaction_id}/messages")

    async def dtmf(self, interaction_id: str, digits: str) -> Json:
        """POST /api/v1/interactions/{id}/dtmf"""
        return await self._verb(interaction_id, "dtmf", {"digits": digits})

    # ---- pivot links and callbacks -------------------------------------------------------------
    async def pivot(self, interaction_id: str, to: str = "callback", *, send: bool = False, **fields: Any) -> Json:
        """POST /api/v1/interactions/{id}/pivot (fields: mode, expires_in, max_uses)"""
        return await self._verb(interaction_id, "pivot", {"to": to, "send": send, **fields})

    async def list_pivot_links(self, **filters: Any) -> Json:
        """GET /api/v1/pivot-links"""
        return await self.request("GET", "/api/v1/pivot-links", params=filters)

    async def get_pivot_link(self, link_id: str) -> Json:
        """GET /api/v1/pivot-links/{id}"""
        return await self.request("GET", f"/api/v1/pivot-links/{link_id}")

    async def revoke_pivot_link(self, link_id: str) -> Json:
        """DELETE /api/v1/pivot-links/{id}"""
        return await self.request("DELETE", f"/api/v1/pivot-links/{link_id}")

    async def list_callbacks(self, **filters: Any) -> Json:
        """GET /api/v1/callbacks"""
        return await self.request("GET", "/api/v1/callbacks", params=filters)

    async def get_callback(self, callback_id: str) -> Json:
        """GET /api/v1/callbacks/{id}"""
        return await self.request("GET", f"/api/v1/callbacks/{callback_id}")

    async def end(self, interaction_id: str) -> Json:
        """POST /api/v1/interactions/{id}/end"""
        return await self._verb(interaction_id, "end")

    async def wrapup(self, interaction_id: str, disposition: str | None = None, notes: str | None = None) -> Json:
        """POST /api/v1/interactions/{id}/wrapup"""
        body = {k: v for k, v in {"disposition": disposition, "notes": notes}.items() if v is not None}
        return await self._verb(interaction_id, "wrapup", body)

    async def abandon(self, interaction_id: str, reason: str | None = None) -> Json:
        """POST /api/v1/interactions/{id}/abandon"""
        return await self._verb(interaction_id, "abandon", {"reason": reason} if reason else None)

    # ---- routing, stats, admin ----------------------------------------------------------------
    async def queues(self) -> Json:
        """GET /api/v1/queues"""
        return await self.request("GET", "/api/v1/queues")

    async def routing(self) -> Json:
        """GET /api/v1/routing"""
        return await self.request("GET", "/api/v1/routing")

    async def put_routing(self, policy: Json) -> Json:
        """PUT /api/v1/routing"""
        return await self.request("PUT", "/api/v1/routing", json=policy)

    async def realtime_stats(self) -> Json:
        """GET /api/v1/stats/realtime"""
        return await self.request("GET", "/api/v1/stats/realtime")

    async def summary_report(self, *, start: str | None = None, end: str | None = None,
                             group_by: str = "channel") -> Json:
        """GET /api/v1/reports/summary"""
        return await self.request("GET", "/api/v1/reports/summary",
                                  params={"from": start, "to": end, "group_by": group_by})

    async def create_webhook(self, url: str, types: list[str] | None = None, secret: str | None = None) -> Json:
        """POST /api/v1/webhooks"""
        body: Json = {"url": url, "types": types or []}
        if secret:
            body["secret"] = secret
        return await self.request("POST", "/api/v1/webhooks", json=body)

    async def list_webhooks(self) -> Json:
        """GET /api/v1/webhooks"""
        return await self.request("GET", "/api/v1/webhooks")

    async def delete_webhook(self, webhook_id: str) -> None:
        """DELETE /api/v1/webhooks/{id}"""
        await self.request("DELETE", f"/api/v1/webhooks/{webhook_id}")

    async def create_token(self, role: str, agent_id: str | None = None, name: str | None = None) -> Json:
        """POST /api/v1/tokens (the secret is in the answer's 'token', once)"""
        body = {k: v for k, v in {"role": role, "agent_id": agent_id, "name": name}.items() if v is not None}
        return await self.request("POST", "/api/v1/tokens", json=body)

    async def list_tokens(self) -> Json:
        """GET /api/v1/tokens"""
        return await self.request("GET", "/api/v1/tokens")

    async def revoke_token(self, token_id: str) -> None:
        """DELETE /api/v1/tokens/{id}"""
        await self.request("DELETE", f"/api/v1/tokens/{token_id}")

    async def health(self) -> Json:
        """GET /healthz"""
        return await self.request("GET", "/healthz")

    async def readiness(self) -> Json:
        """GET /readyz (answers 503 with the same body when not ready)."""
        async with self.session.get(self.base_url + "/readyz") as response:
            return await response.json()

    async def openapi(self) -> Json:
        """GET /api/v1/openapi.json"""
        return await self.request("GET", "/api/v1/openapi.json")

    # ---- the event stream ------------------------------------------------------------------------
    async def events(self, *, since: int | None = None, types: list[str] | None = None,
                     max_backoff: float = 10.0) -> AsyncIterator[Json]:
        """Every event after ``since`` (live ones too), resuming across dropped connections."""
        last = since
        backoff = 0.2
        url = self.base_url.replace("http", "ws", 1) + "/api/v1/events"
        while True:
            params: dict[str, str] = {}
            if last is not None:
                params["since"] = str(last)
            if types:
                params["types"] = ",".join(types)
            try:
                async with self.session.ws_connect(url, params=params, heartbeat=20,
                                                   headers={"Authorization": f"Bearer {self.token}"}) as ws:
                    backoff = 0.2
                    async for message in ws:
                        if message.type is not aiohttp.WSMsgType.TEXT:
                            break
                        event = orjson.loads(message.data)
                        if last is not None and event["seq"] <= last:
                            continue
                        last = event["seq"]
                        yield event
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    raise CtiApiError(exc.status, "unauthorized", "the event stream refused the token") from exc
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(max_backoff, backoff * 2)
