"""Parties in the browser, with real phones for the customer and the agent (Kamailio, baresip) and
headless Chromium with fake microphones for the rest: a colleague who answers calls in the desk's
browser softphone is asked into a call, declines once, then joins a conference from her desk; a
supervisor whispers from the wallboard in the browser. Each hears what the table says (measured in
the phones' recordings and by the pages' own audio meters)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone
from tests.harness import running_server
from tests.test_browser_voice import tone_wav
from tests.test_desk_softphone import CHROMIUM
from tests.voice_helpers import Timeline, bridged_call, heard, registered, server_config

pytestmark = pytest.mark.slow
BOB, ALICE, CAROL, SUPERVISOR = 1000.0, 440.0, 700.0, 1550.0
TONES = [BOB, ALICE, CAROL, SUPERVISOR]


async def _party(client: Any, iid: str, state: str, role: str = "guest") -> dict[str, Any] | None:
    items = (await client.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"]
    return next((p for p in items if p["state"] == state and p["role"] == role), None)


async def test_a_colleague_joins_from_her_desk_and_a_supervisor_whispers_from_the_wallboard(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    carol_mic = await asyncio.to_thread(tone_wav, tmp_path / "carol.wav", CAROL, 60.0)
    supervisor_mic = await asyncio.to_thread(tone_wav, tmp_path / "supervisor.wav", SUPERVISOR, 60.0)
    timeline = Timeline()
    async with running_server(server_config(tmp_path, registrar)) as h, async_playwright() as playwright:
        await registered(h)
        await h.agent("carol", voice_endpoint="browser", state="away")  # (a colleague, not in the queue)
        carol_token = (await h.admin.create_token("agent", agent_id="carol"))["token"]
        supervisor_token = (await h.admin.create_token("supervisor"))["token"]
        browsers = [await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                     args=[*CHROMIUM, f"--use-file-for-fake-audio-capture={mic}"])
                    for mic in (carol_mic, supervisor_mic)]
        try:
            desk = await browsers[0].new_page()
            await desk.goto(h.url + "/desk")
            await desk.get_by_text("Sign in with an API token").click()
            await desk.get_by_label("Your API token").fill(carol_token)
            await desk.get_by_role("button", name="Use the token").click()
            await desk.wait_for_selector("#link-status.ok")
            alice, iid = await bridged_call(h, alice_phone, bob_phone)
            timeline.started["bob"] = timeline.started["alice"] = time.monotonic()
            participants = f"/api/v1/interactions/{iid}/participants"

            # Asked in for a consult, Carol declines: Alice is back with the customer at once.
            await alice.request("POST", participants, json={"agent_id": "carol", "mode": "consult"})
            await desk.get_by_role("button", name="Decline").click()
            declined = await h.wait_for(lambda: _party(alice, iid, "left"), what="the decline")
            assert declined["reason"] == "declined"

            # Asked into a conference, she joins from the desk: her browser is the third party.
            await alice.request("POST", participants, json={"agent_id": "carol", "mode": "conference"})
            await desk.get_by_role("button", name="Join in the browser").click()
            line = desk.locator(f'#work [data-guest="{iid}"] .softphone-status')
            await line.filter(has_text="connected").wait_for(timeout=15_000)
            await h.wait_for(lambda: _party(alice, iid, "connected"), what="carol connected")
            timeline.phase("conference")

            async def hears(page_line: Any, tones: tuple[float, ...]) -> float | None:
                peak = float(await page_line.get_attribute("data-peak-hz") or 0)
                return peak if any(abs(peak - hz) < 25 for hz in tones) else None

            assert await h.wait_for(lambda: hears(line, (BOB, ALICE)), timeout=15, what="the call in carol's browser")
            await asyncio.sleep(2.5)

            # The supervisor whispers from the wallboard, in her browser.
            board = await browsers[1].new_page()
            await board.goto(h.url + "/wallboard")
            await board.get_by_text("Sign in with an API token").click()
            await board.get_by_label("Supervisor token").fill(supervisor_token)
            await board.get_by_role("button", name="Use the token").click()
            await board.get_by_label("Listen in this browser").check()
            await board.locator(f'#calls tr[data-id="{iid}"]').get_by_role("button", name="Whisper").click()
            supervisor = h.client(supervisor_token)
            await h.wait_for(lambda: _party(supervisor, iid, "connected", "supervisor"), timeout=15,
                             what="the supervisor's browser connected")
            timeline.phase("whisper")
            board_line = board.locator(f'#calls tr[data-id="{iid}"] .softphone-status')
            assert await h.wait_for(lambda: hears(board_line, (BOB, ALICE, CAROL)), timeout=15,
                                    what="the call in the supervisor's browser")
            await asyncio.sleep(2.5)
            timeline.phase("end")
            await desk.screenshot(path="test-artifacts/desk-guest.png")
            await board.screenshot(path="test-artifacts/wallboard-monitor-browser.png")
            await alice.end(iid)
            await asyncio.to_thread(bob_phone.wait_call_over)
            await desk.locator(f'#work [data-guest="{iid}"]').wait_for(state="detached", timeout=15_000)
        finally:
            for browser in browsers:
                await browser.close()
    conference = heard(bob_phone, timeline, "conference", TONES)
    # (the browser's microphone goes through Chromium's gain control: its level is lower and drifts)
    assert conference[CAROL] > 0.05 and conference[ALICE] > 0.15, conference  # the customer hears both
    whisper_bob, whisper_alice = heard(bob_phone, timeline, "whisper", TONES), heard(alice_phone, timeline, "whisper",
                                                                                     TONES)
    assert whisper_alice[SUPERVISOR] > 0.1, whisper_alice  # the agent is coached
    assert whisper_bob[SUPERVISOR] < 0.01 and whisper_bob[CAROL] > 0.05, whisper_bob  # the customer never hears it
