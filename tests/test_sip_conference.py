"""Calls with more than two people, with real phones (Kamailio and baresip, each phone sending its
own tone): a consult, a three-party conference and a supervisor who whispers, barges and listens.
What each phone heard is measured in its own recording."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from cti.bus import EventFilter
from cti.client import CtiApiError
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone
from tests.harness import running_server
from tests.voice_helpers import Timeline, bridged_call, registered, server_config
from tests.voice_helpers import heard as heard_tones

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
BOB, ALICE, CAROL, SUPERVISOR, HOLD = 1000.0, 440.0, 600.0, 1400.0, 800.0  # (hold audio: the default 800 Hz tone)
TONES = [BOB, ALICE, CAROL, SUPERVISOR, HOLD]


def heard(phone: Phone, timeline: Timeline, phase: str) -> dict[float, float]:
    return heard_tones(phone, timeline, phase, TONES)


async def test_consult_conference_and_a_supervisor_with_real_phones(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone], phones: Any,
        browser: Any) -> None:
    alice_phone, bob_phone = agent_and_customer
    carol_phone = await phones("carol", CAROL)
    supervisor_phone = await phones("2001", SUPERVISOR)
    timeline = Timeline()
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        await h.agent("carol", voice_endpoint="sip:carol@127.0.0.1", state="away")  # (a colleague, not in the queue)
        alice, iid = await bridged_call(h, alice_phone, bob_phone)
        timeline.started["alice"] = timeline.started["bob"] = time.monotonic()
        supervisor_token = (await h.admin.create_token("supervisor"))["token"]
        supervisor = h.client(supervisor_token)
        timeline.phase("talking")
        await asyncio.sleep(2.0)

        with pytest.raises(CtiApiError) as refused:  # exactly one target, by its shape
            await alice.request("POST", f"/api/v1/interactions/{iid}/participants",
                                json={"agent_id": "carol", "number": "2001"})
        assert refused.value.status == 400
        # Alice brings her colleague in from the desk: a consult first, then everyone together.
        agent_token = (await h.admin.create_token("agent", agent_id="alice"))["token"]
        desk = await browser.new_page()
        await desk.goto(h.url + "/desk")
        await desk.get_by_text("Sign in with an API token").click()
        await desk.get_by_label("Your API token").fill(agent_token)
        await desk.get_by_role("button", name="Use the token").click()
        card = desk.locator(f'#work [data-id="{iid}"]')
        await card.get_by_label("Colleague, number or SIP URI to call in").fill("carol")
        await card.get_by_role("button", name="Call them in").click()
        await asyncio.to_thread(carol_phone.wait_log, "Call established")
        timeline.started["carol"] = time.monotonic()
        guest = card.locator(".parties li")
        await expect(guest).to_contain_text("in the call")
        party = (await alice.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"][0]
        assert (party["state"], party["mode"], party["kind"]) == ("connected", "consult", "agent")
        timeline.phase("consult")
        await asyncio.sleep(2.5)

        await guest.get_by_role("button", name="Join everyone").click()
        await expect(guest).to_contain_text("conference")
        ARTIFACTS.mkdir(exist_ok=True)
        await desk.screenshot(path=str(ARTIFACTS / "desk-conference.png"), full_page=True)
        timeline.phase("conference")
        await asyncio.sleep(2.5)

        # The supervisor starts from the wallboard: the live call's Whisper button, on her phone.
        board = await browser.new_page()
        await board.goto(h.url + "/wallboard")
        await board.get_by_text("Sign in with an API token").click()
        await board.get_by_label("Supervisor token").fill(supervisor_token)
        await board.get_by_role("button", name="Use the token").click()
        await board.get_by_label("Your phone (SIP URI)").fill("sip:2001@127.0.0.1")
        await board.locator(f'#calls tr[data-id="{iid}"]').get_by_role("button", name="Whisper").click()
        await expect(board.locator(f'#calls tr[data-id="{iid}"] [aria-pressed="true"]')).to_have_text("Whisper")
        await asyncio.to_thread(supervisor_phone.wait_log, "Call established")
        timeline.started["2001"] = time.monotonic()
        await h.wait_for(lambda: _monitoring(supervisor, iid), what="the supervisor connected")
        timeline.phase("whisper")
        await asyncio.sleep(2.5)
        await supervisor.request("PATCH", f"/api/v1/interactions/{iid}/monitor", json={"mode": "barge"})
        timeline.phase("barge")
        await asyncio.sleep(2.5)
        await supervisor.request("PATCH", f"/api/v1/interactions/{iid}/monitor", json={"mode": "listen"})
        timeline.phase("listen")
        await asyncio.sleep(2.5)
        await board.locator(f'#calls tr[data-id="{iid}"]').get_by_role("button", name="Stop").click()
        await asyncio.to_thread(supervisor_phone.wait_call_over)
        await board.close()
        await guest.get_by_role("button", name="Hang up them").click()
        await asyncio.to_thread(carol_phone.wait_call_over)
        await expect(guest).to_have_count(0)
        await desk.close()
        timeline.phase("two again")
        await asyncio.sleep(2.0)
        timeline.phase("end")
        await alice.end(iid)
        await asyncio.to_thread(bob_phone.wait_call_over)

        # The agent's own stream and timeline never told her of the supervisor.
        events = await h.services.bus.replay(0, EventFilter(types=["call.*"]))
        mine = EventFilter(types=["call.*"], agent_id="alice", agent_queues=frozenset({"default"}))
        assert [e.type.value for e in events if e.type.value.startswith("call.monitor.")] == [
            "call.monitor.started", "call.monitor.changed", "call.monitor.changed", "call.monitor.ended"]
        assert not [e for e in events if mine.accepts(e) and (e.type.value.startswith("call.monitor.")
                                                            or e.data.get("role") == "supervisor")]
        monitor_id = next(e for e in events if e.type.value == "call.monitor.started").data["participant"]["id"]
        timeline_seen = await alice.timeline(events[0].case_id or "")
        assert not [e for e in timeline_seen["entries"] if "monitor" in e["type"]
                    or e["data"].get("role") == "supervisor" or e["data"].get("party_id") == monitor_id]
        kinds = [e.type.value for e in events]
        assert kinds.count("call.participant.joined") == 1 and kinds.count("call.participant.left") == 1
        started = next(e for e in events if e.type.value == "call.monitor.started")
        assert started.data["participant"]["mode"] == "whisper" and started.agent_id is None

    # What each phone heard, phase by phase (levels relative to the loudest tone in the window).
    def loud(levels: dict[float, float], tone: float) -> bool:
        return levels[tone] > 0.25

    def absent(levels: dict[float, float], tone: float) -> bool:
        return levels[tone] < 0.06

    bob = {p: heard(bob_phone, timeline, p) for p in ("consult", "conference", "whisper", "barge", "listen")}
    alice_heard = {p: heard(alice_phone, timeline, p) for p in ("consult", "conference", "whisper", "barge")}
    carol = heard(carol_phone, timeline, "conference")
    assert loud(bob["consult"], HOLD) and absent(bob["consult"], CAROL), bob["consult"]  # hold audio, not carol
    assert loud(alice_heard["consult"], CAROL) and absent(alice_heard["consult"], BOB), alice_heard["consult"]
    assert loud(bob["conference"], ALICE) and loud(bob["conference"], CAROL), bob["conference"]
    assert loud(carol, ALICE) and loud(carol, BOB), carol
    assert absent(bob["conference"], BOB) and absent(carol, CAROL), "nobody hears their own voice back"
    assert loud(alice_heard["conference"], BOB) and loud(alice_heard["conference"], CAROL)
    assert loud(alice_heard["whisper"], SUPERVISOR), alice_heard["whisper"]  # coached...
    assert absent(bob["whisper"], SUPERVISOR), bob["whisper"]  # ...and the customer heard nothing of it
    assert loud(bob["barge"], SUPERVISOR) and loud(alice_heard["barge"], SUPERVISOR)
    assert absent(bob["listen"], SUPERVISOR), bob["listen"]
    supervisor_heard = heard(supervisor_phone, timeline, "listen")
    assert loud(supervisor_heard, BOB) and loud(supervisor_heard, ALICE) and loud(supervisor_heard, CAROL)


async def _state(client: Any, iid: str, party_id: str, state: str) -> bool:
    items = (await client.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"]
    return any(p["id"] == party_id and p["state"] == state for p in items)


async def _monitoring(client: Any, iid: str) -> bool:
    items = (await client.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"]
    return any(p["role"] == "supervisor" and p["state"] == "connected" for p in items)


async def test_an_attended_transfer_and_a_consult_nobody_answers(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone], phones: Any) -> None:
    """A consult to a number nobody has returns the agent to the customer; a consult that answers
    is then handed the customer (attended transfer): the agent's phone is hung up, the customer and
    the consulted party hear each other, the agent's part goes to wrap-up."""
    alice_phone, bob_phone = agent_and_customer
    carol_phone = await phones("carol", CAROL)
    timeline = Timeline()
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        alice, iid = await bridged_call(h, alice_phone, bob_phone)
        timeline.started["bob"] = time.monotonic()
        nobody = (await alice.request("POST", f"/api/v1/interactions/{iid}/participants",
                                      json={"number": "+358401234567", "mode": "consult"}))["participant"]
        left = await h.wait_for(lambda: _party(alice, iid, nobody["id"], "left"), what="the consult gave up")
        assert left["reason"].startswith("404"), left  # the registrar knows nobody there
        timeline.phase("back with the agent")
        await asyncio.sleep(2.0)

        carol = (await alice.request("POST", f"/api/v1/interactions/{iid}/participants",
                                     json={"sip_uri": "sip:carol@127.0.0.1"}))["participant"]
        await asyncio.to_thread(carol_phone.wait_log, "Call established")
        timeline.started["carol"] = time.monotonic()
        await h.wait_for(lambda: _party(alice, iid, carol["id"], "connected"), what="carol connected")
        with pytest.raises(CtiApiError) as unknown:
            await alice.transfer(iid, participant_id="pty_unknown")
        assert unknown.value.status == 404
        await alice.transfer(iid, participant_id=carol["id"])
        await asyncio.to_thread(alice_phone.wait_call_over)  # the first agent leaves
        done = await h.interaction_in_state(iid, "wrapup")
        assert done["agent_id"] == "alice"
        timeline.phase("transferred")
        await asyncio.sleep(2.5)
        timeline.phase("end")
        await asyncio.to_thread(bob_phone.hangup)
        await asyncio.to_thread(carol_phone.wait_call_over)  # the call ends with the customer
        kinds = [e.type.value for e in await h.services.bus.replay(0, EventFilter(types=["call.*"]))]
        assert "call.transferred" in kinds and kinds.count("call.participant.left") == 2
    back = heard(bob_phone, timeline, "back with the agent")
    assert back[ALICE] > 0.25 and back[HOLD] < 0.06, back  # the failed consult gave her back her agent
    bob_after, carol_after = heard(bob_phone, timeline, "transferred"), heard(carol_phone, timeline, "transferred")
    assert bob_after[CAROL] > 0.25 and bob_after[ALICE] < 0.06, bob_after
    assert carol_after[BOB] > 0.25, carol_after


async def _party(client: Any, iid: str, party_id: str, state: str) -> dict[str, Any] | None:
    items = (await client.request("GET", f"/api/v1/interactions/{iid}/participants"))["items"]
    return next((p for p in items if p["id"] == party_id and p["state"] == state), None)
