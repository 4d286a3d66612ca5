"""The pages in headless Chromium: an agent's day in the desk (in her language, the customer in
context, canned replies, notes, pivots that survive a reload, a network drop that loses nothing),
the queue, the wallboard and reports live, the keyboard alone, and every page at desktop and phone
size in every language."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import expect

from cti.bus import EventFilter
from cti.languages import LANGUAGES
from cti.web import i18n
from tests.harness import CALLS, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET
from tests.test_sign_in import PASSWORD

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def fi(key: str, **values: Any) -> str:
    """The desk's words in Finnish (the agent of the day reads Finnish)."""
    return i18n.text("fi", key, **values)


async def handled_case(h: Any, agent: Any, channel: str, text: str, external_id: str) -> str:
    """An earlier case of Mikko's, handled and wrapped up by another agent."""
    stored = await h.admin.inbound(channel=channel, sender=("email", "mikko@example.com"), text=text,
                                   external_id=external_id, name="Mikko Mallikas")
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    await agent.accept(iid)
    await agent.end(iid)
    await agent.wrapup(iid, disposition="solved")
    return str(stored["case_id"])


async def test_an_agents_day_in_the_desk(tmp_path: Path, shop: Any, browser: Any) -> None:
    """Signed in with a password, the desk speaks her language; an offer from a known VIP whose two
    earlier cases on other channels she sees and opens; a canned reply in Finnish; an internal note
    that never reaches the customer; a pivot whose state survives a reload; a network drop that
    loses nothing; sign-out, after which the old cookie opens nothing."""
    backend = {"outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}
    channels = {"custom": [{"name": name, **backend} for name in ("shop-chat", "sms-gw", "mail-gw")]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        bob = await h.agent("bob", name="Bob Earlier")
        await handled_case(h, bob, "sms-gw", "Laskussani on virhe", "old-1")
        await handled_case(h, bob, "mail-gw", "Paketti on kadonnut", "old-2")
        await bob.set_agent_state("bob", "away")
        await h.agent("aino", name="Aino Agent", state="away")
        await h.admin.request("POST", "/api/v1/users", json={
            "login": "aino", "name": "Aino Agent", "role": "agent", "password": PASSWORD, "agent_id": "aino",
            "language": "fi"})
        for language, text, shortcut in (("fi", "Hei {{contact.name}}, kiitos viestistäsi!", "kiitos"),
                                         ("en", "Hi {{contact.name}}, thanks!", "thanks")):
            await h.admin.request("POST", "/api/v1/canned-replies", json={
                "title": shortcut.title(), "language": language, "text": text, "shortcut": shortcut})
        mikko = (await h.admin.request("GET", "/api/v1/contacts", params={"identity": "mikko@example.com"}))["items"][0]
        await h.admin.request("PATCH", f"/api/v1/contacts/{mikko['id']}", json={"attributes": {"vip": True}})

        context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        page = await context.new_page()
        await page.goto(h.url + "/desk")
        await page.get_by_label("Login").fill("aino")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(page.locator("html")).to_have_attribute("lang", "fi")  # hers, not the browser's English
        await expect(page.locator("#link-status")).to_have_text(fi("link.live"))
        await page.get_by_label(fi("desk.presence")).select_option("available")

        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "mikko@example.com"),
                                       text="Reititin ei käynnisty", external_id="new-1")
        iid = stored["interaction_id"]
        offer = page.locator(f'#offers [data-id="{iid}"]')
        await expect(offer.locator(".contact-line")).to_contain_text("Mikko Mallikas")
        await expect(offer.locator(".badge.vip")).to_be_visible()
        await expect(offer.locator(".quote")).to_contain_text("Reititin ei käynnisty")
        await expect(offer.locator(".countdown")).to_contain_text(fi("offer.expires", clock=""))
        await expect(page).to_have_title(f"(1) {fi('desk.title')}")  # the tab counts offers
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "desk-offer-fi.png"), full_page=True)
        await offer.get_by_role("button", name=fi("offer.accept")).click()

        # The customer in context: his earlier cases on other channels, each opening its timeline.
        card = page.locator(f'#work [data-id="{iid}"]')
        panel = page.locator("#contact")
        await expect(panel.locator("h3")).to_have_text(fi("contact.history", count=2))
        await expect(panel.locator("ol.history")).to_contain_text("Laskussani on virhe")
        await expect(panel.locator("ol.history")).to_contain_text("Paketti on kadonnut")
        await expect(panel.locator(".badge.vip")).to_be_visible()
        await panel.get_by_role("button", name="Paketti on kadonnut").click()
        dialog = page.locator("dialog#timeline")
        await expect(dialog).to_contain_text("Paketti on kadonnut")  # bob's case, readable by aino
        await dialog.get_by_role("button", name=fi("common.close")).click()

        # A canned reply in Finnish, picked from the keyboard with its shortcut, filled for Mikko.
        reply = card.get_by_label(fi("work.reply"))
        await reply.fill("/kiitos")
        await reply.press("Enter")
        await expect(reply).to_have_value("Hei Mikko Mallikas, kiitos viestistäsi!")
        await card.get_by_role("button", name=fi("work.send"), exact=True).click()
        sent = card.locator(".msg.outbound")
        await expect(sent).to_contain_text("Hei Mikko Mallikas, kiitos viestistäsi!")
        await expect(sent.locator(".delivery")).to_have_text(fi("delivery.sent"))
        await expect(card.locator(".msg.inbound time")).to_have_count(1)  # every message has its time
        assert shop.received[-1]["body"]["message"]["text"] == "Hei Mikko Mallikas, kiitos viestistäsi!"
        assert not await card.get_by_label(fi("work.reply_mode")).is_visible(), "a plain chat has no public replies"

        # An internal note: on the conversation, marked internal, never sent.
        replies_before = len(shop.received)
        await card.get_by_label(fi("work.note")).fill("Asiakas soitti myös eilen.")
        await card.get_by_role("button", name=fi("work.add_note")).click()
        await expect(card.locator(".msg.note")).to_contain_text("Asiakas soitti myös eilen.")
        await expect(card.locator(".msg.note .internal")).to_have_text(fi("work.internal"))
        await page.wait_for_timeout(300)
        assert len(shop.received) == replies_before, "a note never reaches the customer"

        # A pivot: the link's state follows the customer live, and comes back after a reload.
        await card.get_by_label(fi("pivot.to")).select_option("callback")
        await card.get_by_role("button", name=fi("pivot.send")).click()
        link = card.locator("[data-pivot]")
        await expect(link.locator(".pivot-state")).to_have_text(fi("pivot.state_sent"))
        url = await link.locator("a").get_attribute("href")
        path = "/p/" + str(url).rsplit("/p/", 1)[1]
        async with aiohttp.ClientSession(headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"}) as phone:
            async with phone.get(h.url + path) as response:
                assert response.status == 200
        await expect(link.locator(".pivot-state")).to_have_text(fi("pivot.state_opened"))  # live, from pivot.opened
        await page.screenshot(path=str(ARTIFACTS / "desk-work-fi.png"), full_page=True)
        await page.reload()  # the session resumes; the link's state comes back from the API
        await expect(card.locator("[data-pivot] .pivot-state")).to_have_text(fi("pivot.state_opened"))
        await expect(card.locator(".msg.note")).to_have_count(1)
        await expect(page.locator("#link-status")).to_have_text(fi("link.live"))

        # A network drop: what happens meanwhile arrives after the stream resumes.
        await page.evaluate("me.stream.drop()")
        second = await h.admin.inbound(channel="shop-chat", sender=("email", "eve@example.com"), text="hello?",
                                       external_id="new-2")
        await expect(page.locator(f'#offers [data-id="{second["interaction_id"]}"]')).to_contain_text("eve@example.com")

        await card.get_by_role("button", name=fi("work.end"), exact=True).click()
        await card.get_by_label(fi("wrapup.disposition")).fill("reititin vaihdettu")
        await card.get_by_role("button", name=fi("wrapup.finish")).click()
        await expect(card).to_have_count(0)
        assert (await h.admin.get_interaction(iid))["disposition"] == "reititin vaihdettu"

        old = {c["name"]: c["value"] for c in await context.cookies()}["cti_session"]
        await page.get_by_role("button", name=fi("common.sign_out")).click()
        await expect(page.get_by_label("Login")).to_be_visible()  # signed out, the page speaks the browser's language
        await context.close()
        async with aiohttp.ClientSession(cookies={"cti_session": old}) as thief:
            async with thief.get(h.url + "/api/v1/me") as replay:
                assert replay.status == 401, "a signed-out cookie opens nothing"


async def test_queue_shows_what_waits_with_an_sla_countdown(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        await h.agent("alice", state="away")
        token = (await h.admin.create_token("agent", agent_id="alice"))["token"]
        page = await browser.new_page()
        await page.goto(h.url + "/desk")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Your API token").fill(token)
        await page.get_by_role("button", name="Use the token").click()
        await expect(page.locator("#link-status")).to_have_text("live")
        await h.admin.inbound(channel="shop-chat", sender=("email", "q@example.com"), text="waiting", external_id="q-1",
                              priority=7)
        row = page.locator("#queue tbody tr")
        await expect(row).to_have_count(1)
        await expect(row.locator("td").nth(1)).to_have_text("in order of arrival")  # why it is where it is
        await expect(row.locator("[data-due]")).to_have_text(re.compile(r"^\d+:\d\d$"))  # the SLA clock
        await page.get_by_label("Presence").select_option("available")  # she signs in: the item is offered
        await expect(page.locator("#offers .offer")).to_have_count(1)
        await expect(row).to_have_count(0)
        await page.close()  # (an open event stream would hold the server's shutdown)




async def test_the_wallboard_follows_the_floor_live(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        alice = await h.agent("alice", state="away")
        token = (await h.admin.create_token("supervisor"))["token"]
        page = await browser.new_page(viewport={"width": 1600, "height": 900})
        await page.goto(h.url + "/wallboard")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Supervisor token").fill(token)
        await page.get_by_role("button", name="Use the token").click()
        await expect(page.locator("#link-status")).to_have_text("live")
        await expect(page.locator("#waiting")).to_have_text("0")

        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "w@example.com"), text="hi",
                                       external_id="w-1")
        await expect(page.locator("#waiting")).to_have_text("1")
        await expect(page.locator("#queues tbody")).to_contain_text("shop-chat")
        await alice.set_agent_state("alice", "available")
        await expect(page.locator("#waiting")).to_have_text("0")
        await expect(page.locator("#agents")).to_contain_text("Available: 1")
        await h.interaction_in_state(stored["interaction_id"], "offered")
        await alice.accept(stored["interaction_id"])
        await alice.pivot(stored["interaction_id"], "callback")
        await expect(page.locator("#pivot")).to_contain_text("sent: 1")
        # Each agent by name, with state, time in it and current work; the supervisor sets Alice away.
        row = page.locator('#people tr[data-agent="alice"]')
        await expect(row).to_contain_text("Available")
        await expect(row).to_contain_text("shop-chat 1")
        await expect(row.locator(".in-state")).to_have_text(re.compile(r"^0:0\d$"))
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
        await row.get_by_role("button", name="Set away").click()
        await expect(row).to_contain_text("Away")
        assert (await h.admin.request("GET", "/api/v1/agents/alice"))["state"] == "away"
        changes = await h.services.bus.replay(0, EventFilter(types=["agent.state_changed"]))
        assert changes[-1].data["previous"] == "available" and changes[-1].data["by"].startswith("supervisor:")
        assert "by" not in changes[-2].data  # (she made herself available)
        await page.close()


async def test_reports_show_the_summary_with_charts_and_csv(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        alice = await h.agent("alice")
        for n in range(2):
            stored = await h.admin.inbound(channel="shop-chat", sender=("email", f"r{n}@example.com"), text="hi",
                                           external_id=f"r-{n}")
            await h.interaction_in_state(stored["interaction_id"], "offered")
            await alice.accept(stored["interaction_id"])
        token = (await h.admin.create_token("supervisor"))["token"]
        context = await browser.new_context(accept_downloads=True)
        page = await context.new_page()
        await page.goto(h.url + "/reports")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Supervisor token").fill(token)
        await page.get_by_role("button", name="Use the token").click()
        row = page.locator("#summary tbody tr")
        await expect(row).to_contain_text("shop-chat")
        await expect(row.locator("td").nth(1)).to_have_text("2")  # handled
        chart = page.locator('figure[data-metric="handled"] svg')
        await expect(chart).to_have_attribute("aria-label", "Handled by channel")
        await expect(chart.locator("rect")).to_have_attribute("data-value", "2")
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Download CSV").click()
        download = await download_info.value
        text = await asyncio.to_thread(Path(await download.path()).read_text)
        assert text.splitlines()[0].startswith("group,offered,handled") and "shop-chat,2,2" in text
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)
        await context.close()


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((e) => e.offsetParent !== null && !e.labels?.length && !e.getAttribute("aria-label") && !e.textContent.trim())
  .map((e) => e.outerHTML)"""


async def tab_to(page: Any, name: str, limit: int = 60) -> None:
    """Press Tab until the focused control is the one with this text or label."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.textContent.trim() || "
                                      "document.activeElement.getAttribute('aria-label') || ''")
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def test_the_desk_works_from_the_keyboard_alone(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        await h.agent("alice", name="Alice Example")
        await h.admin.request("POST", "/api/v1/users", json={"login": "alice", "name": "Alice Example",
                                                             "password": "a long passphrase", "role": "agent",
                                                             "agent_id": "alice"})
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await page.goto(h.url + "/desk")
        await tab_to(page, "")  # the login field has a <label>, not text: it is the first stop
        assert await page.evaluate("document.activeElement.id") == "login"
        await page.keyboard.type("alice")
        await page.keyboard.press("Tab")
        await page.keyboard.type("a long passphrase")
        await page.keyboard.press("Enter")  # the agent signs in with her password, from the keyboard
        await expect(page.locator("#link-status")).to_have_text("live")

        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "kim@example.com"),
                                       text="where is my parcel", external_id="k-1")
        iid = stored["interaction_id"]
        await expect(page.locator(f'#offers [data-id="{iid}"]')).to_contain_text("where is my parcel")
        assert await page.evaluate("document.activeElement.tagName") != "BUTTON", "an offer does not steal focus"
        await tab_to(page, "Accept")
        await page.keyboard.press("Enter")
        card = page.locator(f'#work [data-id="{iid}"]')
        await expect(card.get_by_label("Your reply")).to_be_focused()  # focus follows the accept
        await page.keyboard.type("It left the depot today.")
        await tab_to(page, "Send")
        await page.keyboard.press("Enter")
        await expect(card.locator(".msg.outbound")).to_contain_text("It left the depot today.")
        await expect(card.locator(".msg.outbound .delivery")).to_have_text("sent")
        assert await page.evaluate(UNLABELLED) == [], "every control has a label or text"
        await card.get_by_label("Note").focus()  # (the note box follows the reply box in the tab order)
        await page.keyboard.type("Parcel 42, depot Vantaa.")
        await tab_to(page, "Add internal note")
        await page.keyboard.press("Enter")
        await expect(card.locator(".msg.note")).to_contain_text("Parcel 42, depot Vantaa.")

        await tab_to(page, "End")
        await page.keyboard.press("Enter")
        await expect(card.get_by_label("Disposition")).to_be_focused()  # straight into the wrap-up
        await page.keyboard.type("tracking sent")
        await tab_to(page, "Finish wrap-up")
        await page.keyboard.press("Enter")
        await expect(card).to_have_count(0)
        assert (await h.admin.get_interaction(iid))["disposition"] == "tracking sent"


SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


async def test_every_page_fits_desktop_and_phone_screens(tmp_path: Path, shop: Any, browser: Any) -> None:
    """Each page signed in and showing data, at both sizes and in every language: a screenshot each
    (test-artifacts/), no sideways scrolling on the phone, every control labelled, no English left in
    the other languages; the desk with its customer panel and an earlier case's timeline open."""
    from tests.pivot_helpers import pivoted_case

    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        bob = await h.agent("bob", name="Bob Earlier")
        earlier = await h.admin.inbound(channel="shop-chat", sender=("x", "12345"), text="an earlier question",
                                        external_id="tw-0")
        await h.interaction_in_state(earlier["interaction_id"], "offered")
        await bob.accept(earlier["interaction_id"])
        await bob.end(earlier["interaction_id"])
        await bob.wrapup(earlier["interaction_id"])
        await h.admin.update_case(earlier["case_id"], status="resolved")  # the next message opens a new case
        await bob.set_agent_state("bob", "away")
        p = await pivoted_case(h, send=False)  # alice has an active conversation with a pivot link
        tokens = {"desk": (await h.admin.create_token("agent", agent_id="alice"))["token"],
                  "wallboard": (await h.admin.create_token("supervisor"))["token"]}
        tokens["reports"] = tokens["wallboard"]
        english = {key: i18n.text("en", key) for key in ("desk.work", "contact.title", "wall.waiting", "reports.show")}
        ARTIFACTS.mkdir(exist_ok=True)
        for size, viewport in SIZES.items():
            context = await browser.new_context(viewport=viewport, is_mobile=size == "phone")
            page = await context.new_page()
            for name, token in tokens.items():
                await page.goto(h.url + "/" + name)
                await page.get_by_text("Sign in with an API token").click()
                await page.locator("#token").fill(token)
                await page.keyboard.press("Enter")
                await expect(page.locator("#signin")).to_be_hidden()
                for language in LANGUAGES:
                    await page.goto(f"{h.url}/{name}?lang={language}")  # the token stays in this tab
                    await expect(page.locator(f"#{name}")).to_be_visible()
                    if name == "desk":
                        await expect(page.locator("#contact ol.history")).to_contain_text("an earlier question")
                    await page.screenshot(path=str(ARTIFACTS / f"page-{name}-{language}-{size}.png"), full_page=True)
                    assert await page.evaluate(OVERFLOW) <= 0, f"{name} scrolls sideways at {size} size in {language}"
                    assert await page.evaluate(UNLABELLED) == [], (name, language)
                    if language != "en":
                        shown = await page.inner_text("body")
                        assert not [text for text in english.values() if text in shown], (name, language)
                if name == "desk":  # an earlier case's timeline, over the page
                    await page.locator("#contact ol.history button").click()
                    await expect(page.locator("dialog#timeline")).to_contain_text("an earlier question")
                    await page.screenshot(path=str(ARTIFACTS / f"page-desk-timeline-{size}.png"))
                    assert await page.evaluate(UNLABELLED) == []
                    await page.keyboard.press("Escape")  # a dialog closes from the keyboard
                    await expect(page.locator("dialog#timeline")).to_be_hidden()
                await page.evaluate("sessionStorage.clear()")
            await page.goto(h.url + p.path)
            await expect(page.get_by_role("button", name="Call me now")).to_be_visible()
            await page.screenshot(path=str(ARTIFACTS / f"page-pivot-{size}.png"), full_page=True)
            assert await page.evaluate(OVERFLOW) <= 0, f"the pivot page scrolls sideways at {size} size"
            await context.close()
