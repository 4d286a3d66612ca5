"""The far end of each channel, driven the same way by the connector contract suite.

A far end is the customer's side of a real network: a mailbox on Dovecot, an XMPP account on
Prosody, a shop backend taking signed POSTs, a JSON-lines chat service, a customer on X or
Messenger behind the vendor emulators. Each can send the
server an inbound item (the same key means the same external item, sent again), wait for a
reply to arrive, and go down and come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from abc import ABC, abstractmethod
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from sip_test_env.chat_client import ChatCustomer
from sip_test_env.emulators.meta import MetaEmulator
from sip_test_env.emulators.twilio import TwilioEmulator
from sip_test_env.emulators.whatsapp import WhatsAppEmulator
from sip_test_env.emulators.x import XEmulator
from sip_test_env.mail import MailServer
from sip_test_env.xmpp import XmppServer
from tests.receiver import Receiver

SHOP_SECRET = "shop-secret-0123456789"


class FarEnd(ABC):
    channel: str
    identity: tuple[str, str]

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Config sections that switch the channel on."""

    @abstractmethod
    async def send_inbound(self, key: str, text: str) -> None:
        """Send the server one item; the same key is the same external item."""

    @abstractmethod
    async def replies(self) -> list[str]:
        """Texts of the replies that reached the customer so far."""

    @abstractmethod
    async def go_down(self) -> None: ...

    @abstractmethod
    async def come_back(self) -> None: ...

    harness: Any = None  # the running server, for far ends whose inbound goes through the API


class EmailFarEnd(FarEnd):
    channel, identity = "email", ("email", "customer@example.test")

    async def start(self) -> None:
        self.mail = await asyncio.to_thread(MailServer().start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.mail.stop)

    def config(self) -> dict[str, Any]:
        return {"connectors": {"email": {
            "imap_port": self.mail.imap_port, "smtp_port": self.mail.smtp_port, "tls": "none",
            "username": "support", "password": "supportpass", "from_address": "support@example.test",
            "from_name": "Example Support", "reconnect_max_seconds": 1.0}}}

    async def send_inbound(self, key: str, text: str) -> None:
        mail = EmailMessage(policy=default_policy)
        mail["From"], mail["To"] = "Customer <customer@example.test>", "support@example.test"
        mail["Subject"], mail["Message-ID"] = f"About {key}", f"<{key}@customer.example.test>"
        mail.set_content(text)
        await asyncio.to_thread(self.mail.send, mail.as_bytes(), sender="customer@example.test",
                                recipients=["support@example.test"])

    async def replies(self) -> list[str]:
        from email import message_from_bytes

        found = []
        for raw in await asyncio.to_thread(self.mail.mailbox, "customer"):
            msg = message_from_bytes(raw, policy=default_policy)
            body = msg.get_body(preferencelist=("plain",))
            found.append(body.get_content().split("\n--\n")[0].strip() if body is not None else "")
        return found

    async def go_down(self) -> None:
        await asyncio.to_thread(self.mail.stop_smtp)
        await asyncio.to_thread(self.mail.stop_dovecot)

    async def come_back(self) -> None:
        await asyncio.to_thread(self.mail.restart_dovecot)
        await asyncio.to_thread(self.mail.start_smtp)


class XmppFarEnd(FarEnd):
    channel, identity = "xmpp", ("xmpp", "customer@localhost")

    async def start(self) -> None:
        self.server = await asyncio.to_thread(XmppServer().start)
        self.customer = await ChatCustomer("customer@localhost", "customerpass", self.server.port).__aenter__()
        self.got: list[str] = []

    async def stop(self) -> None:
        await self.customer.__aexit__()
        await asyncio.to_thread(self.server.stop)

    def config(self) -> dict[str, Any]:
        return {"connectors": {"xmpp": {"jid": "support@localhost", "password": "supportpass",
                                        "host": "127.0.0.1", "port": self.server.port, "tls": "none",
                                        "reconnect_max_seconds": 1.0}}}

    async def send_inbound(self, key: str, text: str) -> None:
        self.customer.say("support@localhost", text, stanza_id=key)

    async def replies(self) -> list[str]:
        while not self.customer.inbox.empty():
            self.got.append(self.customer.inbox.get_nowait()["body"])
        return self.got

    async def go_down(self) -> None:
        await self.customer.__aexit__()
        await asyncio.to_thread(self.server.stop_server)

    async def come_back(self) -> None:
        await asyncio.to_thread(self.server.restart)
        self.customer = await ChatCustomer("customer@localhost", "customerpass", self.server.port).__aenter__()


