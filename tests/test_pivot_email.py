"""A pivot to email, end to end with real parts: a customer writes an X DM, the agent sends a link
`to: "email"`, the customer opens it on a phone (Chromium), gives an address, and the case goes
on by email through real SMTP and IMAP (Dovecot): the first email carries the case's tag, the
customer's answer lands on the same case and interaction, and the funnel counts sent, opened,
redeemed and connected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from sip_test_env.emulators.x import XEmulator
from sip_test_env.mail import MailServer
from tests.harness import Harness, make_config, running_server
from tests.pivot_helpers import link_sent_on_x
from tests.test_desk import ARTIFACTS
from tests.test_email_channel import SUPPORT, customer_mail

CUSTOMER = "customer@asiakas.fi"  # (delivered to the mailbox "customer"; .test addresses are not addresses)

async def reply(mail: MailServer, raw: bytes) -> None:
    raw = raw.replace(b"customer@example.test", CUSTOMER.encode())  # (the From of tests.test_email_channel)
    await asyncio.to_thread(mail.send, raw, sender=CUSTOMER, recipients=[SUPPORT])


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    server = await asyncio.to_thread(MailServer().start)
    yield server
    await asyncio.to_thread(server.stop)


@pytest.fixture
async def h(tmp_path: Path, mail: MailServer, x: XEmulator) -> AsyncIterator[Harness]:
    config = make_config(tmp_path, connectors={
        "email": {"imap_port": mail.imap_port, "smtp_port": mail.smtp_port, "tls": "none", "username": "support",
                  "password": "supportpass", "from_address": SUPPORT, "from_name": "Acme Support",
                  "reconnect_max_seconds": 1.0},
        "x": {"consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token, "account_id": x.account_id,
              "api_base": x.url}},
        social={"handles": ["@acme"]}, pivot={"company_name": "Acme"})
    async with running_server(config) as harness:
        async with aiohttp.ClientSession() as session, session.post(
                f"{x.url}/_control/webhook", json={"url": harness.url + "/webhooks/x"}) as response:
            assert response.status == 200
        await harness.wait_for(lambda: harness.services.connector_health.get("email") == "connected", what="email")
        yield harness


async def test_an_x_dm_continues_by_email_on_the_same_case(h: Harness, x: XEmulator, mail: MailServer,
                                                           browser: Any) -> None:
    ann = await h.agent("ann", name="Ann Lee")
    dm, url, _ = await link_sent_on_x(h, x, ann, "email", text="Can you send me the invoice by email?",
                                      dm_id="1800000000000000555")
    assert "Ann at Acme can go on with you by email" in x.dms[0]["text"]
    M = models.messages

    page = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    await page.goto(url)
    await expect(page.get_by_role("heading")).to_have_text("Continue with Acme by email")
    await page.get_by_label("Your email address").fill("not an address")
    await page.get_by_role("button", name="Continue by email").click()  # the browser's own check first
    await page.evaluate("document.getElementById('email').type = 'text'")  # (then the server's)
    await page.get_by_role("button", name="Continue by email").click()
    await expect(page.locator("#error")).to_have_text("Type an email address, e.g. name@example.com.")
    await page.get_by_label("Your email address").fill(CUSTOMER)
    await page.get_by_role("button", name="Continue by email").click()
    await expect(page.locator("#done")).to_have_text(
        f"Thank you! We have written to {CUSTOMER}: answer that email and we will carry on.")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "pivot-email-phone.png"), full_page=True)
    await page.context.close()

    [raw] = await asyncio.to_thread(mail.wait_for_mail, "customer", 1)
    first = message_from_bytes(raw, policy=default_policy)
    assert f"[#{dm.case_id}]" in first["Subject"] and first["To"] == CUSTOMER
    assert "go on with Acme by email" in first.get_body(preferencelist=("plain",)).get_content()
    interactions = (await h.admin.request("GET", "/api/v1/interactions", params={"case_id": dm.case_id}))["items"]
    email = next(i for i in interactions if i["channel"] == "email")
    assert email["initiation"] == "pivot" and email["agent_id"] == "ann" and email["state"] == "active"
    contact = await h.admin.get_contact((await h.admin.get_case(dm.case_id))["contact_id"])
    assert ("email", CUSTOMER) in [(i["kind"], i["value"]) for i in contact["identities"]]

    await reply(mail, customer_mail(f"Re: {first['Subject']}", "Yes please, invoice 2026-118.",
                                   message_id="<answer@customer.example.test>", In_Reply_To=first["Message-ID"],
                                   References=first["Message-ID"]))
    answer = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "email", M.c.direction == "inbound")).first()), timeout=20,
        what="the customer's answer stored")
    assert answer.case_id == dm.case_id and answer.interaction_id == email["id"]
    await reply(mail, customer_mail(f"Re: {first['Subject']}", "And one more thing.",
                                   message_id="<again@customer.example.test>", In_Reply_To=first["Message-ID"],
                                   References=first["Message-ID"]))
    await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
        sa.select(sa.func.count()).where(M.c.channel == "email", M.c.direction == "inbound")).scalar() == 2),
        timeout=20, what="the second answer stored")
    funnel = (await h.admin.request("GET", "/api/v1/reports/summary"))["pivot"]
    assert {k: funnel[k] for k in ("sent", "opened", "redeemed", "connected")} == {
        "sent": 1, "opened": 1, "redeemed": 1, "connected": 1}, "connected once, at the first answer"
