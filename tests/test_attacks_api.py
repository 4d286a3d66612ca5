"""The API attacked by an insider and by a stranger: an agent naming another agent's ids (in paths,
bodies and queries), identities shaped to walk out of a vendor's URL path, tokens that outlive their
agent, and an outbox that must never resend without end. Each test is the attack that found it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from cti.app import all_routes
from cti.services.actors import Role
from sip_test_env.emulators.x import XEmulator
from tests.harness import CALLS, Harness, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET
from tests.receiver import Receiver

# Bodies that pass validation, so that a refusal can only come from the ownership check.
BODIES: dict[str, dict[str, Any]] = {
    "messages": {"text": "I read your case"}, "transfer": {"queue": "default"}, "dtmf": {"digits": "1"},
    "wrapup": {"disposition": "solved"}, "pivot": {"to": "callback", "send": False},
    "softphone": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}, "reject": {},
    "state": {"state": "away"}, "notes": {"text": "I read your case"},
    "participants": {"number": "2001", "mode": "conference"}, "{pid}": {"mode": "conference"},
    "recording": {"action": "start"}, "decline": {}, "typing": {"state": "composing"},
    "read": {"message_id": "msg_" + "0" * 27},
}
# What an agent may read of a colleague: the roster (transfer targets).
SHARED = {("GET", "/api/v1/agents/{id}")}


async def bobs_work(h: Harness) -> dict[str, str]:
    """Bob's accepted conversation with a pivot link: the ids Alice will try."""
    bob = await h.agent("bob")
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", "carol@example.com"),
                                   text="my router died", external_id="bob-1")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    await bob.accept(iid)
    await bob.reply(iid, "on it")
    link = (await bob.pivot(iid, "callback", send=False))["pivot_link"]
    return {"interaction": iid, "case": stored["case_id"], "contact": stored["contact_id"], "agent": "bob",
            "message": stored["message"]["id"],
            "pivot-link": link["id"], "callback": "cbk_doesnotexist", "recording": "rec_doesnotexist",
            "url": link["url"]}


def _path_for(path: str, ids: dict[str, str]) -> str:
    for prefix, kind in (("/api/v1/interactions/", "interaction"), ("/api/v1/cases/", "case"),
                         ("/api/v1/contacts/", "contact"), ("/api/v1/agents/", "agent"),
                         ("/api/v1/pivot-links/", "pivot-link"), ("/api/v1/callbacks/", "callback"),
                         ("/api/v1/recordings/", "recording"), ("/api/v1/messages/", "message")):
        if path.startswith(prefix):
            return path.replace("{id}", ids[kind]).replace("{pid}", "pty_doesnotexist").replace("{n}", "0")
    raise AssertionError(f"a route with an id this test does not know: {path} (add it here)")


async def test_an_agent_reaches_nothing_of_another_agents_work(tmp_path: Path, shop: Receiver) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        ids = await bobs_work(h)
        await h.agent("alice")
        alice_token = (await h.admin.create_token("agent", agent_id="alice"))["token"]
        walked = []
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {alice_token}"}) as session:
            for spec in all_routes().routes:
                if spec.role is not Role.AGENT or "{id}" not in spec.path or (spec.method, spec.path) in SHARED:
                    continue
                url = h.url + _path_for(spec.path, ids)
                body = BODIES.get(spec.path.rsplit("/", 1)[-1]) if spec.method != "GET" else None
                async with session.request(spec.method, url, json=body) as response:
                    assert response.status in (403, 404), f"{spec.method} {spec.path} answered {response.status}"
                walked.append(spec.path)
            assert len(walked) >= 15, walked

            # Ids in bodies: a new interaction on Bob's case would have opened the case to Alice.
            async with session.post(h.url + "/api/v1/interactions", json={
                    "channel": "shop-chat", "to": {"kind": "email", "value": "carol@example.com"},
                    "case_id": ids["case"], "text": "hello from alice"}) as response:
                assert response.status == 403, await response.text()
                assert (await response.json())["error"]["code"] == "not_your_case"
            async with session.get(h.url + f"/api/v1/cases/{ids['case']}/timeline") as response:
                assert response.status == 403

            # Ids in queries: filters never widen what an agent sees.
            for path, key, value in (("/api/v1/interactions", "case_id", ids["case"]),
                                     ("/api/v1/cases", "contact_id", ids["contact"]),
                                     ("/api/v1/pivot-links", "case_id", ids["case"]),
                                     ("/api/v1/callbacks", "agent_id", "bob")):
                async with session.get(h.url + path, params={key: value}) as response:
                    assert response.status == 200 and (await response.json())["items"] == [], path

        # Nothing of Bob's changed.
        assert (await h.admin.get_interaction(ids["interaction"]))["state"] == "active"
        assert (await h.admin.get_case(ids["case"]))["status"] == "open"
        link = (await h.admin.request("GET", f"/api/v1/pivot-links/{ids['pivot-link']}"))
        assert link["status"] == "active"
        await h.wait_for(lambda: shop.received, what="Bob's reply at the shop")
        assert [r["body"]["message"]["text"] for r in shop.received] == ["on it"], "only Bob's own reply went out"


