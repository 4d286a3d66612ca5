"""Pivot links over real HTTP: minting and sending, the landing page, the callback form, and the
security rules (no consuming GET, CSRF, replay, guessing, toll fraud, rate limits, revocation)."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cti.bus import EventFilter
from cti.client import CtiApiError
from pivot.scheduler import CALLBACK_SCHEDULER
from pivot.tokens import token_hash
from tests.harness import CALLS, Harness, make_config, running_server
from tests.pivot_helpers import SHOP_SECRET, Customer, event_types, pivoted_case
from tests.receiver import Receiver


def links_config(tmp_path: Path, shop: Receiver) -> Any:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]}
    return make_config(tmp_path, channels=channels, connectors=CALLS,
                       webhooks={"initial_backoff": 0.05, "max_backoff": 0.2},
                       pivot={"company_name": "Acme", "misses_per_client_per_minute": 10,
                              "continue_urls": {"shop-chat": "https://shop.example/chat"},
                              "callbacks_per_number_per_hour": 2, "opening_hours": {
                                  d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})


@pytest.fixture
async def h(tmp_path: Path, shop: Receiver) -> Harness:
    async with running_server(links_config(tmp_path, shop)) as harness:
        yield harness


@pytest.fixture
async def customer(h: Harness) -> Customer:
    client = Customer(h.url)
    yield client
    await client.close()


async def test_link_is_minted_sent_on_the_channel_and_listed(h: Harness, shop: Receiver) -> None:
    p = await pivoted_case(h)
    link = p.link
    assert link["status"] == "active" and link["to"] == "callback" and link["case_id"] == p.case_id
    token = link["url"].rsplit("/", 1)[1]
    assert len(token) >= 43, "at least 256 bits, URL-safe"
    await h.wait_for(lambda: shop.received, what="the link at the shop backend")
    sent = shop.received[0]["body"]
    assert link["url"] in sent["message"]["text"] and "Alice" in sent["message"]["text"]
    assert len(sent["message"]["text"]) - len(link["url"]) + 23 <= 280, "fits a tweet (links count 23)"
    assert sent["message"]["mode"] == "private"

    listed = await p.agent.list_pivot_links(case_id=p.case_id)
    assert [item["id"] for item in listed["items"]] == [link["id"]]
    assert "url" not in listed["items"][0], "the token is not stored, so it cannot be listed"
    stored = await h.services.db.read(lambda c: c.exec_driver_sql("select token_hash from pivot_links").scalar())
    assert stored == token_hash(token) and token not in stored
    assert await event_types(h, "pivot.*") == ["pivot.created"]


async def test_preview_bots_do_not_open_and_people_open_once(h: Harness, customer: Customer) -> None:
    p = await pivoted_case(h)
    bot = Customer(h.url, user_agent="Twitterbot/1.0")
    try:
        status, text, headers = await bot.open(p.path)
    finally:
        await bot.close()
    assert status == 200 and "Alice" in text and "Acme" in text
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert (await h.admin.get_pivot_link(p.link["id"]))["opened_at"] is None
    for _ in range(2):
        status, _, _ = await customer.open(p.path)
        assert status == 200
    link = await h.admin.get_pivot_link(p.link["id"])
    assert link["opened_at"] is not None and link["uses"] == 0 and link["status"] == "active"
    assert await event_types(h, "pivot.*") == ["pivot.created", "pivot.opened"]


async def test_callback_needs_csrf_then_redeems_once(h: Harness, customer: Customer) -> None:
    p = await pivoted_case(h)
    await customer.open(p.path)
    status, text, _ = await customer.submit(p.path, csrf="forged", phone="+358401234567", when="now")
    assert status == 403 and 'id="error"' in text
    outsider = Customer(h.url)  # a page elsewhere posting the form: no cookie
    try:
        status, _, _ = await outsider.submit(p.path, csrf=customer.csrf, phone="+358401234567", when="now")
    finally:
        await outsider.close()
    assert status == 403
    assert (await h.admin.list_callbacks())["items"] == []

    status, text, _ = await customer.submit(p.path, phone="+358 40 123 4567", when="now")
    assert status == 200 and 'id="done"' in text and "+358 ••••••• 67" in text and "401234567" not in text
    callbacks = (await h.admin.list_callbacks(case_id=p.case_id))["items"]
    assert len(callbacks) == 1 and callbacks[0]["number"] == "+358401234567"
    contact = await h.admin.get_contact((await h.admin.get_case(p.case_id))["contact_id"])
    phones = [i for i in contact["identities"] if i["kind"] == "phone"]
    assert phones == [{**phones[0], "value": "+358401234567", "verified": False}], "claimed, not yet verified"

    status, text, _ = await customer.submit(p.path, phone="+358401234567", when="now")
    assert status == 410, "a used link cannot be replayed"
    status, text, _ = await customer.open(p.path)
    assert status == 410 and "again on shop-chat" in text
    assert (await h.admin.get_pivot_link(p.link["id"]))["status"] == "used"
    assert len((await h.admin.list_callbacks())["items"]) == 1
    types = await event_types(h, "pivot.*")
    assert types.count("pivot.redeemed") == 1


@pytest.mark.parametrize(("number", "code"), [
    ("+358600123456", "number_type"),   # Finnish premium rate
    ("+19005550123", "number_type"),    # US premium rate
    ("+5511987654321", "region"),       # Brazil: not an allowed region
    ("12345", "invalid"),
])
async def test_toll_fraud_numbers_are_refused(h: Harness, customer: Customer, number: str, code: str) -> None:
    p = await pivoted_case(h)
    await customer.open(p.path)
    status, text, _ = await customer.submit(p.path, phone=number, when="now")
    assert status == 422 and 'id="error"' in text
    assert (await h.admin.list_callbacks())["items"] == []
    assert (await h.admin.get_pivot_link(p.link["id"]))["uses"] == 0


async def test_guessing_tokens_finds_nothing_and_is_rate_limited(h: Harness, customer: Customer) -> None:
    await pivoted_case(h)
    statuses = []
    for _ in range(14):
        status, _, headers = await customer.open(f"/p/{secrets.token_urlsafe(32)}")
        statuses.append(status)
    assert statuses[:10] == [404] * 10
    assert set(statuses[10:]) == {429}
    assert int(headers["Retry-After"]) >= 1


async def test_revoked_and_expired_links_answer_410(h: Harness, customer: Customer) -> None:
    p = await pivoted_case(h)
    revoked = await p.agent.revoke_pivot_link(p.link["id"])
    assert revoked["status"] == "revoked"
    status, text, _ = await customer.open(p.path)
    assert status == 410 and "again on shop-chat" in text
    assert '<a id="continue" href="https://shop.example/chat">' in text, "the way back to the original channel"

    q = await pivoted_case(h, sender=("x", "777"), external_id="tw-2", agent=p.agent)
    await h.services.db.write(lambda tx: tx.conn.exec_driver_sql(
        "update pivot_links set expires_at = 0 where id = ?", (q.link["id"],)))
    status, _, _ = await customer.open(q.path)
    assert status == 410
    await h.server.app[CALLBACK_SCHEDULER].tick()
    expired = await h.services.bus.replay(0, EventFilter(types=["pivot.expired"]))
    assert {(e.data["pivot_link"]["id"], e.data["reason"]) for e in expired} == {
        (p.link["id"], "revoked"), (q.link["id"], "expired")}


async def test_callbacks_per_number_are_limited_with_retry_after(h: Harness, customer: Customer) -> None:
    statuses = []
    for n in range(3):
        # (each agent gets the callback offered next, and a voice offer blocks new written work)
        p = await pivoted_case(h, agent_id=f"agent{n}", sender=("x", f"10{n}"), external_id=f"tw-{n}")
        await customer.open(p.path)
        status, _, headers = await customer.submit(p.path, phone="+358401234567", when="now")
        statuses.append(status)
    assert statuses == [200, 200, 429]
    assert int(headers["Retry-After"]) > 3000
    assert len((await h.admin.list_callbacks())["items"]) == 2


async def test_page_speaks_the_customers_language_and_schedules_later(h: Harness) -> None:
    p = await pivoted_case(h)
    finn = Customer(h.url, language="fi-FI,fi;q=0.9,en;q=0.5")
    try:
        status, text, _ = await finn.open(p.path)
        assert status == 200 and 'lang="fi"' in text and "Soita minulle nyt" in text
        status, text, _ = await finn.open(p.path, lang="ko")
        assert 'lang="ko"' in text and "지금 전화 주세요" in text
        status, text, _ = await finn.submit(p.path, phone="+358401234567", when="2020-01-01T10:00:00+00:00")
        assert status == 422
        slot = text.split('<option value="', 1)[1].split('"', 1)[0]
        status, text, _ = await finn.submit(p.path, phone="+358401234567", when=slot)
        assert status == 200 and "Kiitos" in text
    finally:
        await finn.close()
    callback = (await h.admin.list_callbacks())["items"][0]
    assert callback["state"] == "scheduled" and callback["due_at"] > callback["created_at"]


async def test_agents_pivot_only_their_own_interactions(h: Harness) -> None:
    p = await pivoted_case(h)
    bob = await h.agent("bob")
    with pytest.raises(CtiApiError) as refused:
        await bob.pivot(p.interaction_id, "callback")
    assert refused.value.status == 403
    with pytest.raises(CtiApiError) as bad:
        await p.agent.pivot(p.interaction_id, "fax")
    assert bad.value.status == 400
    assert len((await h.admin.list_pivot_links())["items"]) == 1


async def test_a_scheduled_callback_survives_a_restart(tmp_path: Path, shop: Receiver) -> None:
    config = links_config(tmp_path, shop)
    async with running_server(config) as h:
        p = await pivoted_case(h)
        customer = Customer(h.url)
        try:
            _, page, _ = await customer.open(p.path)
            slot = page.split('<option value="', 1)[1].split('"', 1)[0]
            status, _, _ = await customer.submit(p.path, phone="+358401234567", when=slot)
        finally:
            await customer.close()
        assert status == 200
        callback = (await h.admin.list_callbacks())["items"][0]
        assert callback["state"] == "scheduled"
    with sqlite3.connect(tmp_path / "cti.db") as db:  # the server is down while its time comes
        db.execute("update callbacks set due_at = 0")
    async with running_server(config) as h:
        async def fired() -> dict[str, Any] | None:
            row = await h.admin.get_callback(callback["id"])
            return row if row["state"] == "routing" else None

        row = await h.wait_for(fired, what="the stored callback re-armed after the restart")
        call = await h.admin.get_interaction(row["interaction_id"])
        assert (call["channel"], call["initiation"], call["case_id"]) == ("voice", "callback", p.case_id)
        assert call["source_interaction_id"] == p.interaction_id and row["attempts"] == 1


async def test_browser_voice_says_it_is_not_available_yet_and_keeps_the_link(h: Harness, customer: Customer) -> None:
    p = await pivoted_case(h)
    async with customer.session.post(h.url + p.path + "/voice", data=b"v=0") as response:
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "voice_unavailable"
    async with customer.session.post(h.url + f"/p/{secrets.token_urlsafe(32)}/voice") as response:
        assert response.status == 404
    assert (await h.admin.get_pivot_link(p.link["id"]))["uses"] == 0
