"""The email channel against a real Dovecot and a real SMTP path on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cti import models
from cti.bus import EventFilter
from sip_test_env.mail import MailServer
from tests.harness import Harness, make_config, running_server

CUSTOMER = "customer@example.test"
SUPPORT = "support@example.test"


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    server = await asyncio.to_thread(MailServer().start)
    yield server
    await asyncio.to_thread(server.stop)


def email_config(data_dir: Path, mail: MailServer, **overrides: Any) -> Any:
    settings = {"imap_port": mail.imap_port, "smtp_port": mail.smtp_port, "tls": "none", "username": "support",
                "password": "supportpass", "from_address": SUPPORT, "from_name": "Example Support",
                "reconnect_max_seconds": 1.0, **overrides}
    return make_config(data_dir, connectors={"email": settings},
                       webhooks={"initial_backoff": 0.2, "max_backoff": 1.0, "max_attempts": 3})


def customer_mail(subject: str, text: str, *, message_id: str, **headers: str) -> bytes:
    msg = EmailMessage(policy=default_policy)
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = f"Asiakas <{CUSTOMER}>", SUPPORT, subject, message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg.as_bytes()


async def send(mail: MailServer, raw: bytes) -> None:
    await asyncio.to_thread(mail.send, raw, sender=CUSTOMER, recipients=[SUPPORT])


async def stored_messages(h: Harness) -> list[Any]:
    M = models.messages
    return await h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "email").order_by(M.c.created_at)).all())


async def wait_messages(h: Harness, count: int) -> list[Any]:
    async def enough() -> list[Any] | None:
        rows = await stored_messages(h)
        return rows if len(rows) >= count else None

    return await h.wait_for(enough, timeout=20, what=f"{count} email messages stored")


async def test_email_becomes_an_interaction_and_the_reply_threads_back(tmp_path: Path, mail: MailServer) -> None:
    async with running_server(email_config(tmp_path, mail)) as h:
        ann = await h.agent("ann")
        await send(mail, customer_mail("Tilaus myöhässä – apua", "Paketti ei ole tullut.",
                                       message_id="<first@customer.example.test>"))
        [first] = await wait_messages(h, 1)
        assert (first.subject, first.text) == ("Tilaus myöhässä – apua", "Paketti ei ole tullut.")
        case = await h.admin.get_case(first.case_id)
        assert case["subject"] == "Tilaus myöhässä – apua"
        await h.interaction_in_state(first.interaction_id, "offered")
        await ann.accept(first.interaction_id)
        sent = await ann.reply(first.interaction_id, "Tarkistamme asian heti.")

        [raw] = await asyncio.to_thread(mail.wait_for_mail, "customer", 1)
        answer = message_from_bytes(raw, policy=default_policy)
        assert answer["From"] == f"Example Support <{SUPPORT}>" and answer["To"] == CUSTOMER
        assert answer["Subject"] == f"Re: Tilaus myöhässä – apua [#{first.case_id}]"
        assert answer["In-Reply-To"] == "<first@customer.example.test>"
        assert "<first@customer.example.test>" in answer["References"]
        assert answer.get_body(preferencelist=("plain",)).get_content().startswith("Tarkistamme asian heti.")
        html = answer.get_body(preferencelist=("html",)).get_content()
        assert "Tarkistamme asian heti." in html and first.case_id in html

        async def sent_with_id() -> str | None:
            items = (await ann.messages(first.interaction_id))["items"]
            row = next(m for m in items if m["id"] == sent["id"])
            return row["external_id"] if row["status"] == "sent" else None

        our_id = await h.wait_for(sent_with_id, what="the reply marked sent")
        assert our_id == answer["Message-ID"]

        # The customer answers our reply: same interaction, by In-Reply-To.
        await send(mail, customer_mail(f"Re: {answer['Subject']}", "Kiitos!", message_id="<second@customer.example>",
                                       In_Reply_To=our_id, References=f"<first@customer.example.test> {our_id}"))
        # A mail client that drops the headers, but the subject keeps the case tag: same case.
        await send(mail, customer_mail(f"Lisätietoa [#{first.case_id}]", "Tilausnumero 123.",
                                       message_id="<third@customer.example>"))
        # A new matter: a new case.
        await send(mail, customer_mail("Laskussa virhe", "Lasku on väärin.", message_id="<fourth@customer.example>"))
        rows = {row.external_id: row for row in await wait_messages(h, 5)}
        assert rows["<second@customer.example>"].interaction_id == first.interaction_id
        assert rows["<third@customer.example>"].case_id == first.case_id
        assert rows["<third@customer.example>"].interaction_id == first.interaction_id
        assert rows["<fourth@customer.example>"].case_id != first.case_id


async def test_restart_neither_misses_nor_duplicates_mail(tmp_path: Path, mail: MailServer) -> None:
    for n in range(3):
        await send(mail, customer_mail(f"Asia {n}", f"viesti {n}", message_id=f"<m{n}@customer.example>"))
    async with running_server(email_config(tmp_path, mail)) as h:
        await wait_messages(h, 3)
    for n in range(3, 5):  # arrive while the server is down
        await send(mail, customer_mail(f"Asia {n}", f"viesti {n}", message_id=f"<m{n}@customer.example>"))
    async with running_server(email_config(tmp_path, mail)) as h:
        rows = await wait_messages(h, 5)
        gateway = h.services.connectors.gateway("email")
        cursor = await h.wait_for(lambda: _cursor_at(gateway, 5), what="the cursor at UID 5")
    # The mailbox is rebuilt (new UIDVALIDITY): everything is read again, nothing stored twice.
    # Dovecot takes UIDVALIDITY from the clock in whole seconds: rebuild in a later second.
    await asyncio.sleep(max(0.0, cursor["uidvalidity"] + 1 - time.time()))
    await asyncio.to_thread(mail.stop_dovecot)
    for index in (mail.base / "mail" / "support").glob("dovecot*"):  # UID list and indexes
        index.unlink()
    await asyncio.to_thread(mail.restart_dovecot)
    await send(mail, customer_mail("Asia 5", "viesti 5", message_id="<m5@customer.example>"))
    async with running_server(email_config(tmp_path, mail)) as h:
        rows = await wait_messages(h, 6)
        gateway = h.services.connectors.gateway("email")
        new_cursor = await h.wait_for(lambda: _cursor_at(gateway, 6), what="the cursor at UID 6")
        assert new_cursor["uidvalidity"] != cursor["uidvalidity"]
        assert sorted(row.text for row in await stored_messages(h)) == [f"viesti {n}" for n in range(6)]
    assert len(rows) == 6


async def _cursor_at(gateway: Any, uid: int) -> dict[str, Any] | None:
    cursor = await gateway.load_cursor()
    return cursor if cursor.get("last_uid") == uid else None


async def test_permanent_smtp_refusal_marks_the_reply_failed_with_the_reason(tmp_path: Path,
                                                                             mail: MailServer) -> None:
    mail.refused_recipients.add(CUSTOMER)
    async with running_server(email_config(tmp_path, mail)) as h:
        ann = await h.agent("ann")
        await send(mail, customer_mail("Hello", "hi", message_id="<refuse@customer.example>"))
        [first] = await wait_messages(h, 1)
        await h.interaction_in_state(first.interaction_id, "offered")
        await ann.accept(first.interaction_id)
        sent = await ann.reply(first.interaction_id, "This will bounce")

        async def failed() -> dict[str, Any] | None:
            items = (await ann.messages(first.interaction_id))["items"]
            row = next(m for m in items if m["id"] == sent["id"])
            return row if row["status"] == "failed" else None

        row = await h.wait_for(failed, what="the reply marked failed")
        assert "550" in row["error"] and "mailbox unavailable" in row["error"]
        events = await h.services.bus.replay(0, EventFilter(types=["message.failed"]))
        assert [e.data["message"]["id"] for e in events] == [sent["id"]]


async def test_attachments_are_stored_and_oversized_ones_dropped_with_a_note(tmp_path: Path,
                                                                              mail: MailServer) -> None:
    msg = EmailMessage(policy=default_policy)
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = CUSTOMER, SUPPORT, "Kuvat", "<att@customer.example>"
    msg.set_content("Liitteenä kuitti ja valokuva.")
    msg.add_attachment(b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="kuitti.pdf")
    msg.add_attachment(b"\x89PNG" + b"\x00" * 20_000, maintype="image", subtype="png", filename="valokuva.png")
    await send(mail, msg.as_bytes())
    async with running_server(email_config(tmp_path, mail, max_attachment_bytes=10_000)) as h:
        [row] = await wait_messages(h, 1)
        small, big = row.attachments
        assert (small["filename"], small["content_type"], small["size"]) == ("kuitti.pdf", "application/pdf", 16)
        assert (tmp_path / small["stored"]).read_bytes() == b"%PDF-1.4 receipt"
        assert (big["filename"], big["size"], big["dropped"]) == ("valokuva.png", 20_004,
                                                                   "over the 10000 byte limit")
        assert "stored" not in big
        assert "valokuva.png (20004 bytes) was dropped" in row.text
        api_view = (await h.admin.messages(row.interaction_id))["items"][0]
        assert [a["filename"] for a in api_view["attachments"]] == ["kuitti.pdf", "valokuva.png"]


async def test_auto_replies_are_stored_and_flagged(tmp_path: Path, mail: MailServer) -> None:
    await send(mail, customer_mail("Poissa toimistolta", "Olen lomalla.", message_id="<ooo@customer.example>",
                                   Auto_Submitted="auto-replied"))
    async with running_server(email_config(tmp_path, mail)) as h:
        [row] = await wait_messages(h, 1)
        assert row.meta["auto_submitted"] == "auto-replied"


async def test_malformed_mail_is_kept_and_the_mailbox_keeps_flowing(tmp_path: Path, mail: MailServer) -> None:
    broken = (b"From: " + CUSTOMER.encode() + b"\r\nSubject: =?x-unknown?q?rikki?=\r\nMessage-ID: <broken@c.example>"
              b"\r\nContent-Type: multipart/mixed; boundary=\"nope\"\r\n\r\n\xff\xfe no parts at all\r\n")
    await send(mail, broken)
    await send(mail, customer_mail("Seuraava", "toimiva viesti", message_id="<after@customer.example>"))
    async with running_server(email_config(tmp_path, mail)) as h:
        rows = await wait_messages(h, 2)
        by_id = {r.external_id: r for r in rows}
        assert set(by_id) == {"<broken@c.example>", "<after@customer.example>"}
        assert by_id["<after@customer.example>"].text == "toimiva viesti"
        assert by_id["<broken@c.example>"].subject and by_id["<broken@c.example>"].text


async def test_wrong_password_shows_bad_credentials(tmp_path: Path, mail: MailServer) -> None:
    async with running_server(email_config(tmp_path, mail, password="wrong")) as h:
        await h.wait_for(lambda: h.services.connector_health.get("email") == "bad_credentials",
                         what="bad_credentials health")
        body = await h.admin.readiness()
        assert body["connectors"]["email"] == "bad_credentials" and body["status"] == "degraded"



async def test_starttls_on_imap_and_smtp_with_the_servers_certificate(tmp_path: Path) -> None:
    mail = await asyncio.to_thread(MailServer(tls=True).start)
    try:
        assert mail.cert is not None
        config = email_config(tmp_path, mail, tls="starttls", ca_file=str(mail.cert))
        await send(mail, customer_mail("Salattu", "Yhteys on salattu.", message_id="<tls@customer.example>"))
        async with running_server(config) as h:
            ann = await h.agent("ann")
            [first] = await wait_messages(h, 1)
            assert first.text == "Yhteys on salattu."
            await h.interaction_in_state(first.interaction_id, "offered")
            await ann.accept(first.interaction_id)
            await ann.reply(first.interaction_id, "Vastaus salatusti.")
            [raw] = await asyncio.to_thread(mail.wait_for_mail, "customer", 1)
            assert b"Vast" in raw
        log = (mail.base / "dovecot.log").read_text()
        assert "TLS" in log and "user=<support>" in log
    finally:
        await asyncio.to_thread(mail.stop)


async def test_new_cases_are_acknowledged_but_auto_replies_never_answered(tmp_path: Path, mail: MailServer) -> None:
    await send(mail, customer_mail("Automaattinen vastaus: poissa", "Olen lomalla.",
                                   message_id="<auto@customer.example>", Auto_Submitted="auto-replied"))
    await send(mail, customer_mail("Lista", "uutiskirje", message_id="<list@customer.example>", Precedence="bulk"))
    await send(mail, customer_mail("Rikkinäinen laite", "Laite ei käynnisty.", message_id="<real@customer.example>"))
    async with running_server(email_config(tmp_path, mail, acknowledge_new_cases=True)) as h:
        rows = {row.external_id: row for row in await wait_messages(h, 4)}  # three inbound, one acknowledgement
        [raw] = await asyncio.to_thread(mail.wait_for_mail, "customer", 1)
        ack = message_from_bytes(raw, policy=default_policy)
        case_id = rows["<real@customer.example>"].case_id
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["Subject"] == f"Re: Rikkinäinen laite [#{case_id}]"
        assert ack["In-Reply-To"] == "<real@customer.example>"
        assert case_id in ack.get_body(preferencelist=("plain",)).get_content()
        # A follow-up on the same case is not acknowledged again.
        await send(mail, customer_mail("Re: Rikkinäinen laite", "Lisätietoa.", message_id="<more@customer.example>",
                                       In_Reply_To="<real@customer.example>"))
        await wait_messages(h, 5)
        outbound = [r for r in await stored_messages(h) if r.direction == "outbound"]
        assert [(r.mode, r.case_id) for r in outbound] == [("auto", case_id)]
        await h.wait_for(lambda: _sent(h, outbound[0].id), what="the acknowledgement marked sent")
    assert len(mail.mailbox("customer")) == 1


async def _sent(h: Harness, message_id: str) -> bool:
    M = models.messages
    status = await h.services.db.read(lambda c: c.execute(sa.select(M.c.status).where(M.c.id == message_id)).scalar())
    return status == "sent"


async def test_polling_when_idle_is_not_used(tmp_path: Path, mail: MailServer) -> None:
    async with running_server(email_config(tmp_path, mail, use_idle=False, idle_seconds=0.3)) as h:
        await h.wait_for(lambda: h.services.connector_health.get("email") == "connected", what="connected")
        channel = h.services.connectors.running["email"]
        assert channel.follower is not None and channel.follower.can_idle is False  # Dovecot offers IDLE; unused
        await send(mail, customer_mail("Kysely", "tuleeko perille?", message_id="<poll@customer.example>"))
        [row] = await wait_messages(h, 1)
        assert row.text == "tuleeko perille?"