async def test_identities_are_checked_by_shape_where_they_enter(tmp_path: Path) -> None:
    x = XEmulator()
    await x.start()
    try:
        config = make_config(tmp_path, connectors={"x": {
            "consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token, "account_id": x.account_id,
            "api_base": x.url}}, channels={"custom": [{"name": "shop-chat", "outbound_url": "http://127.0.0.1:9/",
                                                       "secret": SHOP_SECRET}]},
            webhooks={"initial_backoff": 0.05, "max_backoff": 0.1, "max_attempts": 2})
        async with running_server(config) as h:
            await h.wait_for(lambda: h.services.connector_health.get("x") == "connected", what="x up")
            ann = await h.agent("ann")
            for kind, value in (("x", "../../tweets?x="), ("x", "12/34"), ("facebook", "me/feed"),
                                ("instagram", "1 2"), ("xmpp", "a b@c/x"), ("sip", "sip:a@b\r\nVia: x")):
                with pytest.raises(Exception) as refused:
                    await ann.request("POST", "/api/v1/interactions", json={
                        "channel": "x", "to": {"kind": kind, "value": value}, "text": "hello"})
                assert getattr(refused.value, "status", None) == 400, (kind, value, refused.value)
                with pytest.raises(Exception) as refused:
                    await h.admin.inbound(channel="shop-chat", sender=(kind, value), text="hi",
                                          external_id=f"bad-{kind}-{len(value)}")
                assert getattr(refused.value, "status", None) == 400, (kind, value)

            # An identity stored before validation existed still cannot leave the DM path.
            started = await ann.request("POST", "/api/v1/interactions", json={
                "channel": "x", "to": {"kind": "x", "value": "4455"}})
            iid = started["interaction"]["id"]
            ID = models.identities
            await h.services.db.write(lambda tx: tx.conn.execute(
                sa.update(ID).where(ID.c.kind == "x", ID.c.value == "4455").values(value="../../tweets?x=")))
            await ann.reply(iid, "standalone public tweet?")

            async def done() -> dict[str, Any] | None:
                items = (await ann.messages(iid))["items"]
                return items[0] if items and items[0]["status"] in ("sent", "failed") else None

            message = await h.wait_for(done, what="the DM settled")
            assert x.tweets == [], "nothing was tweeted"
            assert message["status"] == "failed"
    finally:
        await x.stop()


async def test_tokens_expire_die_with_their_agent_and_say_why(tmp_path: Path) -> None:
    async with running_server(make_config(tmp_path)) as h:
        await h.admin.create_agent("Eve", id="eve")
        live = (await h.admin.create_token("agent", agent_id="eve"))["token"]
        short = await h.admin.request("POST", "/api/v1/tokens", json={"role": "agent", "agent_id": "eve",
                                                                     "expires_in": 0.5})
        assert short["expires_at"] is not None
        async with aiohttp.ClientSession() as session:
            async def me(token: str) -> tuple[int, dict[str, Any], str]:
                async with session.get(h.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}) as r:
                    return r.status, await r.json(), r.headers.get("WWW-Authenticate", "")

            assert (await me(live))[0] == 200
            assert (await me(short["token"]))[0] == 200

            async def expired() -> bool:
                status, body, _ = await me(short["token"])
                return status == 401 and body["error"]["code"] == "token_expired"

            await h.wait_for(expired, what="the short token expired")
            status, body, challenge = await me("cti_" + "x" * 43)
            assert (status, body["error"]["code"]) == (401, "invalid_token")
            assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
            async with session.get(h.url + "/api/v1/me") as response:
                assert response.status == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="cti"'

            await h.admin.request("DELETE", "/api/v1/agents/eve")
            status, body, _ = await me(live)
            assert (status, body["error"]["code"]) == (401, "token_revoked"), "deleted agent, dead token"
            tokens = (await h.admin.request("GET", "/api/v1/tokens"))["items"]
            assert all(t["revoked_at"] for t in tokens if t["agent_id"] == "eve")


