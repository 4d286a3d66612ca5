"""The whole product in real browsers: an agent signs in to the desktop, accepts an X DM (through the
X emulator), pivots to a browser call; the customer (a second browser context, phone-sized, with a
fake microphone playing 700 Hz) opens the link and talks; the agent accepts the call on the desk
and hears the customer on her real desk phone (baresip through Kamailio) while the customer hears
her 440 Hz; she hangs up and wraps up; the wallboard's funnel and the case timeline show it.
Screenshots of each page at desktop and phone sizes go to test-artifacts/."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright, expect

from sip_test_env.emulators.x import XEmulator
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency
from tests.harness import make_config, running_server
from tests.pg import free_port
from tests.test_browser_voice import tone_wav
from tests.voice_helpers import registered

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


async def test_an_x_dm_becomes_a_browser_call_with_the_agent(
        tmp_path: Path, registrar: Registrar, phones: Any, x: XEmulator) -> None:
    alice_phone = await phones("alice", 440)
    wav = await asyncio.to_thread(tone_wav, tmp_path / "mic.wav", 700)
    port = free_port()
    config = make_config(
        tmp_path, server={"public_url": f"http://127.0.0.1:{port}"},
        connectors={"sip": {"registrar": f"127.0.0.1:{registrar.port}", "username": "cti", "password": "ctipass"},
                    "x": {"consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token,
                          "account_id": x.account_id, "api_base": x.url}},
        pivot={"company_name": "Acme"})
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_server(config, port=port) as h, async_playwright() as playwright:
        await registered(h)
        x.webhook_url = h.url + "/webhooks/x"
        await h.agent("alice", name="Alice Example", voice_endpoint=alice_phone.uri, state="away")
        agent_token = (await h.admin.create_token("agent", agent_id="alice"))["token"]
        supervisor = (await h.admin.create_token("supervisor"))["token"]
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required"])
        try:
            desk_context = await browser.new_context(viewport={"width": 1280, "height": 900})
            desk = await desk_context.new_page()
            await desk.goto(h.url + "/desk")
            await desk.get_by_text("Sign in with an API token").click()
            await desk.get_by_label("Your API token").fill(agent_token)
            await desk.get_by_role("button", name="Use the token").click()
            await expect(desk.locator("#link-status")).to_have_text("live")
            await desk.get_by_label("Presence").select_option("available")

            board = await desk_context.new_page()
            await board.goto(h.url + "/wallboard")
            await board.get_by_text("Sign in with an API token").click()
            await board.get_by_label("Supervisor token").fill(supervisor)
            await board.get_by_role("button", name="Use the token").click()
            await expect(board.locator("#link-status")).to_have_text("live")

            await x.signed_post(x.dm_payload({"user": {"id": 2244994945, "screen_name": "dana", "name": "Dana"},
                                              "text": "My router died. Can someone call me?"}))
            offer = desk.locator("#offers .offer")
            await expect(offer).to_contain_text("My router died")
            await desk.screenshot(path=str(ARTIFACTS / "journey-desk-offer.png"), full_page=True)
            await offer.get_by_role("button", name="Accept").click()
            card = desk.locator("#work article").first
            await expect(card.locator(".suggestion")).to_contain_text("pivot")
            await card.get_by_label("pivot to").select_option("voice")
            await card.get_by_role("button", name="Send pivot link").click()
            await expect(card.locator(".pivot-state")).to_have_text("sent")
            await h.wait_for(lambda: x.dms, what="the link DM'ed at X")
            link = x.dms[0]["text"].split(" ")[-1]

            phone_context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                      bypass_csp=True)  # (only to read window.__peakHz)
            customer = await phone_context.new_page()
            await customer.goto(link)
            await customer.screenshot(path=str(ARTIFACTS / "journey-pivot-page-phone.png"), full_page=True)
            await customer.get_by_role("button", name="Talk in the browser now").click()
            await expect(card.locator(".pivot-state")).to_have_text("used")

            call_card = desk.locator("#offers .offer").filter(has_text="voice")
            await expect(call_card).to_contain_text("pivot")
            await call_card.get_by_role("button", name="Answer on your phone").click()
            await asyncio.to_thread(alice_phone.wait_log, "Call established")

            async def hears_agent() -> float | None:
                peak = await customer.evaluate("window.__peakHz || 0")
                return peak if abs(peak - 440) < 25 else None

            assert await h.wait_for(hears_agent, timeout=15, what="the customer hears the agent")
            await asyncio.sleep(1.5)
            voice_card = desk.locator("#work article").filter(has=desk.locator("h3", has_text="Voice"))
            await voice_card.get_by_role("button", name="Hang up").click()
            await asyncio.to_thread(alice_phone.wait_call_over)
            await voice_card.get_by_label("Disposition").fill("router replaced")
            await voice_card.get_by_role("button", name="Finish wrap-up").click()
            await expect(voice_card).to_have_count(0)
            await expect(board.locator("#pivot")).to_contain_text("used: 1")
            await expect(board.locator("#pivot")).to_contain_text("connected: 1")  # (the agent answered the browser)
            await board.screenshot(path=str(ARTIFACTS / "journey-wallboard.png"), full_page=True)
            await desk.set_viewport_size({"width": 390, "height": 844})
            await desk.screenshot(path=str(ARTIFACTS / "journey-desk-phone.png"), full_page=True)
            await desk_context.close()
            await phone_context.close()
        finally:
            await browser.close()
        calls = (await h.admin.list_interactions(channel="voice"))["items"]
        assert len(calls) == 1 and calls[0]["initiation"] == "pivot" and calls[0]["disposition"] == "router replaced"
        timeline = await h.admin.timeline(calls[0]["case_id"])
        kinds = [e["type"] for e in timeline["entries"]]
        for step in ("message.received", "pivot.created", "message.sent", "pivot.opened", "pivot.redeemed",
                     "call.ringing", "call.answered", "call.ended", "interaction.ended"):
            assert step in kinds, step
        assert kinds.index("pivot.created") < kinds.index("pivot.redeemed") < kinds.index("call.ended")
    recordings = [r for r in alice_phone.recordings() if r.name.endswith("-dec.wav")]
    assert recordings and abs(dominant_frequency(recordings[0]) - 700) < 25, "the agent heard the customer"
