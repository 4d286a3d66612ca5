"""The web chat's visitor API against a running server: sessions and origins, the live conversation
over a WebSocket (both ways, agent joined, typing, read marks), resuming without loss or repeats,
idempotent resends, the plain-HTTP fallback, attachments, and the attacks: a foreign origin, another
visitor's token, a flood, an oversized message, a file that lies about its type."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from cti.client import CtiApiError
from tests.harness import Harness, make_config, running_server

SHOP = "https://shop.example.com"
ALL_WEEK = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
M = models.messages


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    config = make_config(tmp_path, channels={"webchat": {"allowed_origins": [SHOP], "messages_per_minute": 8,
                                                         "attachment_max_bytes": 4096, "company_name": "Acme"}},
                         pivot={"company_name": "Acme", "opening_hours": ALL_WEEK})
    async with running_server(config) as harness:
        yield harness


class Visitor:
    """A widget, as the server sees it: a token, a socket, the frames it got."""

    def __init__(self, h: Harness, session: aiohttp.ClientSession, token: str) -> None:
        self.h, self.session, self.token = h, session, token
        self.frames: list[dict[str, Any]] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, since: int = 0) -> None:
        self.ws = await self.session.ws_connect(f"{self.h.url}/chat/v1/ws?token={self.token}&since={since}",
                                                headers={"Origin": SHOP})
        self._reader = asyncio.create_task(self._read(self.ws))
        await self.frame("ready")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            self.frames.append(json.loads(msg.data))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def send(self, **frame: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(frame))

    async def frame(self, kind: str, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((f for f in self.frames if f["type"] == kind and all(f.get(k) == v for k, v in match.items())),
                        None)
        return await self.h.wait_for(found, what=f"a {kind} frame {match}")

    def messages(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "message"]

    async def http(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Origin": SHOP, **kwargs.pop("headers", {})}
        async with self.session.request(method, self.h.url + path, headers=headers, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body


async def start(h: Harness, session: aiohttp.ClientSession, **fields: Any) -> Visitor:
    async with session.post(f"{h.url}/chat/v1/sessions", json={"language": "en", **fields},
                            headers={"Origin": SHOP}) as response:
        assert response.status == 201, await response.text()
        assert response.headers["Access-Control-Allow-Origin"] == SHOP
        body = await response.json()
    assert body["conversation_id"].startswith("wv_") and body["features"]["attachments"]["max_bytes"] > 0
    return Visitor(h, session, body["visitor_token"])


async def test_a_visitor_and_an_agent_chat_live_and_a_reconnect_loses_and_repeats_nothing(h: Harness) -> None:
    ann = await h.agent("ann", name="Ann Lee")
    async with aiohttp.ClientSession() as session:
        visitor = await start(h, session, name="Vera", email="vera@asiakas.fi")
        await visitor.connect()
        await visitor.send(type="message", text="<b>Hi</b>, where is my order?", client_id="c1")
        mine = await visitor.frame("message", client_id="c1")
        assert mine["from"] == "visitor" and mine["text"] == "<b>Hi</b>, where is my order?" and mine["seq"] > 0
        await visitor.send(type="message", text="<b>Hi</b>, where is my order?", client_id="c1")  # a resend
        [stored] = await h.services.db.read(lambda c: c.execute(sa.select(M).where(M.c.channel == "webchat")).all())
        interaction = await h.interaction_in_state(stored.interaction_id, "offered")
        contact = await h.admin.get_contact(interaction["contact_id"])
        assert contact["name"] == "Vera" and ("email", "vera@asiakas.fi") in [
            (i["kind"], i["value"]) for i in contact["identities"]]

        await visitor.send(type="typing", state="composing")
        E = models.events
        typing = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(sa.select(E.c.data).where(
            E.c.type == "message.chat_state")).first()), what="the visitor's typing told")
        assert typing.data["from"] == {"kind": "webchat", "value": stored_from(stored)}
        events = h.client(await _token(h, "ann"))
        await ann.accept(stored.interaction_id)
        joined = await visitor.frame("agent_joined")
        assert joined["name"] == "Ann"
        await ann.request("POST", f"/api/v1/interactions/{stored.interaction_id}/typing", json={"state": "composing"})
        await visitor.frame("typing", state="composing")
        await ann.request("POST", f"/api/v1/interactions/{stored.interaction_id}/read", json={"message_id": stored.id})
        await visitor.frame("read", id=stored.id)
        await ann.reply(stored.interaction_id, "It left the warehouse today.")
        answer = await visitor.frame("message", **{"from": "agent"})
        assert answer["text"] == "It left the warehouse today." and answer["agent"] == "Ann"
        await visitor.send(type="read", id=answer["id"])
        await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
            sa.select(M.c.status).where(M.c.id == answer["id"])).scalar() == "read"), what="the reply marked read")
        await events.close()

        # A drop: the widget comes back with since= its last seq and gets only what it missed.
        last = max(f.get("seq", 0) for f in visitor.frames)
        await visitor.close()
        await ann.reply(stored.interaction_id, "Anything else?")
        again = Visitor(h, session, visitor.token)
        await again.connect(since=last)
        missed = await again.frame("message", **{"from": "agent"})
        assert missed["text"] == "Anything else?" and len(again.messages()) == 1, again.frames
        await again.close()
        # A reload: the whole conversation, in order, once each.
        reloaded = Visitor(h, session, visitor.token)
        await reloaded.connect(since=0)
        texts = [(m["from"], m["text"]) for m in reloaded.messages()]
        assert texts == [("visitor", "<b>Hi</b>, where is my order?"), ("agent", "It left the warehouse today."),
                         ("agent", "Anything else?")]
        seqs = [f["seq"] for f in reloaded.frames if "seq" in f and f["type"] != "ready"]
        assert seqs == sorted(set(seqs))
        await reloaded.close()


def stored_from(message: Any) -> str:
    return str(message.external_id).split(":")[0]


async def _token(h: Harness, agent_id: str) -> str:
    return str((await h.admin.create_token("agent", agent_id=agent_id))["token"])


async def test_origins_tokens_and_limits_refuse_and_change_nothing(h: Harness) -> None:
    async with aiohttp.ClientSession() as session:
        for origin in ("https://evil.example.com", None):
            headers = {"Origin": origin} if origin else {}
            async with session.post(f"{h.url}/chat/v1/sessions", json={}, headers=headers) as response:
                assert response.status == 403 and (await response.json())["error"]["code"] == "origin_not_allowed"
                assert "Access-Control-Allow-Origin" not in response.headers
        async with session.options(f"{h.url}/chat/v1/sessions", headers={
                "Origin": SHOP, "Access-Control-Request-Method": "POST"}) as response:
            assert response.status == 204 and response.headers["Access-Control-Allow-Origin"] == SHOP
        assert await h.services.db.read(lambda c: c.execute(
            sa.select(sa.func.count()).select_from(models.chat_visitors)).scalar()) == 0

        alice, mallory = await start(h, session), await start(h, session)
        status, frame = await alice.http("POST", "/chat/v1/messages", json={"text": "my secret order 42",
                                                                            "client_id": "a1"})
        assert status == 201 and frame["seq"] > 0
        status, seen = await mallory.http("GET", "/chat/v1/messages?since=0")
        assert status == 200 and seen["items"] == []
        status, mine = await alice.http("GET", "/chat/v1/messages?since=0")
        assert [m["text"] for m in mine["items"]] == ["my secret order 42"]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{h.url}/chat/v1/ws?token={alice.token}", headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as unknown:
            await session.ws_connect(f"{h.url}/chat/v1/ws?token=wct_{'A' * 43}", headers={"Origin": SHOP})
        assert unknown.value.status == 401
        ann = await h.agent("ann")
        [stored] = await h.services.db.read(lambda c: c.execute(sa.select(M).where(M.c.channel == "webchat")).all())
        await h.interaction_in_state(stored.interaction_id, "offered")
        await ann.accept(stored.interaction_id)
        reply = await ann.reply(stored.interaction_id, "Order 42 ships tomorrow")
        with pytest.raises(CtiApiError) as no_files:
            await ann.request("POST", f"/api/v1/interactions/{stored.interaction_id}/messages", json={
                "text": "a file", "media": {"url": "https://files.example.com/a.png", "type": "image"}})
        assert no_files.value.status == 422 and no_files.value.code == "media_not_supported"
        status, _ = await mallory.http("POST", "/chat/v1/read", json={"id": reply["id"]})
        assert status == 404, "another visitor's conversation is out of reach"

        # Size and flooding: refused with a clear error, nothing stored.
        status, body = await alice.http("POST", "/chat/v1/messages", json={"text": "x" * 4001, "client_id": "big"})
        assert status == 400 and body["error"]["code"] == "message_too_long"
        await alice.connect()
        for n in range(12):
            await alice.send(type="message", text=f"spam {n}", client_id=f"s{n}")
        limited = await alice.frame("error", code="rate_limited")
        assert limited["retry_after"] >= 1 and limited["client_id"].startswith("s")
        tabs = [await session.ws_connect(f"{h.url}/chat/v1/ws?token={alice.token}", headers={"Origin": SHOP})
                for _ in range(5)]  # (with alice's first: six tabs, five allowed)
        assert alice.ws is not None and await h.wait_for(lambda: alice.ws.closed, what="the oldest tab closed")
        assert alice.ws.close_code == 4001 and not any(tab.closed for tab in tabs), "the newest five stay"
        for tab in tabs:
            await tab.close()
        count = await h.services.db.read(lambda c: c.execute(sa.select(sa.func.count()).where(
            M.c.channel == "webchat", M.c.direction == "inbound")).scalar())
        assert count == 8, "the visitor's 8 messages a minute (1 earlier + 7 of the flood)"
        await alice.close()


async def test_attachments_are_checked_kept_and_downloadable_by_the_agent(h: Harness) -> None:
    ann = await h.agent("ann")
    async with aiohttp.ClientSession() as session:
        visitor = await start(h, session)

        async def upload(content: bytes, content_type: str, name: str = "photo.png") -> tuple[int, Any]:
            form = aiohttp.FormData()
            form.add_field("client_id", f"f{len(content)}{content_type[-3:]}")
            form.add_field("file", content, filename=name, content_type=content_type)
            return await visitor.http("POST", "/chat/v1/attachments", data=form)

        status, body = await upload(b"MZ\x90\x00 not an image", "image/png")
        assert status == 415 and body["error"]["code"] == "attachment_type_refused"
        status, body = await upload(b"%PDF-1.4" + b"0" * 5000, "application/pdf", "big.pdf")
        assert status == 413
        status, body = await upload(b"#!/bin/sh", "application/x-sh", "run.sh")
        assert status == 415
        status, frame = await upload(PNG, "image/png", "../../etc/photo.png")
        assert status == 201 and frame["attachments"] == [
            {"filename": "photo.png", "content_type": "image/png", "size": len(PNG), "kept": True}]
        [stored] = await h.services.db.read(lambda c: c.execute(sa.select(M).where(M.c.channel == "webchat")).all())
        await h.interaction_in_state(stored.interaction_id, "offered")
        await ann.accept(stored.interaction_id)
        async with session.get(f"{h.url}/api/v1/messages/{stored.id}/attachments/0",
                               headers={"Authorization": f"Bearer {ann.token}"}) as response:
            assert response.status == 200 and await response.read() == PNG
            assert response.headers["Content-Disposition"].startswith("attachment;")
        stranger = await h.agent("bob")
        async with session.get(f"{h.url}/api/v1/messages/{stored.id}/attachments/0",
                               headers={"Authorization": f"Bearer {stranger.token}"}) as response:
            assert response.status == 403


def test_the_widget_has_every_word_in_five_languages() -> None:
    import re

    from webchat.i18n import LANGUAGES, messages
    from webchat.site import HERE

    english = messages("en")
    for language in LANGUAGES:
        words = messages(language)
        assert set(words) == set(english), (language, set(words) ^ set(english))
        for key, text in words.items():
            assert text.strip() and set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", english[key]))
    named = set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']""", (HERE / "static" / "widget.js").read_text()))
    assert len(named) > 30 and not named - set(english), sorted(named - set(english))