class CustomFarEnd(FarEnd):
    channel, identity = "shop-chat", ("email", "buyer@example.com")

    async def start(self) -> None:
        self.shop = Receiver(SHOP_SECRET)
        await self.shop.start()

    async def stop(self) -> None:
        await self.shop.stop()

    def config(self) -> dict[str, Any]:
        return {"channels": {"custom": [{"name": "shop-chat", "outbound_url": self.shop.url("/replies"),
                                         "secret": SHOP_SECRET, "timeout": 2.0}]}}

    async def send_inbound(self, key: str, text: str) -> None:
        await self.harness.admin.inbound(channel="shop-chat", sender=self.identity, text=text, external_id=key)

    async def replies(self) -> list[str]:
        return [item["body"]["message"]["text"] for item in self.shop.received]

    async def go_down(self) -> None:
        await self.shop.stop()

    async def come_back(self) -> None:
        await self.shop.start()


class LineChatFarEnd(FarEnd):
    """The JSON-lines chat service the example third-party connector (examples/) talks to."""

    channel, identity = "linechat", ("linechat", "nick")

    async def start(self) -> None:
        self.port = 0
        self.got: list[str] = []
        self.peers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        await self.come_back()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.peers.append(writer)
        self.connected.set()
        with contextlib.suppress(OSError):
            while line := await reader.readline():
                item = json.loads(line)
                if item.get("type") == "message":
                    self.got.append(item["text"])
                    writer.write(json.dumps({"type": "ack", "id": item["id"]}).encode() + b"\n")
                    await writer.drain()

    async def stop(self) -> None:
        await self.go_down()

    def config(self) -> dict[str, Any]:
        return {"connectors": {"linechat": {"port": self.port, "reconnect_max_seconds": 1.0}}}

    async def send_inbound(self, key: str, text: str) -> None:
        await asyncio.wait_for(self.connected.wait(), 10)
        self.peers[-1].write(json.dumps({"type": "message", "id": key, "from": "nick", "text": text}).encode() + b"\n")
        await self.peers[-1].drain()

    async def replies(self) -> list[str]:
        return self.got

    async def go_down(self) -> None:
        self.server.close()
        for peer in self.peers:
            peer.close()
        self.peers.clear()
        self.connected.clear()
        await self.server.wait_closed()

    async def come_back(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port or 0)
        self.port = self.server.sockets[0].getsockname()[1]


class XFarEnd(FarEnd):
    """A customer DMing the support account, through the X emulator's signed webhooks."""

    channel, identity = "x", ("x", "2244994945")

    async def start(self) -> None:
        self.emulator = XEmulator()
        await self.emulator.start()

    async def stop(self) -> None:
        await self.emulator.stop()

    def config(self) -> dict[str, Any]:
        e = self.emulator
        return {"connectors": {"x": {"consumer_secret": e.consumer_secret, "bearer_token": e.bearer_token,
                                     "account_id": e.account_id, "api_base": e.url, "timeout": 2.0}}}

    async def send_inbound(self, key: str, text: str) -> None:
        self.emulator.webhook_url = self.harness.url + "/webhooks/x"
        status, body = await self.emulator.signed_post(self.emulator.dm_payload(
            {"user": {"id": self.identity[1], "screen_name": "dana"}, "text": text, "id": vendor_id(key, "x")}))
        assert status == 200, body

    async def replies(self) -> list[str]:
        return [dm["text"] for dm in self.emulator.dms]

    async def go_down(self) -> None:
        self.emulator.down = True

    async def come_back(self) -> None:
        self.emulator.down = False


