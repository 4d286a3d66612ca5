"""The Twilio connector against the Twilio emulator (the twilio library unchanged, pointed at it):
SMS in and out with signatures; an inbound Twilio call queued, offered, and bridged by TwiML
<Dial><Sip> through Kamailio to the agent's real phone with audio both ways; a pivot callback
placed through Twilio's calls API to two real phones."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from cti.bus import EventFilter
from sip_test_env.emulators.twilio import TwilioEmulator, twilio_signature
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency
from tests.harness import Harness, make_config, running_server
from tests.pg import free_port
from tests.pivot_helpers import Customer, pivoted_case
from tests.voice_helpers import CUSTOMER_MOBILE

ALL_WEEK = {d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def twilio_config(tmp_path: Path, twilio: TwilioEmulator, port: int, registrar: Registrar | None = None,
                  **sections: Any) -> Any:
    settings = {"account_sid": twilio.account_sid, "auth_token": twilio.auth_token,
                "phone_number": twilio.phone_number, "api_base": twilio.url}
    if registrar is not None:
        settings["sip_domain"] = f"127.0.0.1:{registrar.port}"
    return make_config(tmp_path, server={"public_url": f"http://127.0.0.1:{port}"},
                       connectors={"twilio": settings}, webhooks={"initial_backoff": 0.1, "max_backoff": 0.5},
                       **sections)


def wire_number(twilio: TwilioEmulator, h: Harness) -> None:
    twilio.voice_url = h.url + "/webhooks/twilio/voice"
    twilio.status_url = h.url + "/webhooks/twilio/status"
    twilio.sms_url = h.url + "/webhooks/twilio/sms"


async def test_sms_in_and_out_and_forged_requests_refused(tmp_path: Path) -> None:
    twilio = await TwilioEmulator().start()
    port = free_port()
    try:
        async with running_server(twilio_config(tmp_path, twilio, port), port=port) as h:
            wire_number(twilio, h)
            await h.wait_for(lambda: h.services.connector_health.get("twilio") == "connected", what="twilio up")
            ann = await h.agent("ann")
            for _ in range(2):  # Twilio retries: one message
                status, body = await twilio.send_sms("+358401112233", "Missä tilaukseni on?", "SM" + "a1" * 16)
                assert status == 200 and body.endswith("<Response></Response>")
            M = models.messages
            rows = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
                sa.select(M).where(M.c.channel == "twilio")).all()), what="the SMS stored")
            assert [(r.text, r.external_id) for r in rows] == [("Missä tilaukseni on?", "sms:SM" + "a1" * 16)]
            await h.interaction_in_state(rows[0].interaction_id, "offered")
            await ann.accept(rows[0].interaction_id)
            await ann.reply(rows[0].interaction_id, "Se on matkalla.")
            await h.wait_for(lambda: twilio.messages, what="the SMS at Twilio")
            assert (twilio.messages[0]["to"], twilio.messages[0]["from"], twilio.messages[0]["body"]) == (
                "+358401112233", twilio.phone_number, "Se on matkalla.")

            params = {"MessageSid": "SMforged", "From": "+358401112233", "Body": "forged"}
            async with aiohttp.ClientSession() as session:
                for signature, expected in ((None, 401), (twilio_signature("wrong", twilio.sms_url, params), 403)):
                    headers = {"Content-Type": "application/x-www-form-urlencoded"}
                    if signature:
                        headers["X-Twilio-Signature"] = signature
                    async with session.post(twilio.sms_url, data=urllib.parse.urlencode(params),
                                            headers=headers) as response:
                        assert response.status == expected
            assert len(await h.services.db.read(lambda c: c.execute(sa.select(M.c.id)).all())) == 2  # in + reply
    finally:
        await twilio.stop()


@pytest.fixture
async def twilio(registrar: Registrar) -> AsyncIterator[TwilioEmulator]:
    emulator = TwilioEmulator(sip_proxy=("127.0.0.1", registrar.port),
                              numbers={"+358401234567": f"sip:{CUSTOMER_MOBILE}@127.0.0.1"})
    await emulator.start()
    yield emulator
    await emulator.stop()


def calls_over(phone: Any) -> int:
    log = phone.log()
    return log.count("session closed") + log.count("terminated (duration")


def heard(phone: Any) -> float:
    recordings = [r for r in phone.recordings() if r.name.endswith("-dec.wav")]
    return dominant_frequency(recordings[0]) if recordings else 0.0


async def test_an_inbound_twilio_call_is_queued_and_bridged_to_the_agents_phone(
        tmp_path: Path, registrar: Registrar, phones: Any, twilio: TwilioEmulator) -> None:
    alice_phone, caller_phone = await phones("alice", 440), await phones("bob", 1000)
    port = free_port()
    async with running_server(twilio_config(tmp_path, twilio, port, registrar), port=port) as h:
        wire_number(twilio, h)
        alice = await h.agent("alice", voice_endpoint="sip:alice@127.0.0.1")
        call = await twilio.place_inbound_call("+358409998877", caller_sip=caller_phone.uri)

        async def offered() -> str | None:
            items = (await h.admin.list_interactions(channel="voice", state="offered"))["items"]
            return items[0]["id"] if items else None

        iid = await h.wait_for(offered, timeout=20, what="the Twilio call offered")
        interaction = await h.admin.get_interaction(iid)
        assert interaction["external_id"] == call.sid and interaction["direction"] == "inbound"
        await alice.accept(iid)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        await asyncio.sleep(2.0)
        await alice.transfer(iid, number="+358401234567")

        async def refused() -> Any:
            events = await h.services.bus.replay(0, EventFilter(types=["call.transfer_failed"]))
            return events[0] if events else None

        assert "not supported on Twilio calls" in (await h.wait_for(refused, what="a clear refusal")).data["reason"]
        await alice.hold(iid)  # the caller back in the queue with hold audio; her phone released
        await asyncio.to_thread(alice_phone.wait_call_over)
        await alice.resume(iid)  # her phone rings again and the caller is bridged back
        await h.wait_for(lambda: call.log.count("dial answered") == 2, what="the agent bridged again")
        await asyncio.sleep(1.0)
        await alice.end(iid)
        await h.wait_for(lambda: calls_over(alice_phone) == 2, what="her second call over")
        await asyncio.to_thread(caller_phone.wait_call_over)

        async def ended() -> list[tuple[str, Any]] | None:
            events = await h.services.bus.replay(0, EventFilter(types=["call.*"]))
            kinds = [(e.type.value, e.data.get("leg")) for e in events]
            return kinds if kinds[-1][0] == "call.ended" else None

        kinds = await h.wait_for(ended, what="call.ended from Twilio's status callback")
        assert ("call.answered", "agent") in kinds and [k for k, _ in kinds].count("call.ended") == 1
        assert call.log[:4] == ["Say", "Enqueue", "redirected", "Dial"]
        assert call.log.count("Enqueue") == 2 and call.log.count("dial answered") == 2, call.log
    assert abs(heard(alice_phone) - 1000) < 20, "the agent heard the caller"
    assert abs(heard(caller_phone) - 440) < 20, "the caller heard the agent"


async def test_a_pivot_callback_is_placed_through_twilio(
        tmp_path: Path, registrar: Registrar, phones: Any, twilio: TwilioEmulator, shop: Any) -> None:
    alice_phone, mobile = await phones("alice", 440), await phones(CUSTOMER_MOBILE, 1000)
    port = free_port()
    config = twilio_config(
        tmp_path, twilio, port, registrar, pivot={"opening_hours": ALL_WEEK},
        channels={"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"),
                              "secret": "shop-secret-0123456789"}]})
    async with running_server(config, port=port) as h:
        wire_number(twilio, h)
        p = await pivoted_case(h, endpoint=alice_phone.uri, send=False)
        customer = Customer(h.url)
        try:
            await customer.open(p.path)
            status, _, _ = await customer.submit(p.path, phone="+358 40 123 4567", when="now")
        finally:
            await customer.close()
        assert status == 200

        async def callback_offer() -> str | None:
            items = (await h.admin.list_interactions(channel="voice", state="offered"))["items"]
            return next((i["id"] for i in items if i["initiation"] == "callback"), None)

        iid = await h.wait_for(callback_offer, timeout=20, what="the callback offered")
        await p.agent.accept(iid)

        async def connected() -> dict[str, Any] | None:
            items = (await h.admin.list_callbacks(state="connected"))["items"]
            return items[0] if items else None

        await h.wait_for(connected, timeout=30, what="the callback connected through Twilio")
        await asyncio.sleep(2.0)
        await p.agent.end(iid)
        await asyncio.to_thread(alice_phone.wait_call_over)
        await asyncio.to_thread(mobile.wait_call_over)
        create = next(c for c in twilio.calls if c["path"].endswith("/Calls.json") and c["method"] == "POST")
        form = urllib.parse.parse_qs(create["body"])
        assert form["To"] == [f"sip:alice@127.0.0.1:{registrar.port}"] and "+358401234567" in form["Twiml"][0]
    assert abs(heard(alice_phone) - 1000) < 20 and abs(heard(mobile) - 440) < 20
