"""Outbound webhooks (signed, retried, one delivery per event), tokens, and the operations endpoints."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from cti.client import CtiApiError
from tests.conftest import CUSTOM_CHANNELS
from tests.harness import make_config, running_server
from tests.receiver import Receiver

SECRET = "webhook-secret-0123456789"


async def test_webhook_is_signed_retried_while_down_and_delivered_once(tmp_path: Path) -> None:
    receiver = Receiver(SECRET)
    await receiver.start()
    config = make_config(tmp_path, channels=CUSTOM_CHANNELS, webhooks={"initial_backoff": 0.05, "max_backoff": 0.2})
    async with running_server(config) as h:
        hook = await h.admin.create_webhook(receiver.url("/events"), types=["message.received"], secret=SECRET)
        assert hook["secret"] == SECRET and hook["types"] == ["message.received"]
        await h.admin.inbound(channel="shop-chat", sender=("email", "w1@example.com"), text="first",
                              external_id="w1")
        await h.wait_for(lambda: receiver.received, what="first webhook")
        first = receiver.received[0]["body"]
        assert first["type"] == "message.received" and first["data"]["message"]["text"] == "first"

        await receiver.stop()  # the consumer is down: deliveries wait in the outbox
        await h.admin.inbound(channel="shop-chat", sender=("email", "w2@example.com"), text="second",
                              external_id="w2")
        await h.admin.inbound(channel="shop-chat", sender=("email", "w3@example.com"), text="third",
                              external_id="w3")

        async def retried() -> bool:
            rows = await h.services.db.read(lambda c: c.exec_driver_sql(
                "SELECT attempts, last_error FROM outbox WHERE kind = 'webhook' AND state = 'pending'").all())
            return len(rows) == 2 and all(r[0] >= 1 for r in rows)

        await h.wait_for(retried, what="failed attempts recorded")
        await receiver.start()  # back on the same port
        await h.wait_for(lambda: len(receiver.received) == 3, what="the waiting deliveries")
        texts = [r["body"]["data"]["message"]["text"] for r in receiver.received]
        assert sorted(texts) == ["first", "second", "third"]
        assert len({r["delivery"] for r in receiver.received}) == 3
        assert receiver.bad_signatures == 0
    await receiver.stop()


async def test_receiver_refusal_marks_the_reply_failed_with_the_reason(tmp_path: Path) -> None:
    receiver = Receiver("shop-secret-0123456789")
    await receiver.start()
    receiver.status = 400
    channels = {"custom": [{"name": "shop-chat", "outbound_url": receiver.url(), "secret": "shop-secret-0123456789"}]}
    async with running_server(make_config(tmp_path, channels=channels)) as h:
        alice = await h.agent("alice")
        stored = await h.admin.inbound(channel="shop-chat", sender=("email", "r@example.com"), text="x",
                                       external_id="r1")
        await h.interaction_in_state(stored["interaction_id"], "offered")
        await alice.accept(stored["interaction_id"])
        await alice.reply(stored["interaction_id"], "hello")

        async def failed() -> dict | None:
            items = (await alice.messages(stored["interaction_id"]))["items"]
            return next((m for m in items if m["status"] == "failed"), None)

        message = await h.wait_for(failed, what="reply marked failed")
        assert "HTTP 400" in message["error"]
        timeline = await h.admin.timeline(stored["case_id"])
        assert any(e["type"] == "message.failed" for e in timeline["entries"])
    await receiver.stop()


async def test_token_revocation_and_roles(tmp_path: Path) -> None:
    async with running_server(make_config(tmp_path, channels=CUSTOM_CHANNELS)) as h:
        created = await h.admin.create_token("supervisor", name="wallboard")
        supervisor = h.client(created["token"])
        assert (await supervisor.realtime_stats())["queues"] == []
        with pytest.raises(CtiApiError) as err:
            await supervisor.create_webhook("http://127.0.0.1:9/x")
        assert err.value.status == 403
        with pytest.raises(CtiApiError) as err:
            await h.admin.create_token("agent")
        assert err.value.status == 400 and "agent_id" in err.value.details
        listed = (await h.admin.list_tokens())["items"]
        assert all("token" not in t and "token_hash" not in t for t in listed)
        await h.admin.revoke_token(created["id"])
        with pytest.raises(CtiApiError) as err:
            await supervisor.realtime_stats()
        assert err.value.status == 401


async def test_health_readiness_metrics_and_json_errors(tmp_path: Path) -> None:
    async with running_server(make_config(tmp_path, channels=CUSTOM_CHANNELS)) as h:
        await h.admin.inbound(channel="shop-chat", sender=("email", "m@example.com"), text="m", external_id="m")
        async with aiohttp.ClientSession() as session:
            async with session.get(h.url + "/healthz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            async with session.get(h.url + "/readyz") as r:
                body = await r.json()
                assert r.status == 200 and body["checks"]["database"] == "ok"
                assert set(body["leases"]) == {"router", "webhook-fanout", "sla-watch", "report-rollup", "outbox",
                                               "connector:shop-chat", "connector:sms-gw"}
                assert body["connectors"] == {"shop-chat": "connected", "sms-gw": "connected"}
            async with session.get(h.url + "/metrics") as r:
                assert r.status == 401, "metrics name channels, agents' counts and traffic: not for strangers"
            async with session.get(h.url + "/metrics", headers={"Authorization": f"Bearer {h.admin.token}"}) as r:
                text = await r.text()
                assert 'cti_events_published_total{type="message.received"} 1.0' in text
                assert "cti_http_requests_total" in text
            async with session.get(h.url + "/api/v1/nowhere") as r:
                assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
            async with session.delete(h.url + "/api/v1/queues") as r:
                assert r.status == 405 and (await r.json())["error"]["code"] == "method_not_allowed"
                assert "GET" in r.headers["Allow"]
            async with session.post(h.url + "/api/v1/inbound", data=b"{not json",
                                    headers={"Authorization": f"Bearer {h.admin.token}"}) as r:
                assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"
