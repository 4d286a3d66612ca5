"""When nobody can chat: the widget says so and offers email; the visitor's question and address
continue the case by email through real SMTP and IMAP (Dovecot): the first email carries the case's
tag, the chat that waited is closed as moved to email, and an agent gets the email to answer. And
outside opening hours the widget says the service is closed."""

from __future__ import annotations

import asyncio
import json
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from pivot.hours import open_now
from sip_test_env.mail import MailServer
from tests.harness import make_config, running_server
from tests.test_desk import ARTIFACTS
from tests.test_email_channel import SUPPORT
from tests.test_pivot_email import CUSTOMER, mail  # noqa: F401  (the Dovecot fixture)
from tests.test_webchat_browser import ALL_WEEK, Shop


async def test_nobody_available_the_visitor_continues_by_email(tmp_path: Path, mail: MailServer,  # noqa: F811
                                                              browser: Any) -> None:
    async with Shop("127.0.0.2", lang="pl") as shop:
        config = make_config(tmp_path, connectors={"email": {
            "imap_port": mail.imap_port, "smtp_port": mail.smtp_port, "tls": "none", "username": "support",
            "password": "supportpass", "from_address": SUPPORT, "from_name": "Acme Support",
            "reconnect_max_seconds": 1.0}},
            channels={"webchat": {"allowed_origins": [shop.origin], "company_name": "Acme"}},
            pivot={"company_name": "Acme", "opening_hours": ALL_WEEK})
        async with running_server(config) as h:
            shop.cti_url = h.url
            await h.agent("ann", state="away")  # (someone exists, nobody is available)
            page = await (await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")).new_page()
            await page.goto(shop.origin + "/")  # (the page is in Polish, the browser in English: the page's)
            await page.get_by_role("button", name="Czat z nami").click()
            await expect(page.get_by_text("Nikt nie może teraz czatować.")).to_be_visible()
            await page.get_by_label("Adres e-mail").fill(CUSTOMER)
            await page.get_by_label("Twoje pytanie").fill("Czy router obsługuje IPv6?")
            await page.get_by_role("button", name="Kontynuuj e-mailem").click()
            await expect(page.get_by_text(f"Dziękujemy! Odpowiemy na adres {CUSTOMER}.")).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "webchat-offline-email-desktop-pl.png"))
            await page.context.close()

            [raw] = await asyncio.to_thread(mail.wait_for_mail, "customer", 1)
            first = message_from_bytes(raw, policy=default_policy)
            I, M = models.interactions, models.messages
            chat = await h.services.db.read(lambda c: c.execute(sa.select(I).where(I.c.channel == "webchat")).first())
            assert f"[#{chat.case_id}]" in first["Subject"] and first["To"] == CUSTOMER
            assert "Odpowiemy tutaj e-mailem" in first.get_body(preferencelist=("plain",)).get_content()
            assert chat.state == "abandoned"
            question = await h.services.db.read(lambda c: c.execute(
                sa.select(M.c.text).where(M.c.interaction_id == chat.id)).scalar())
            assert question == "Czy router obsługuje IPv6?"
            email = await h.services.db.read(lambda c: c.execute(
                sa.select(I).where(I.c.channel == "email")).first())
            assert email.case_id == chat.case_id and email.state == "queued" and email.source_interaction_id == chat.id
            E = models.events
            reasons = await h.services.db.read(lambda c: c.execute(sa.select(E.c.data).where(
                E.c.interaction_id == chat.id, E.c.type == "interaction.abandoned")).scalars().all())
            assert [r["reason"] for r in reasons] == ["moved_to_email"]


def test_the_widget_knows_opening_hours() -> None:
    from pivot.settings import PivotConfig

    hours = PivotConfig(timezone="Europe/Helsinki", opening_hours={"mon": "08:00-16:00"})
    monday_9_helsinki = 1_796_626_800.0  # 2026-12-07 07:00 UTC = 09:00 in Helsinki (a Monday)
    assert open_now(hours, monday_9_helsinki)
    assert not open_now(hours, monday_9_helsinki + 8 * 3600)  # 17:00
    assert not open_now(hours, monday_9_helsinki + 86_400)  # Tuesday: no hours


async def test_a_widget_whose_token_was_forgotten_starts_over(tmp_path: Path, browser: Any) -> None:
    async with Shop("127.0.0.2") as shop:
        config = make_config(tmp_path, channels={"webchat": {"allowed_origins": [shop.origin]}},
                             pivot={"opening_hours": ALL_WEEK})
        async with running_server(config) as h:
            shop.cti_url = h.url
            page = await (await browser.new_context(locale="en-US")).new_page()
            stale = {"token": "wct_" + "A" * 43, "open": True, "pending": [{"client_id": "old1", "text": "lost?"}]}
            await page.add_init_script(f"localStorage.setItem('cti-chat:{h.url}', '{json.dumps(stale)}')")
            await page.goto(shop.origin + "/")
            await expect(page.get_by_role("button", name="Start chat")).to_be_visible(timeout=15_000)
            assert "wct_" not in await page.evaluate(f"localStorage.getItem('cti-chat:{h.url}')")
