"""Vendor webhooks attacked from outside: a CRC answer used as a signature, bodies that arrive
slowly or never end, a replayed Twilio call, and malformed fields that must get a 4xx, never a 500.
Each test is the attack that found the hole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from sip_test_env.emulators.meta import MetaEmulator, meta_signature
from sip_test_env.emulators.twiml_engine import twilio_signature
from sip_test_env.emulators.x import XEmulator, x_signature
from tests.harness import Harness, make_config, running_server
from tests.pg import free_port

ATTACKER = {"id": 6666, "screen_name": "support_official", "name": "Acme Support (official)",
            "followers_count": 9_000_000}


async def stored_messages(h: Harness, channel: str) -> list[Any]:
    M = models.messages
    return await h.services.db.read(lambda c: c.execute(sa.select(M).where(M.c.channel == channel)).all())


@pytest.fixture
async def xh(tmp_path: Path, x: XEmulator) -> AsyncIterator[Harness]:
    config = make_config(tmp_path, connectors={"x": {
        "consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token, "account_id": x.account_id,
        "api_base": x.url}})
    async with running_server(config) as harness:
        yield harness


async def test_a_crc_answer_cannot_sign_a_forged_delivery(xh: Harness, x: XEmulator) -> None:
    forged = json.dumps(x.dm_payload({"user": ATTACKER, "text": "Your account is locked, log in at evil.example"}),
                        separators=(",", ":"))
    async with aiohttp.ClientSession() as session:
        async with session.get(xh.url + "/webhooks/x", params={"crc_token": forged}) as response:
            answer = await response.text()
            assert response.status == 400, "a JSON document is not a CRC token"
            assert "response_token" not in answer
        # Had the server signed it, this would be the signature; it must not be accepted either way.
        signature = x_signature(x.consumer_secret, forged.encode())
        async with session.get(xh.url + "/webhooks/x", params={"crc_token": "x" * 500}) as response:
            assert response.status == 400, "CRC tokens are short"
        async with session.post(xh.url + "/webhooks/x", data=forged.encode(), headers={
                "Content-Type": "application/json", "x-twitter-webhooks-signature": "sha256=" + "A" * 43 + "="}) \
                as response:
            assert response.status == 403
        # X's own CRC (a short random token) still gets its answer.
        token = "dGhpcyBpcyBhIHJhbmRvbSB0b2tlbg"
        async with session.get(xh.url + "/webhooks/x", params={"crc_token": token}) as response:
            assert response.status == 200
            assert (await response.json())["response_token"] == x_signature(x.consumer_secret, token.encode())
            assert (await response.json())["response_token"] != signature
    assert await stored_messages(xh, "x") == []


async def _header_first(body: bytes, pause: float) -> AsyncIterator[bytes]:
    """A client that sends the headers, waits, then the body in pieces (as proxies and slow links do)."""
    await asyncio.sleep(pause)
    for start in range(0, len(body), 16_384):
        yield body[start:start + 16_384]
        await asyncio.sleep(0.001)


async def test_a_large_signed_delivery_sent_slowly_is_read_whole(xh: Harness, x: XEmulator) -> None:
    payload = x.dm_payload({"user": {"id": 4242, "screen_name": "long", "name": "Long Writer"},
                            "text": "a long complaint " + "x" * 9000})
    payload["padding"] = "p" * 300_000  # vendors add fields we do not read
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "x-twitter-webhooks-signature": x_signature(
        x.consumer_secret, body), "Content-Length": str(len(body))}
    async with aiohttp.ClientSession() as session:
        async with session.post(xh.url + "/webhooks/x", data=_header_first(body, 0.3), headers=headers) as response:
            assert response.status == 200, await response.text()
    assert len(await stored_messages(xh, "x")) == 1


async def test_an_endless_chunked_body_is_refused_with_413(xh: Harness, x: XEmulator) -> None:
    async def ten_megabytes() -> AsyncIterator[bytes]:
        for _ in range(160):
            yield b"[" * 65_536

    async with aiohttp.ClientSession() as session:
        async with session.post(xh.url + "/webhooks/x", data=ten_megabytes(), headers={
                "Content-Type": "application/json", "x-twitter-webhooks-signature": "sha256=AAAA"}) as response:
            assert response.status == 413
            assert (await response.json())["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("field, value", [
    ("followers_count", "1e400"),       # a float overflow in the follower count
    ("nested", "[" * 100_000 + "]" * 100_000),  # deeper than any parser's recursion
    ("followers_count", '{"a": 1}'),    # an object where a number goes
])
async def test_malformed_signed_x_fields_get_a_4xx_or_are_ignored(xh: Harness, x: XEmulator, field: str,
                                                                 value: str) -> None:
    template = json.dumps(x.mention_payload({"user": {"id": 777, "screen_name": "odd"}, "text": "@acme hi"}))
    if field == "nested":
        body = template[:-1] + ', "nested": ' + value + "}"
    else:
        body = template.replace('"followers_count": 120', f'"followers_count": {value}')
        assert body != template
    raw = body.encode()
    async with aiohttp.ClientSession() as session, session.post(xh.url + "/webhooks/x", data=raw, headers={
            "Content-Type": "application/json",
            "x-twitter-webhooks-signature": x_signature(x.consumer_secret, raw)}) as response:
        assert response.status in (200, 400), await response.text()
        if response.status == 400:
            assert (await response.json())["error"]["code"] == "malformed_event"
    for message in await stored_messages(xh, "x"):
        assert isinstance(message.meta["followers"], int) and message.meta["followers"] >= 0


async def test_malformed_meta_text_is_a_400(tmp_path: Path) -> None:
    meta = MetaEmulator()
    await meta.start()
    try:
        config = make_config(tmp_path, connectors={"meta": {
            "app_secret": meta.app_secret, "verify_token": meta.verify_token, "page_token": meta.page_token,
            "api_base": meta.url}})
        async with running_server(config) as h, aiohttp.ClientSession() as session:
            payload = meta.message_payload("messenger", "24000000000000001", "hello")
            payload["entry"][0]["messaging"][0]["message"]["text"] = {}
            for text in ({}, {"a": [1]}, 12):
                payload["entry"][0]["messaging"][0]["message"]["text"] = text
                raw = json.dumps(payload).encode()
                async with session.post(h.url + "/webhooks/meta", data=raw, headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": meta_signature(meta.app_secret, raw)}) as response:
                    assert response.status == 400, await response.text()
            async with session.get(h.url + "/webhooks/meta", params={
                    "hub.mode": "subscribe", "hub.verify_token": meta.verify_token,
                    "hub.challenge": "<script>alert(1)</script>"}) as response:
                assert response.status == 400, "Meta's challenge is a number; nothing else is echoed"
            assert await stored_messages(h, "messenger") == []
    finally:
        await meta.stop()


TWILIO = {"account_sid": "AC" + "1" * 32, "auth_token": "twilio-auth-token-0123456789abcdef",
          "phone_number": "+15550100"}


@pytest.fixture
async def th(tmp_path: Path) -> AsyncIterator[Harness]:
    port = free_port()
    config = make_config(tmp_path, server={"public_url": f"http://127.0.0.1:{port}"},
                         connectors={"twilio": {**TWILIO, "api_base": "http://127.0.0.1:9"}})
    async with running_server(config, port=port) as harness:
        yield harness


async def post_twilio(h: Harness, kind: str, form: dict[str, str]) -> tuple[int, str]:
    url = f"{h.url}/webhooks/twilio/{kind}"
    signature = twilio_signature(TWILIO["auth_token"], url, form)
    async with aiohttp.ClientSession() as session, session.post(url, data=form, headers={
            "X-Twilio-Signature": signature}) as response:
        return response.status, await response.text()


async def test_a_replayed_twilio_voice_webhook_creates_one_call(th: Harness) -> None:
    form = {"CallSid": "CA" + "a" * 32, "AccountSid": TWILIO["account_sid"], "From": "+358401234567",
            "To": TWILIO["phone_number"], "CallStatus": "ringing", "Direction": "inbound"}
    answers = [await post_twilio(th, "voice", form) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1] == answers[2][1], "a retry gets the same TwiML"
    I = models.interactions
    rows = await th.services.db.read(lambda c: c.execute(sa.select(I.c.id).where(
        I.c.channel == "voice", I.c.external_id == form["CallSid"])).all())
    assert len(rows) == 1


async def test_twilio_fields_of_the_wrong_shape_are_a_400(th: Harness) -> None:
    call = {"CallSid": "CA" + "b" * 32, "AccountSid": TWILIO["account_sid"], "From": "+358401234567",
            "To": TWILIO["phone_number"], "Direction": "inbound"}
    assert (await post_twilio(th, "voice", {**call, "CallStatus": "ringing"}))[0] == 200
    status, text = await post_twilio(th, "status", {**call, "CallStatus": "completed", "CallDuration": "abc"})
    assert status == 400 and "CallDuration" in text
    status, _ = await post_twilio(th, "voice", {**call, "CallSid": "../../etc", "CallStatus": "ringing"})
    assert status == 400, "a CallSid is CA and 32 hex digits"