async def test_a_visitor_asks_for_a_callback_on_the_same_case(tmp_path: Path) -> None:
    from tests.harness import CALLS

    config = make_config(tmp_path, channels={"webchat": {"allowed_origins": [SHOP]}}, connectors=CALLS,
                         pivot={"company_name": "Acme", "opening_hours": ALL_WEEK, "callbacks_per_number_per_hour": 1})
    async with running_server(config) as h, aiohttp.ClientSession() as session:
        visitor = await start(h, session)
        status, body = await visitor.http("POST", "/chat/v1/callback", json={"phone": "+358401234567"})
        assert status == 422 and body["error"]["code"] == "conversation_not_started"
        status, _ = await visitor.http("POST", "/chat/v1/messages", json={"text": "call me?", "client_id": "q1"})
        assert status == 201
        for phone, code in (("+5511912345678", "region_not_allowed"), ("+449098790879", "number_type_not_allowed"),
                            ("12345", "invalid_number")):
            status, body = await visitor.http("POST", "/chat/v1/callback", json={"phone": phone})
            assert status == 400 and body["error"]["code"] == code, body
        status, body = await visitor.http("POST", "/chat/v1/callback", json={"phone": "+358401234567",
                                                                             "when": "2020-01-01T10:00:00Z"})
        assert status == 400 and body["error"]["code"] == "invalid_time"
        assert (await h.admin.list_callbacks())["items"] == [], "nothing refused was scheduled"
        status, made = await visitor.http("POST", "/chat/v1/callback", json={"phone": "+358 40 1234567"})
        assert status == 201 and made["number"] == "+358401234567"
        [callback] = (await h.admin.list_callbacks())["items"]
        [stored] = await h.services.db.read(lambda c: c.execute(sa.select(M).where(M.c.channel == "webchat")).all())
        assert callback["id"] == made["callback_id"] and callback["case_id"] == stored.case_id
        status, body = await visitor.http("POST", "/chat/v1/callback", json={"phone": "+358401234567"})
        assert status == 429, "the number's hourly limit holds for the widget as for the pivot page"


