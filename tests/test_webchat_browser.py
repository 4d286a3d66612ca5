"""The web chat widget in a real browser, on a shop's page of another origin, with real parts: a
visitor chats with an agent working in the desk (Chromium both), reloads mid-conversation and loses
nothing, sends a file the agent downloads, then presses "Talk now" and the agent's real SIP phone
(baresip through Kamailio) hears the browser's microphone tone. A page of an origin not on the list
gets nowhere. The shop's own CSS cannot reach into the widget (it lives in a shadow root)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright, expect

from cti import models
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency
from tests.harness import Harness, make_config, running_server
from tests.test_browser_voice import tone_wav
from tests.test_desk import ARTIFACTS
from tests.voice_helpers import registered
from webchat.site import WEBCHAT

ALL_WEEK = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
HOSTILE_CSS = "* { color: #f0f !important; font-size: 31px !important; } button { display: none !important; }"


class Shop:
    """A shop's page on another origin (127.0.0.2 or .3) with the widget's one script tag."""

    def __init__(self, host: str, lang: str = "en") -> None:
        self.host, self.lang, self.cti_url = host, lang, ""  # (the server's URL, once it runs)
        self.server: TestServer | None = None

    async def __aenter__(self) -> Shop:
        async def page(_: web.Request) -> web.Response:
            return web.Response(content_type="text/html", text=f"""<!doctype html><html lang="{self.lang}"><head>
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme shop</title>
<style>{HOSTILE_CSS}</style></head><body><h1>Acme shop</h1><p>Routers and more.</p>
<script src="{self.cti_url}/chat/widget.js" async></script></body></html>""")

        app = web.Application()
        app.router.add_get("/", page)
        self.server = TestServer(app, host=self.host)
        await self.server.start_server()
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self.server is not None
        await self.server.close()

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"http://{self.host}:{self.server.port}"


async def desk_for(browser: Any, h: Harness, token: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")).new_page()
    await page.goto(h.url + "/desk")
    await page.get_by_text("Sign in with an API token").click()
    await page.get_by_label("Your API token").fill(token)
    await page.get_by_role("button", name="Use the token").click()
    await expect(page.locator("#link-status")).to_have_text("live")
    return page


async def test_a_visitor_chats_reloads_sends_a_file_and_talks_to_the_agents_phone(
        tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    alice_phone = await phones("alice", 440)
    wav = await asyncio.to_thread(tone_wav, tmp_path / "mic.wav", 700)
    M = models.messages
    async with Shop("127.0.0.2") as shop, Shop("127.0.0.3") as stranger:
        config = make_config(tmp_path, connectors={"sip": {"registrar": f"127.0.0.1:{registrar.port}",
                                                           "username": "cti", "password": "ctipass"}},
                             channels={"webchat": {"allowed_origins": [shop.origin], "company_name": "Acme"}},
                             pivot={"company_name": "Acme", "opening_hours": ALL_WEEK})
        async with running_server(config) as h, async_playwright() as playwright:
            shop.cti_url = stranger.cti_url = h.url
            await registered(h)
            alice = await h.agent("alice", name="Alice Agent", voice_endpoint=alice_phone.uri)
            browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required"])
            try:
                desk = await desk_for(browser, h, alice.token)
                visitor = await (await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                           locale="en-US")).new_page()
                await visitor.goto(shop.origin + "/")
                launcher = visitor.get_by_role("button", name="Chat with us")
                await expect(launcher).to_be_visible()  # (the shop's "button { display: none }" stays outside)
                assert await launcher.evaluate("b => getComputedStyle(b).fontSize") != "31px"
                await launcher.click()
                await visitor.get_by_label("Your name (optional)").fill('Vera <img src=x onerror="window.__xss=1">')
                await visitor.get_by_role("button", name="Start chat").click()
                box = visitor.get_by_label("Message", exact=True)
                await box.fill("Hello <b>there</b>, my parcel is late")
                await box.press("Enter")
                await expect(visitor.locator(".msg.visitor .mark")).to_have_text("Sent")

                offer = desk.locator("#offers [data-id]")
                await expect(offer).to_contain_text("Hello <b>there</b>, my parcel is late")
                await offer.get_by_role("button", name="Accept").click()
                await expect(visitor.get_by_text("Alice joined the chat")).to_be_visible()
                card = desk.locator("#work [data-id]").first
                await expect(card.locator(".msg.inbound")).to_contain_text("Hello <b>there</b>, my parcel is late")
                await expect(desk.locator("#contact")).to_contain_text('Vera <img src=x onerror="window.__xss=1">')
                assert await desk.evaluate("window.__xss") is None, "a visitor's name is text in the desk"
                await expect(visitor.locator(".msg.visitor .mark")).to_have_text("Read")
                await box.press_sequentially("is it")
                await expect(card.locator("[data-typing]")).to_have_text("The customer is typing…")
                await box.fill("")
                reply = card.get_by_label("Your reply")
                await reply.press_sequentially("Hi Vera, ")
                await expect(visitor.get_by_text("Alice is typing…")).to_be_visible()
                await reply.fill("Hi Vera, it ships today.")
                await card.get_by_role("button", name="Send", exact=True).click()
                await expect(visitor.locator(".msg.agent")).to_contain_text("it ships today.")
                chat_id = await h.services.db.read(lambda c: c.execute(sa.select(models.interactions.c.id).where(
                    models.interactions.c.channel == "webchat")).scalar())
                await expect(card.locator(".msg.outbound .delivery")).to_have_text("read")
                ARTIFACTS.mkdir(exist_ok=True)
                await visitor.screenshot(path=str(ARTIFACTS / "webchat-widget-phone.png"))

                # A reload mid-conversation: everything back, once each, and the chat goes on.
                await visitor.reload()
                await expect(visitor.locator(".msg.agent")).to_have_count(1)
                await expect(visitor.locator(".msg.visitor")).to_have_count(1)
                await visitor.wait_for_timeout(300)  # (the replay is whole: nothing more arrives)
                await expect(visitor.locator(".msg")).to_have_count(2)
                await expect(visitor.locator(".msg.visitor")).to_contain_text("Hello <b>there</b>")
                assert await visitor.locator("b").count() == 0, "a visitor's HTML stays text"

                # A drop: the server closes every widget socket; a reply sent meanwhile arrives once.
                h.server.app[WEBCHAT].hub.close_all()
                await alice.reply(chat_id, "Still here?")
                await expect(visitor.get_by_text("Connection lost. Reconnecting…")).to_be_visible()
                await expect(visitor.locator(".msg.agent")).to_have_count(2)
                await expect(visitor.locator(".msg.agent").last).to_contain_text("Still here?")

                # A file: type-checked, kept, offered to the agent as a download.
                await visitor.locator("[data-cti-chat] input[type=file]").set_input_files(
                    {"name": "receipt.png", "mimeType": "image/png", "buffer": PNG})
                download = card.get_by_role("button", name="Download receipt.png (2 kB)")
                await expect(download).to_be_visible()
                async with desk.expect_download() as downloading:
                    await download.click()
                saved = await (await downloading.value).path()
                assert await asyncio.to_thread(Path(saved).read_bytes) == PNG

                # Talk now: the same case, offered to Alice; her phone hears the browser's 700 Hz.
                await visitor.get_by_role("button", name="Talk now").first.click()
                await expect(visitor.get_by_text("On a call")).to_be_visible(timeout=20_000)
                assert await visitor.get_by_text("suggests talking").count() == 0, "no invitation to one's own call"
                [chat] = await h.services.db.read(lambda c: c.execute(
                    sa.select(M.c.case_id).where(M.c.channel == "webchat").limit(1)).all())
                I = models.interactions
                voice = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
                    sa.select(I).where(I.c.case_id == chat.case_id, I.c.channel == "voice")).first()),
                    what="the browser call on the chat's case")
                await h.interaction_in_state(voice.id, "offered", timeout=20)
                await alice.accept(voice.id)
                await asyncio.to_thread(alice_phone.wait_log, "Call established")
                await asyncio.sleep(3.0)
                await visitor.screenshot(path=str(ARTIFACTS / "webchat-widget-call-phone.png"))
                await alice.end(voice.id)
                await asyncio.to_thread(alice_phone.wait_call_over)
                await expect(visitor.get_by_text("The call has ended.")).to_be_visible()
                funnel = (await h.admin.request("GET", "/api/v1/reports/summary"))["pivot"]
                assert funnel["redeemed"] == 1 and funnel["connected"] == 1
                # The agent's own "send a link" becomes an invitation in the widget (no link to copy).
                chat_interaction = await h.services.db.read(lambda c: c.execute(sa.select(I.c.id).where(
                    I.c.case_id == chat.case_id, I.c.channel == "webchat")).scalar())
                await alice.pivot(chat_interaction, "voice", send=True)
                await expect(visitor.get_by_text("Alice suggests talking. Choose how:")).to_be_visible()
                assert "/p/" not in await visitor.locator("[data-cti-chat]").evaluate(
                    "host => host.shadowRoot.textContent"), "the masked link message is not shown"
                await visitor.screenshot(path=str(ARTIFACTS / "webchat-widget-invite-phone.png"))

                # A page of another origin: the widget shows, and cannot start anything.
                foreign = await (await browser.new_context(locale="en-US")).new_page()
                await foreign.goto(stranger.origin + "/")
                await foreign.get_by_role("button", name="Chat with us").click()
                await foreign.get_by_role("button", name="Start chat").click()
                await expect(foreign.get_by_role("alert")).to_be_visible()
                count = await h.services.db.read(lambda c: c.execute(
                    sa.select(sa.func.count()).select_from(models.chat_visitors)).scalar())
                assert count == 1, "only the allowed shop's visitor exists"
            finally:
                await browser.close()
    recordings = [r for r in alice_phone.recordings() if r.name.endswith("-dec.wav")]
    assert recordings and abs(dominant_frequency(recordings[0]) - 700) < 25, "the agent heard the browser's tone"

