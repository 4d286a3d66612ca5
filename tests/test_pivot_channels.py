"""Pivot links through real connectors: the link goes out as an XMPP chat message through Prosody
(and the customer who got it asks for a callback on the same case), and as an email reply that
lands, threaded, in the customer's Dovecot mailbox."""

from __future__ import annotations

import asyncio
import re
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sip_test_env.chat_client import ChatCustomer
from sip_test_env.mail import MailServer
from sip_test_env.xmpp import XmppServer
from tests.harness import CALLS, running_server
from tests.pivot_helpers import Customer
from tests.test_email_channel import customer_mail, email_config, mail, send, wait_messages
from tests.test_xmpp_channel import CUSTOMER, SUPPORT, chat_messages, connected, xmpp, xmpp_config

__all__ = ["mail", "xmpp"]  # the fixtures


def with_calls(config: Any) -> Any:
    """The channel's configuration plus a connector that places calls (callback links need one)."""
    config.connectors.update(CALLS)
    return config


async def test_a_chat_pivots_to_a_callback_link_sent_over_xmpp(tmp_path: Path, xmpp: XmppServer) -> None:
    async with running_server(with_calls(xmpp_config(tmp_path, xmpp))) as h, \
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


async def test_an_email_pivots_to_a_callback_link_that_arrives_in_the_mailbox(tmp_path: Path, mail: MailServer) -> None:
    async with running_server(with_calls(email_config(tmp_path, mail))) as h:
        ann = await h.agent("ann", name="Ann Virtanen")
        await send(mail, customer_mail("Router broken", "Could you call me?", message_id="<pivot@customer.example>"))
        [first] = await wait_messages(h, 1)
        await h.interaction_in_state(first.interaction_id, "offered")
        await ann.accept(first.interaction_id)
        pivot = await ann.pivot(first.interaction_id, "callback", send=True)

        [raw] = await asyncio.to_thread(mail.wait_for_mail, "customer", 1)
        answer = message_from_bytes(raw, policy=default_policy)
        assert answer["Subject"] == f"Re: Router broken [#{first.case_id}]"
        assert answer["In-Reply-To"] == "<pivot@customer.example>"
        body = answer.get_body(preferencelist=("plain",)).get_content()
        assert pivot["pivot_link"]["url"] in body
        path = "/p/" + re.search(r"/p/([A-Za-z0-9_-]+)", body).group(1)  # type: ignore[union-attr]
        phone = Customer(h.url)
        try:
            status, page, _ = await phone.open(path)
            assert status == 200 and "your message on email" in page
        finally:
            await phone.close()
        assert (await ann.get_pivot_link(pivot["pivot_link"]["id"]))["opened_at"] is not None
