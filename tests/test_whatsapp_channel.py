"""The WhatsApp connector against the Cloud API emulator: signed webhooks in (text, media, location,
contacts, interactive replies; duplicates stored once), replies out, the reply's statuses (sent,
delivered, read, failed with WhatsApp's error) as its delivery state, the 24-hour window (a
free-form reply refused before anything is queued, a configured template sent instead), and bad
webhooks refused."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from cti import models
from cti.bus import EventFilter
from cti.client import CtiApiError
from sip_test_env.emulators.whatsapp import REENGAGEMENT, WhatsAppEmulator, whatsapp_signature
from tests.harness import Harness, make_config, running_server
from tests.test_desk import ARTIFACTS

CUSTOMER = "358401234567"


@pytest.fixture
async def wa() -> AsyncIterator[WhatsAppEmulator]:
    emulator = WhatsAppEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def h(tmp_path: Path, wa: WhatsAppEmulator) -> AsyncIterator[Harness]:
    config = make_config(tmp_path, connectors={"whatsapp": {
        "phone_number_id": wa.phone_number_id, "access_token": wa.access_token, "app_secret": wa.app_secret,
        "verify_token": wa.verify_token, "api_base": wa.url, "api_version": wa.version,
        "templates": {"order_update": {"language": "en_US", "parameters": 1}}}})
    async with running_server(config) as harness:
        async with aiohttp.ClientSession() as session, session.post(
                f"{wa.url}/_control/webhook", json={"url": harness.url + "/webhooks/whatsapp"}) as response:
            assert response.status == 200, "the subscription check passed"
        await harness.wait_for(lambda: harness.services.connector_health.get("whatsapp") == "connected",
                               what="whatsapp connected")
        yield harness


async def customer_writes(wa: WhatsAppEmulator, **spec: Any) -> str:
    async with aiohttp.ClientSession() as session, session.post(
            f"{wa.url}/_control/message", json={"from": CUSTOMER, "name": "Maija", **spec}) as response:
        answer = await response.json()
    assert answer["status"] == 200, answer
    return str(answer["id"])


async def inbound(h: Harness) -> list[Any]:
    M = models.messages
    return await h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "whatsapp", M.c.direction == "inbound").order_by(M.c.created_at)).all())


async def accepted(h: Harness, agent: Any) -> str:
    [first] = await h.wait_for(lambda: inbound(h), what="the WhatsApp message stored")
    await h.interaction_in_state(first.interaction_id, "offered")
    await agent.accept(first.interaction_id)
    return str(first.interaction_id)


async def status_of(agent: Any, iid: str, message_id: str) -> tuple[str, str | None]:
    row = next(m for m in (await agent.messages(iid))["items"] if m["id"] == message_id)
    return row["status"], row["error"]


async def test_a_message_in_a_reply_out_and_its_statuses(h: Harness, wa: WhatsAppEmulator) -> None:
    ann = await h.agent("ann")
    wamid = await customer_writes(wa, text="Hei! Tilaukseni ei ole tullut.")
    iid = await accepted(h, ann)
    [first] = await inbound(h)
    assert first.external_id == f"wamid:{wamid}" and first.text == "Hei! Tilaukseni ei ole tullut."
    contact = await h.admin.get_contact((await h.admin.get_case(first.case_id))["contact_id"])
    assert contact["name"] == "Maija" and {"kind": "whatsapp", "value": CUSTOMER} in [
        {"kind": i["kind"], "value": i["value"]} for i in contact["identities"]]
    again = wa.message_payload({"from": CUSTOMER, "text": "Hei! Tilaukseni ei ole tullut.", "id": wamid})
    status, _ = await wa.signed_post(again)
    assert status == 200 and len(await inbound(h)) == 1, "a webhook delivered twice stores one message"

    reply = await ann.reply(iid, "Pahoittelut! Katson tilauksesi heti.")
    await h.wait_for(lambda: wa.sent, what="the reply at WhatsApp")
    assert wa.sent[0]["to"] == CUSTOMER and wa.sent[0]["text"]["body"] == "Pahoittelut! Katson tilauksesi heti."

    async def reached(state: str) -> bool:
        return (await status_of(ann, iid, reply["id"]))[0] == state

    await h.wait_for(lambda: reached("delivered"), what="delivered")
    async with aiohttp.ClientSession() as session, session.post(f"{wa.url}/_control/read",
                                                                json={"id": wa.sent[0]["id"]}):
        pass
    await h.wait_for(lambda: reached("read"), what="read")
    events = await h.services.bus.replay(0, EventFilter(types=["message.*"]))
    told = [e.type.value for e in events if e.data.get("message", {}).get("id") == reply["id"]]
    assert told == ["message.queued", "message.sent", "message.delivered", "message.read"], told
    stale = wa.status_payload(wa.sent[0]["id"], CUSTOMER, "delivered")  # late and out of order: ignored
    assert (await wa.signed_post(stale))[0] == 200 and await reached("read")


async def test_media_location_contacts_and_buttons_arrive_readable(h: Harness, wa: WhatsAppEmulator) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    await customer_writes(wa, type="image", text="the broken box",
                          media={"content_type": "image/png", "data_b64": png})
    await customer_writes(wa, type="location", location={"latitude": 60.1699, "longitude": 24.9384,
                                                          "name": "Kauppatori", "address": "Helsinki"})
    await customer_writes(wa, type="contacts", contacts=[{"name": {"formatted_name": "Pekka Virtanen"},
                                                          "phones": [{"phone": "+358 40 765 4321"}]}])
    await customer_writes(wa, type="interactive", interactive={"type": "button_reply", "button_reply": {
        "id": "track", "title": "Track my order"}})
    rows = await h.wait_for(lambda: _at_least(h, 4), what="four messages")
    assert [r.text for r in rows] == ["[image] the broken box", "[location] Kauppatori Helsinki (60.16990, 24.93840)",
                                      "[contacts] Pekka Virtanen +358 40 765 4321", "Track my order"]
    assert rows[0].meta["media"]["mime_type"] == "image/png" and rows[0].meta["media"]["media_id"].isdigit()
    [picture] = rows[0].attachments  # fetched through the media URL flow and kept
    assert picture["content_type"] == "image/png" and picture["size"] == 72 and picture["filename"] == "image.png"
    kept = await asyncio.to_thread((h.services.connectors.data_dir / picture["stored"]).read_bytes)
    assert kept == base64.b64decode(png) and picture["stored"].startswith("attachments/whatsapp/")
    assert rows[1].meta["location"]["latitude"] == 60.1699 and rows[3].meta["reply_id"] == "track"


async def _at_least(h: Harness, n: int) -> list[Any] | None:
    rows = await inbound(h)
    return rows if len(rows) >= n else None


async def test_after_24_hours_only_a_template_goes(h: Harness, wa: WhatsAppEmulator) -> None:
    ann = await h.agent("ann")
    await customer_writes(wa, text="Where is my parcel?", age_seconds=25 * 3600)
    iid = await accepted(h, ann)
    with pytest.raises(CtiApiError) as closed:
        await ann.reply(iid, "Sorry for the wait!")
    assert closed.value.status == 422 and closed.value.code == "whatsapp_window_closed"
    assert closed.value.details["suggestion"] == "send a pivot link"
    template = await ann.request("POST", f"/api/v1/interactions/{iid}/messages", json={
        "text": "Your order is on its way: ABC-123", "mode": "template",
        "template": {"name": "order_update", "parameters": ["ABC-123"]}})
    await h.wait_for(lambda: wa.sent, what="the template at WhatsApp")
    assert wa.sent == [{"id": wa.sent[0]["id"], "to": CUSTOMER, "type": "template", "template": {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "ABC-123"}]}]}}]
    assert template["text"] == "Your order is on its way: ABC-123"
    with pytest.raises(CtiApiError) as unknown:
        await ann.request("POST", f"/api/v1/interactions/{iid}/messages", json={
            "text": "x", "mode": "template", "template": {"name": "no such template", "parameters": []}})
    assert unknown.value.status == 400, "a template name has the shape of one"


async def test_a_failed_status_fails_the_reply_with_whatsapps_reason(h: Harness, wa: WhatsAppEmulator) -> None:
    ann = await h.agent("ann")
    await customer_writes(wa, text="hello")
    iid = await accepted(h, ann)
    reply = await ann.reply(iid, "hello back")
    await h.wait_for(lambda: wa.sent, what="sent")
    status, _ = await wa.signed_post(wa.status_payload(wa.sent[0]["id"], CUSTOMER, "failed", errors=[REENGAGEMENT]))
    assert status == 200

    async def failed() -> str | None:
        state, error = await status_of(ann, iid, reply["id"])
        return error if state == "failed" else None

    error = await h.wait_for(failed, what="the reply failed")
    assert error.startswith("Re-engagement message (code 131047)")


async def test_bad_webhooks_are_refused_and_other_numbers_ignored(h: Harness, wa: WhatsAppEmulator) -> None:
    payload = wa.message_payload({"from": CUSTOMER, "text": "forged"})
    body = json.dumps(payload).encode()
    async with aiohttp.ClientSession() as session:
        url = h.url + "/webhooks/whatsapp"
        async with session.post(url, data=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) as response:
            assert response.status == 403
        async with session.post(url, data=body) as response:
            assert response.status == 401
        bad = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
            "metadata": {"phone_number_id": wa.phone_number_id}, "messages": [{"from": "../../etc", "id": "x",
                                                                                "type": "text"}]}}]}]}).encode()
        async with session.post(url, data=bad, headers={"X-Hub-Signature-256": whatsapp_signature(
                wa.app_secret, bad)}) as response:
            assert response.status == 400, "a sender that is not a WhatsApp id is refused whole"
        async with session.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "wrong",
                                            "hub.challenge": "123"}) as response:
            assert response.status == 403
    other = wa.message_payload({"from": CUSTOMER, "text": "for another number"})
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    assert (await wa.signed_post(other))[0] == 200
    await asyncio.sleep(0.2)
    assert await inbound(h) == [], "nothing stored: forged, malformed, or another number's"


async def test_the_desk_offers_the_template_once_the_window_has_closed(h: Harness, wa: WhatsAppEmulator,
                                                                      browser: Any) -> None:
    ann = await h.agent("ann")
    await customer_writes(wa, text="Any news about my order?", age_seconds=30 * 3600)
    iid = await accepted(h, ann)
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(h.url + "/desk")
    await page.get_by_text("Sign in with an API token").click()
    await page.get_by_label("Your API token").fill((await h.admin.create_token("agent", agent_id="ann"))["token"])
    await page.get_by_role("button", name="Use the token").click()
    card = page.locator(f'#work [data-id="{iid}"]')
    await expect(card.locator(f"#window-{iid}")).to_have_text(
        "WhatsApp's 24-hour window is closed: only an approved template can be sent now, or a pivot link.")
    await expect(card.get_by_label("Template")).to_have_value("order_update")
    await card.get_by_label("Parameter 1").fill("ABC-987")
    await card.get_by_role("button", name="Send", exact=True).click()
    await h.wait_for(lambda: wa.sent, what="the template at WhatsApp")
    assert wa.sent[0]["type"] == "template" and wa.sent[0]["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "ABC-987"}]
    await expect(card.locator(".msg.outbound")).to_contain_text("Approved template: order_update (ABC-987)")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "desk-whatsapp-template.png"), full_page=True)
    await page.close()


async def test_media_that_cannot_be_fetched_is_noted_and_the_message_kept(h: Harness, wa: WhatsAppEmulator) -> None:
    wa.down = True  # the Graph API answers 503 to the media lookup
    await customer_writes(wa, type="document", text="my invoice",
                          media={"content_type": "application/pdf", "data_b64": base64.b64encode(b"%PDF-1.7").decode(),
                                 "filename": "invoice.pdf"})
    [row] = await h.wait_for(lambda: inbound(h), what="the message stored")
    assert row.text == "[document] my invoice"
    [attachment] = row.attachments
    assert attachment["filename"] == "invoice.pdf" and "stored" not in attachment
    assert attachment["dropped"] == "not fetched: the media lookup answered 503"


async def test_whatsapp_through_twilio_in_and_out(tmp_path: Path) -> None:
    from sip_test_env.emulators.twilio import TwilioEmulator
    from tests.pg import free_port
    from tests.test_twilio_channel import twilio_config, wire_number

    twilio = await TwilioEmulator().start()
    port = free_port()
    try:
        config = twilio_config(tmp_path, twilio, port)
        config.connectors["twilio"]["templates"] = {"order_update": {"content_sid": "HX" + "ab" * 16, "parameters": 2}}
        async with running_server(config, port=port) as h:
            wire_number(twilio, h)
            await h.wait_for(lambda: h.services.connector_health.get("twilio") == "connected", what="twilio up")
            ann = await h.agent("ann")
            status, _ = await twilio.send_whatsapp(CUSTOMER, "Hei Twilion kautta", profile="Maija")
            assert status == 200
            M = models.messages
            [row] = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
                sa.select(M).where(M.c.channel == "twilio")).all()), what="the WhatsApp message stored")
            assert row.text == "Hei Twilion kautta" and row.meta["kind"] == "whatsapp"
            contact = await h.admin.get_contact((await h.admin.get_case(row.case_id))["contact_id"])
            assert contact["name"] == "Maija" and [(i["kind"], i["value"]) for i in contact["identities"]] == [
                ("whatsapp", CUSTOMER)]
            await h.interaction_in_state(row.interaction_id, "offered")
            await ann.accept(row.interaction_id)
            await ann.reply(row.interaction_id, "Kiitos viestistä!")
            await h.wait_for(lambda: twilio.messages, what="the reply at Twilio")
            assert (twilio.messages[0]["to"], twilio.messages[0]["from"]) == (
                f"whatsapp:+{CUSTOMER}", f"whatsapp:{twilio.phone_number}")

            # A day later only an approved Content template goes: by its ContentSid and variables, no Body.
            await h.services.db.write(lambda tx: tx.conn.execute(sa.update(M).where(M.c.id == row.id).values(
                created_at=tx.now - 25 * 3600)))
            with pytest.raises(CtiApiError) as closed:
                await ann.reply(row.interaction_id, "Vieläkö tarvitset apua?")
            assert closed.value.code == "whatsapp_window_closed"
            listed = await ann.request("GET", f"/api/v1/interactions/{row.interaction_id}/messages")
            assert listed["reply_modes"] == ["template"] and listed["templates"] == {"order_update": 2}
            await ann.request("POST", f"/api/v1/interactions/{row.interaction_id}/messages", json={
                "mode": "template", "template": {"name": "order_update", "parameters": ["118", "huomenna"]},
                "text": "Tilaus 118 saapuu huomenna"})
            await h.wait_for(lambda: len(twilio.messages) == 2, what="the template at Twilio")
            sent = twilio.messages[1]
            assert sent["content_sid"] == "HX" + "ab" * 16 and sent["body"] == ""
            assert sent["content_variables"] == {"1": "118", "2": "huomenna"}
    finally:
        await twilio.stop()


async def test_an_agent_sends_a_file_by_link_where_the_channel_can(h: Harness, wa: WhatsAppEmulator) -> None:
    ann = await h.agent("ann")
    await customer_writes(wa, text="Voitteko lähettää kuitin?")
    iid = await accepted(h, ann)
    sent = await ann.request("POST", f"/api/v1/interactions/{iid}/messages", json={
        "text": "Tässä kuitti", "media": {"url": "https://files.example.com/r/kuitti-118.pdf", "type": "document",
                                          "filename": "kuitti-118.pdf"}})
    assert sent["attachments"] == [{"filename": "kuitti-118.pdf", "content_type": "document", "size": 0,
                                    "url": "https://files.example.com/r/kuitti-118.pdf"}]
    await h.wait_for(lambda: wa.sent, what="the file at WhatsApp")
    assert wa.sent[0]["type"] == "document" and wa.sent[0]["document"] == {
        "link": "https://files.example.com/r/kuitti-118.pdf", "caption": "Tässä kuitti", "filename": "kuitti-118.pdf"}
    for bad in ({"url": "http://files.example.com/a.png", "type": "image"},  # not HTTPS
                {"url": "https://files.example.com/a.png", "type": "sticker"}):
        with pytest.raises(CtiApiError) as refused:
            await ann.request("POST", f"/api/v1/interactions/{iid}/messages", json={"text": "x", "media": bad})
        assert refused.value.status == 400
    assert len(wa.sent) == 1, "nothing refused went out"
