"""The XMPP channel against a real Prosody on loopback, with a support and a customer account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cti import models
from sip_test_env.chat_client import ChatCustomer
from sip_test_env.xmpp import XmppServer
from tests.harness import Harness, make_config, running_server

SUPPORT, CUSTOMER = "support@localhost", "customer@localhost"


@pytest.fixture
async def xmpp() -> AsyncIterator[XmppServer]:
    server = await asyncio.to_thread(XmppServer().start)
    yield server
    await asyncio.to_thread(server.stop)


def xmpp_config(data_dir: Path, server: XmppServer, **overrides: Any) -> Any:
    settings = {"jid": SUPPORT, "password": "supportpass", "host": "127.0.0.1", "port": server.port, "tls": "none",
                "reconnect_max_seconds": 1.0, **overrides}
    return make_config(data_dir, connectors={"xmpp": settings})


async def connected(h: Harness) -> None:
    await h.wait_for(lambda: h.services.connector_health.get("xmpp") == "connected", what="xmpp connected")


async def chat_messages(h: Harness) -> list[Any]:
    M = models.messages
    return await h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "xmpp", M.c.direction == "inbound").order_by(M.c.created_at)).all())


async def test_chat_opens_an_interaction_and_typing_reaches_the_agents_event_stream(tmp_path: Path,
                                                                                     xmpp: XmppServer) -> None:
    async with running_server(xmpp_config(tmp_path, xmpp)) as h, \
            ChatCustomer(CUSTOMER, "customerpass", xmpp.port) as customer:
        await connected(h)
        ann = await h.agent("ann")
        customer.say(SUPPORT, "Hei! Tilaukseni on kadonnut.")
        [first] = await h.wait_for(lambda: chat_messages(h), what="the chat message stored")
        assert first.text == "Hei! Tilaukseni on kadonnut."
        contact = await h.admin.get_contact((await h.admin.get_case(first.case_id))["contact_id"])
        assert {"kind": "xmpp", "value": CUSTOMER} in [{"kind": i["kind"], "value": i["value"]}
                                                       for i in contact["identities"]]
        await h.interaction_in_state(first.interaction_id, "offered")
        await ann.accept(first.interaction_id)

        seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def follow() -> None:
            async for event in ann.events(types=["message.chat_state", "message.received"]):
                await seen.put(event)

        follower = asyncio.get_running_loop().create_task(follow())
        try:
            await asyncio.sleep(0)  # let the stream connect; the events below are live or replayed either way
            customer.typing(SUPPORT, "composing")
            event = await asyncio.wait_for(seen.get(), 10)
            while event["type"] != "message.chat_state":
                event = await asyncio.wait_for(seen.get(), 10)
            assert event["interaction_id"] == first.interaction_id
            assert event["data"]["state"] == "composing" and event["data"]["from"]["value"] == CUSTOMER

            customer.say(SUPPORT, "Tilausnumero on 42.")
            second = await asyncio.wait_for(seen.get(), 10)
            while second["type"] != "message.received":
                second = await asyncio.wait_for(seen.get(), 10)
            assert second["interaction_id"] == first.interaction_id  # the same conversation continues
        finally:
            follower.cancel()

        await ann.reply(first.interaction_id, "Katsotaan heti!")
        reply = await customer.next_message()
        assert reply["body"] == "Katsotaan heti!" and reply["from"].bare == SUPPORT and reply["type"] == "chat"


async def test_presence_shows_whether_support_is_available(tmp_path: Path, xmpp: XmppServer) -> None:
    async with running_server(xmpp_config(tmp_path, xmpp, presence_refresh_seconds=0.2)) as h, \
            ChatCustomer(CUSTOMER, "customerpass", xmpp.port) as customer:
        await connected(h)
        customer.subscribe(SUPPORT)
        await h.wait_for(lambda: customer.presence.get(SUPPORT, ("", ""))[0] == "away",
                         what="support shown away while no agent is available")
        ann = await h.agent("ann")
        await h.wait_for(lambda: customer.presence.get(SUPPORT, ("", ""))[0] == "chat",
                         what="support shown available once an agent is")
        assert customer.presence[SUPPORT][1] == "Support is available"
        await ann.set_agent_state("ann", "away")
        await h.wait_for(lambda: customer.presence.get(SUPPORT, ("", ""))[0] == "away",
                         what="support shown away again")


async def test_unexpected_stanzas_are_logged_and_never_break_the_channel(tmp_path: Path, xmpp: XmppServer) -> None:
    async with running_server(xmpp_config(tmp_path, xmpp, max_body_chars=1000)) as h, \
            ChatCustomer(CUSTOMER, "customerpass", xmpp.port) as customer:
        await connected(h)
        customer.send_raw(f"<message to='{SUPPORT}' type='groupchat'><body>room talk</body></message>")
        customer.send_raw(f"<message to='{SUPPORT}' type='headline'><body>news</body></message>")
        customer.send_raw(f"<message to='{SUPPORT}' type='chat'><weird xmlns='urn:example:x'><deep/></weird>"
                          "</message>")
        customer.send_raw(f"<message to='{SUPPORT}' type='chat' id='x1'><body>with extras</body>"
                          "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>"
                          "<p>with <b>extras</b></p></body></html><unknown xmlns='urn:example:y'/></message>")
        customer.send_raw(f"<iq to='{SUPPORT}' type='get' id='q1'><query xmlns='urn:example:nothing'/></iq>")
        customer.say(SUPPORT, "x" * 5000)
        customer.say(SUPPORT, "the last one")

        async def last_stored() -> list[Any] | None:
            rows = await chat_messages(h)
            return rows if rows and rows[-1].text == "the last one" else None

        rows = await h.wait_for(last_stored, what="the last message stored")
        assert [r.text for r in rows[:-1]] == ["with extras", "x" * 1000 + "\n[message shortened: over the size limit]"]
        assert h.services.connector_health["xmpp"] == "connected"


async def test_wrong_password_shows_bad_credentials(tmp_path: Path, xmpp: XmppServer) -> None:
    async with running_server(xmpp_config(tmp_path, xmpp, password="wrong")) as h:
        await h.wait_for(lambda: h.services.connector_health.get("xmpp") == "bad_credentials",
                         what="bad_credentials health")
        body = await h.admin.readiness()
        assert body["connectors"]["xmpp"] == "bad_credentials" and body["status"] == "degraded"


async def test_starttls_with_the_servers_certificate(tmp_path: Path) -> None:
    server = await asyncio.to_thread(XmppServer(tls=True).start)
    try:
        cert = str(server.cert)
        config = make_config(tmp_path, connectors={"xmpp": {
            "jid": SUPPORT, "password": "supportpass", "host": "127.0.0.1", "port": server.port, "ca_file": cert}})
        async with running_server(config) as h, \
                ChatCustomer(CUSTOMER, "customerpass", server.port, ca_file=cert) as customer:
            await connected(h)
            assert h.services.connectors.running["xmpp"].client.socket.version().startswith("TLS")
            customer.say(SUPPORT, "salattu viesti")
            [first] = await h.wait_for(lambda: chat_messages(h), what="the message over TLS stored")
            assert first.text == "salattu viesti"
    finally:
        await asyncio.to_thread(server.stop)
