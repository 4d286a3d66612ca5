"""Social listening end to end through the X emulator: what routes and what is kept as unrouted or
noise, the explained priority score, routing of urgent posts to the best-rated agents, and the
reply-mode suggestion; plus the pure rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cti import models
from cti.social.rules import score, screen_post
from cti.social.settings import SocialConfig
from sip_test_env.emulators.x import XEmulator
from tests.harness import Harness, make_config, running_server

ANGRY = {"id": 777, "screen_name": "loudvoice", "name": "Loud Voice", "followers_count": 850_000}
QUIET = {"id": 778, "screen_name": "quiet", "name": "Quiet", "followers_count": 12}


@pytest.fixture
async def h(tmp_path: Path, x: XEmulator) -> AsyncIterator[Harness]:
    config = make_config(
        tmp_path,
        connectors={"x": {"consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token,
                          "account_id": x.account_id, "api_base": x.url}},
        social={"handles": ["@acme"], "brand_names": ["Acme"], "blocked_accounts": ["troll"]},
        routing={"rules": [{"name": "urgent social to the best", "channel": ["x"], "min_priority": 60,
                            "min_rating": 4.5}]})
    async with running_server(config) as harness:
        x.webhook_url = harness.url + "/webhooks/x"
        yield harness


async def mentions(h: Harness) -> dict[str, tuple[str, str]]:
    SM = models.social_mentions
    rows = await h.services.db.read(lambda c: c.execute(sa.select(SM.c.text, SM.c.status, SM.c.reason)).all())
    return {r.text: (r.status, r.reason) for r in rows}


async def inbound_texts(h: Harness) -> list[str]:
    M = models.messages
    rows = await h.services.db.read(lambda c: c.execute(sa.select(M.c.text).where(M.c.channel == "x")).all())
    return [r.text for r in rows]


async def test_what_routes_and_what_is_kept_for_reporting(h: Harness, x: XEmulator) -> None:
    posts = [
        (QUIET, "loving the weather today"),                          # no rule: unrouted
        (QUIET, "@acme where is my parcel?"),                         # handle: routes
        (QUIET, "my Acme router is broken"),                          # brand: routes
        (QUIET, "@acme FREE FOLLOWERS click here"),                   # spam pattern: noise
        (QUIET, "https://spam.example/x @acme"),                      # only links and handles: noise
        ({"id": 779, "screen_name": "troll"}, "@acme you are bad"),   # blocked: noise
        (QUIET, "@acme where is my parcel?"),                         # the same text again: noise (duplicate)
    ]
    for user, text in posts:
        status, _ = await x.signed_post(x.mention_payload({"user": user, "text": text}))
        assert status == 200
    assert sorted(await inbound_texts(h)) == ["@acme where is my parcel?", "my Acme router is broken"]
    kept = await mentions(h)
    assert kept["loving the weather today"] == ("unrouted", "no listening rule matched")
    assert kept["@acme FREE FOLLOWERS click here"][0] == "noise"
    assert kept["https://spam.example/x @acme"] == ("noise", "only links or handles")
    assert kept["@acme you are bad"] == ("noise", "blocked account")
    assert kept["@acme where is my parcel?"] == ("noise", "duplicate post")


async def test_an_angry_influential_post_gets_a_high_explained_priority_and_the_best_agent(
        h: Harness, x: XEmulator) -> None:
    await h.agent("junior", rating=3.1)
    await h.agent("senior", rating=4.9)
    await x.signed_post(x.mention_payload({"user": ANGRY, "text": "@acme worst service ever!!! my internet is "
                                                                  "down AGAIN, absolutely furious 😡"}))
    await x.signed_post(x.mention_payload({"user": QUIET, "text": "@acme what are your opening hours?"}))

    async def offered() -> dict[str, dict[str, Any]] | None:
        items = (await h.admin.list_interactions(channel="x", state="offered"))["items"]
        return {i["scoring"]["factors"]["influence"]["value"]: i for i in items} if len(items) == 2 else None

    by_followers = await h.wait_for(offered, what="both posts offered")
    angry, quiet = by_followers[850_000], by_followers[12]
    assert angry["agent_id"] == "senior" and angry["routing"]["rule"] == "urgent social to the best"
    scoring = angry["scoring"]
    assert angry["priority"] >= 60 and scoring["priority"] >= 60
    assert scoring["factors"]["sentiment"]["value"] < -0.5 and scoring["factors"]["sentiment"]["points"] > 15
    assert scoring["reply_mode"]["mode"] == "pivot" and scoring["reply_mode"]["reason"]
    assert quiet["priority"] < 20 and quiet["scoring"]["reply_mode"]["mode"] == "public"
    assert scoring["listening"] == "handle @acme"


def test_score_rules() -> None:
    config = SocialConfig()
    vip = score("I need help with my order", {"kind": "dm"}, {"vip": True}, 2, config)
    assert vip["factors"]["customer_value"]["points"] == config.weights.customer_value
    assert vip["factors"]["cross_channel"]["points"] == config.weights.cross_channel
    assert vip["reply_mode"]["mode"] == "private"
    assert score("@acme please call me about this", {"kind": "mention"}, {}, 0, config)["reply_mode"]["mode"] \
        == "pivot"
    assert score("@acme my order number 1234567 is late", {"kind": "mention"}, {}, 0, config)["reply_mode"][
        "mode"] == "private"
    for text in ("Tilaukseni on rikki, apua", "Mój router nie działa", "라우터가 고장났어요", "路由器坏了"):
        assert screen_post(text, {"kind": "mention"}, "1", config).route, text
    assert not screen_post("nice day", {"kind": "mention"}, "1", config).route
    assert screen_post("nice day", {"kind": "dm"}, "1", config).route, "private messages always route"