class MetaFarEnd(FarEnd):
    """A customer on Messenger, through the Meta emulator's signed webhooks."""

    channel, identity = "meta", ("facebook", "24680")

    async def start(self) -> None:
        self.emulator = MetaEmulator()
        await self.emulator.start()

    async def stop(self) -> None:
        await self.emulator.stop()

    def config(self) -> dict[str, Any]:
        e = self.emulator
        return {"connectors": {"meta": {"app_secret": e.app_secret, "verify_token": e.verify_token,
                                        "page_token": e.page_token, "api_base": e.url, "timeout": 2.0}}}

    async def send_inbound(self, key: str, text: str) -> None:
        self.emulator.webhook_url = self.harness.url + "/webhooks/meta"
        status, body = await self.emulator.signed_post(self.emulator.message_payload(
            "messenger", self.identity[1], text, mid=key))
        assert status == 200, body

    async def replies(self) -> list[str]:
        return [item["text"] for item in self.emulator.sent]

    async def go_down(self) -> None:
        self.emulator.down = True

    async def come_back(self) -> None:
        self.emulator.down = False


class TwilioSmsFarEnd(FarEnd):
    """A customer texting the company's Twilio number, through the Twilio emulator."""

    channel, identity = "twilio", ("phone", "+358401112233")

    async def start(self) -> None:
        self.emulator = TwilioEmulator()
        await self.emulator.start()

    async def stop(self) -> None:
        await self.emulator.stop()

    def config(self) -> dict[str, Any]:
        e = self.emulator
        return {"connectors": {"twilio": {"account_sid": e.account_sid, "auth_token": e.auth_token,
                                          "phone_number": e.phone_number, "api_base": e.url}}}

    async def send_inbound(self, key: str, text: str) -> None:
        self.emulator.sms_url = self.harness.url + "/webhooks/twilio/sms"
        status, body = await self.emulator.send_sms(self.identity[1], text, vendor_id(key, "twilio"))
        assert status == 200, body

    async def replies(self) -> list[str]:
        return [m["body"] for m in self.emulator.messages]

    async def go_down(self) -> None:
        self.emulator.down = True

    async def come_back(self) -> None:
        self.emulator.down = False


class WhatsAppFarEnd(FarEnd):
    """A customer on WhatsApp, through the Cloud API emulator's signed webhooks."""

    channel, identity = "whatsapp", ("whatsapp", "358401234567")

    async def start(self) -> None:
        self.emulator = WhatsAppEmulator()
        await self.emulator.start()

    async def stop(self) -> None:
        await self.emulator.stop()

    def config(self) -> dict[str, Any]:
        e = self.emulator
        return {"connectors": {"whatsapp": {"phone_number_id": e.phone_number_id, "access_token": e.access_token,
                                            "app_secret": e.app_secret, "verify_token": e.verify_token,
                                            "api_base": e.url, "api_version": e.version, "timeout": 2.0}}}

    async def send_inbound(self, key: str, text: str) -> None:
        self.emulator.webhook_url = self.harness.url + "/webhooks/whatsapp"
        payload = self.emulator.message_payload({"from": self.identity[1], "text": text, "id": f"wamid.{key}"})
        self.emulator.last_from[self.identity[1]] = time.time()
        status, body = await self.emulator.signed_post(payload)
        assert status == 200, body

    async def replies(self) -> list[str]:
        return [m["text"]["body"] for m in self.emulator.sent if m["type"] == "text"]

    async def go_down(self) -> None:
        self.emulator.down = True

    async def come_back(self) -> None:
        self.emulator.down = False


FAR_ENDS: dict[str, type[FarEnd]] = {"email": EmailFarEnd, "xmpp": XmppFarEnd, "custom": CustomFarEnd,
                                     "linechat": LineChatFarEnd, "x": XFarEnd, "meta": MetaFarEnd,
                                     "twilio": TwilioSmsFarEnd, "whatsapp": WhatsAppFarEnd}


def vendor_id(key: str, vendor: str) -> str:
    """The contract's key as the vendor's ids look (X: digits; Twilio: SM + 32 hex), the same for the same key."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return str(int(digest[:15], 16)) if vendor == "x" else "SM" + digest[:32]
