"""The agent desktop in headless Chromium: sign in, an offer pops live with the contact and history,
accept, reply, pivot (the link's status follows the customer live), end and wrap up; the event
stream resumes after a network drop without missing anything."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import expect

from tests.harness import CALLS, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


async def test_the_agent_works_a_conversation_from_the_desktop(tmp_path: Path, shop: Any, browser: Any) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        await h.agent("alice", name="Alice Example")
        token = (await h.admin.create_token("agent", agent_id="alice"))["token"]
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await page.goto(h.url + "/desk")
        await page.get_by_text("Sign in with an API token").click()
        await page.get_by_label("Your API token").fill(token)
        await page.keyboard.press("Enter")  # the form works from the keyboard
        await expect(page.locator("#who")).to_contain_text("Alice Example")
        await expect(page.locator("#link-status")).to_have_text("live")

        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "bob@example.com"),
                                       text="my router died", external_id="d-1", name="Bob")
        iid = stored["interaction_id"]
        offer = page.locator(f'#offers [data-id="{iid}"]')
        await expect(offer).to_contain_text("email: bob@example.com")
        await expect(offer.locator(".history")).to_contain_text("my router died")
        await expect(page).to_have_title("(1) Agent desktop")  # the tab counts offers
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "desk-offer-desktop.png"), full_page=True)
        await offer.get_by_role("button", name="Accept").click()

        card = page.locator(f'#work [data-id="{iid}"]')
        await expect(card).to_contain_text("customer: my router died")
        await expect(page).to_have_title("Agent desktop")  # taken: no offer waits
        await card.get_by_label("Your reply").fill("On it, Bob!")
        await card.get_by_role("button", name="Send").click()
        await expect(card.locator(".messages")).to_contain_text("you: On it, Bob! (sent)")
        assert shop.received[-1]["body"]["message"]["text"] == "On it, Bob!"

        await card.get_by_label("pivot to").select_option("callback")
        await card.get_by_role("button", name="Pivot", exact=True).click()
        link = card.locator("[data-pivot]")
        await expect(link.locator(".pivot-state")).to_have_text("sent")
        url = await link.locator("a").get_attribute("href")
        path = "/p/" + str(url).rsplit("/p/", 1)[1]
        async with aiohttp.ClientSession(headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"}) as phone:
            async with phone.get(h.url + path) as response:
                assert response.status == 200
        await expect(link.locator(".pivot-state")).to_have_text("opened")  # live, from pivot.opened
        await page.reload()  # the link's state comes back from the API, not from the page's memory
        await expect(card.locator("[data-pivot] .pivot-state")).to_have_text("opened")
        await expect(page.locator("#link-status")).to_have_text("live")

        # a network drop: what happens meanwhile arrives after the stream resumes
        await page.evaluate("me.stream.drop()")
        second = await h.admin.inbound(channel="shop-chat", sender=("email", "eve@example.com"), text="hello?",
                                       external_id="d-2")
        await expect(page.locator(f'#offers [data-id="{second["interaction_id"]}"]')).to_contain_text("eve@example.com")
        await expect(page.locator("#link-status")).to_have_text("live")

        await card.get_by_role("button", name="End", exact=True).click()
        await expect(card.locator("form.wrapup")).to_be_visible()
        await card.get_by_label("Disposition").fill("router replaced")
        await card.get_by_role("button", name="Finish wrap-up").click()
        await expect(card).to_have_count(0)
        assert (await h.admin.get_interaction(iid))["disposition"] == "router replaced"

        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=str(ARTIFACTS / "desk-phone.png"), full_page=True)
        await context.close()


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
        await expect(row.locator("td").nth(1)).to_have_text("7")
        await expect(row.locator(".sla")).to_contain_text(" s")
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
        await expect(page.locator("#agents")).to_contain_text("available: 1")
        await h.interaction_in_state(stored["interaction_id"], "offered")
        await alice.accept(stored["interaction_id"])
        await alice.pivot(stored["interaction_id"], "callback")
        await expect(page.locator("#pivot")).to_contain_text("sent 1")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
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
        await expect(card.locator(".messages")).to_contain_text("you: It left the depot today. (sent)")
        assert await page.evaluate(UNLABELLED) == [], "every control has a label or text"

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
    """Each page signed in and showing data, at both sizes: a screenshot each (test-artifacts/), no
    sideways scrolling on the phone, every control labelled."""
    from tests.pivot_helpers import pivoted_case

    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    async with running_server(make_config(tmp_path, channels=channels, connectors=CALLS)) as h:
        p = await pivoted_case(h, send=False)  # alice has an active conversation with a pivot link
        tokens = {"desk": (await h.admin.create_token("agent", agent_id="alice"))["token"],
                  "wallboard": (await h.admin.create_token("supervisor"))["token"]}
        tokens["reports"] = tokens["wallboard"]
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
                if name == "desk":
                    await expect(page.locator(f'#work [data-id="{p.interaction_id}"]')).to_be_visible()
                await page.screenshot(path=str(ARTIFACTS / f"page-{name}-{size}.png"), full_page=True)
                assert await page.evaluate(OVERFLOW) <= 0, f"{name} scrolls sideways at {size} size"
                assert await page.evaluate(UNLABELLED) == [], name
                await page.evaluate("sessionStorage.clear()")
            await page.goto(h.url + p.path)
            await expect(page.get_by_role("button", name="Call me now")).to_be_visible()
            await page.screenshot(path=str(ARTIFACTS / f"page-pivot-{size}.png"), full_page=True)
            assert await page.evaluate(OVERFLOW) <= 0, f"the pivot page scrolls sideways at {size} size"
            await context.close()
