"""Pivot links through real connectors: the link goes out as an XMPP chat message through Prosody,
and the customer who got it asks for a callback on the same case."""

from __future__ import annotations

import re
from pathlib import Path

from sip_test_env.chat_client import ChatCustomer
from sip_test_env.xmpp import XmppServer
from tests.harness import running_server
from tests.pivot_helpers import Customer
from tests.test_xmpp_channel import CUSTOMER, SUPPORT, chat_messages, connected, xmpp, xmpp_config

__all__ = ["xmpp"]  # the fixture


async def test_a_chat_pivots_to_a_callback_link_sent_over_xmpp(tmp_path: Path, xmpp: XmppServer) -> None:
    async with running_server(xmpp_config(tmp_path, xmpp)) as h, \
            ChatCustomer(CUSTOMER, "customerpass", xmpp.port) as chat:
        await connected(h)
        ann = await h.agent("ann", name="Ann Virtanen")
        chat.say(SUPPORT, "Reititin hajosi, voitteko soittaa?")
        [first] = await h.wait_for(lambda: chat_messages(h), what="the chat message stored")
        await h.interaction_in_state(first.interaction_id, "offered")
        await ann.accept(first.interaction_id)
        pivot = await ann.pivot(first.interaction_id, "callback", send=True)
        assert pivot["message"]["status"] == "queued"

        received = await chat.next_message()
        text = str(received["body"])
        assert "Ann at" in text and pivot["pivot_link"]["url"] in text
        path = "/p/" + re.search(r"/p/([A-Za-z0-9_-]+)", text).group(1)  # type: ignore[union-attr]

        phone = Customer(h.url, language="fi")
        try:
            status, page, _ = await phone.open(path)
            assert status == 200 and "Ann" in page and "kanavalla chat" in page
            status, _, _ = await phone.submit(path, phone="+358 40 123 4567", when="now")
            assert status == 200
        finally:
            await phone.close()
        [callback] = (await h.admin.list_callbacks())["items"]
        assert callback["source_interaction_id"] == first.interaction_id and callback["case_id"] == first.case_id
        assert callback["agent_id"] == "ann"