async def test_a_waiting_chat_whose_visitor_left_is_abandoned_and_old_visitors_forgotten(h: Harness) -> None:
    from webchat.site import WEBCHAT
    from webchat.sweep import Presence, sweep

    V, I = models.chat_visitors, models.interactions
    async with aiohttp.ClientSession() as session:
        gone, here = await start(h, session), await start(h, session)
        for visitor, text in ((gone, "anyone?"), (here, "hello?")):
            status, _ = await visitor.http("POST", "/chat/v1/messages", json={"text": text, "client_id": "x1"})
            assert status == 201
        await here.connect()
        await h.services.db.write(lambda tx: tx.conn.execute(sa.update(V).values(last_seen_at=tx.now - 3600)))
        await Presence(h.services.db, h.server.app[WEBCHAT].hub).mark()  # (here's socket: seen now)
        await h.services.db.write(lambda tx: tx.conn.execute(sa.insert(V).values(
            id="wv_" + "0" * 27, token_hash="f" * 64, contact_id="nobody", origin=SHOP, created_at=0.0,
            last_seen_at=0.0, expires_at=tx.now - 1)))
        policy = h.services.policies.current
        assert await h.services.db.write(lambda tx: sweep(tx, "webchat", 300.0, policy)) == (1, 1)
        rows = {r.text: r for r in await h.services.db.read(lambda c: c.execute(
            sa.select(M.c.text, I.c.state).select_from(M.join(I, M.c.interaction_id == I.c.id))).all())}
        assert rows["anyone?"].state == "abandoned" and rows["hello?"].state in ("queued", "offered")
        assert await h.services.db.write(lambda tx: sweep(tx, "webchat", 300.0, policy)) == (0, 0), "once"
        await here.close()