async def test_the_outbox_never_resends_without_end(tmp_path: Path) -> None:
    """A far end that answers every reply with the same external id (and one that always fails)."""
    receiver = Receiver(SHOP_SECRET)
    receiver.answer = {"external_id": "always-the-same"}
    await receiver.start()
    channels = {"custom": [{"name": "shop-chat", "outbound_url": receiver.url("/replies"), "secret": SHOP_SECRET}]}
    config = make_config(tmp_path, channels=channels,
                         webhooks={"initial_backoff": 0.05, "max_backoff": 0.2, "max_attempts": 3})
    try:
        async with running_server(config) as h:
            ann = await h.agent("ann")
            stored = await h.admin.inbound(channel="shop-chat", sender=("email", "d@example.com"), text="hi",
                                           external_id="always-the-same")  # an inbound id equal to theirs
            iid = stored["interaction_id"]
            await h.interaction_in_state(iid, "offered")
            await ann.accept(iid)
            for text in ("one", "two", "three"):
                await ann.reply(iid, text)

            async def all_sent() -> bool:
                items = (await ann.messages(iid))["items"]
                return sum(m["status"] == "sent" for m in items) == 3

            await h.wait_for(all_sent, what="three replies sent")
            texts = [r["body"]["message"]["text"] for r in receiver.received]
            assert sorted(texts) == ["one", "three", "two"], "each reply delivered exactly once"
            again = await h.admin.inbound(channel="shop-chat", sender=("email", "d@example.com"), text="hi",
                                          external_id="always-the-same")
            assert again["duplicate"] is True, "the inbound message is still stored once"

            receiver.status = 503  # the far end is down for good: a limited number of tries, then failed
            await ann.reply(iid, "four")

            async def failed() -> dict[str, Any] | None:
                items = (await ann.messages(iid))["items"]
                return next((m for m in items if m["text"] == "four" and m["status"] == "failed"), None)

            message = await h.wait_for(failed, what="the reply failed after its tries")
            assert "503" in message["error"]
            timeline = await ann.timeline(stored["case_id"])
            [four] = [m for m in timeline["messages"] if m["text"] == "four"]
            assert four["status"] == "failed" and four["delivery"]["attempts"] == 3, "three tries, then failed"
            assert [m["text"] for m in timeline["messages"]] == ["hi", "one", "two", "three", "four"]
            kinds = [e["type"] for e in timeline["entries"] if e["type"].startswith("message.")]
            assert kinds.count("message.queued") == 4 and kinds.count("message.retrying") == 2
    finally:
        await receiver.stop()


async def test_a_pivot_form_with_invalid_utf8_is_a_4xx(tmp_path: Path, shop: Receiver) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        ids = await bobs_work(h)
        path = "/p/" + ids["url"].rsplit("/p/", 1)[1]
        async with aiohttp.ClientSession() as session:
            for body in (b"phone=%FF%FE\xff&csrf=\xc3(", b"phone=\xff\xfe&when=now"):
                async with session.post(h.url + path + "/callback", data=body, headers={
                        "Content-Type": "application/x-www-form-urlencoded"}) as response:
                    assert 400 <= response.status < 500, response.status
        link = await h.admin.request("GET", f"/api/v1/pivot-links/{ids['pivot-link']}")
        assert link["status"] == "active" and link["uses"] == 0


def test_every_agent_route_with_an_id_is_walked() -> None:
    """The walk above knows every kind of id an agent route names (a new route fails here first)."""
    for spec in all_routes().routes:
        if spec.role is Role.AGENT and "{" in spec.path:
            assert re.fullmatch(r".*\{id\}[^{}]*(/\{(pid|n)\}(/[a-z]+)?)?", spec.path), spec.path
            _path_for(spec.path, {k: "x" for k in ("interaction", "case", "contact", "agent", "pivot-link",
                                                   "callback", "recording", "message")})
