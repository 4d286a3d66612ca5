"""Routing: the pure matcher's rules, and the live router on a real server."""

from __future__ import annotations

from pathlib import Path

from cti.routing.matcher import AgentView, WaitingItem, choose_agent
from cti.routing.policy import RoutingPolicy
from tests.harness import make_config, running_server

NOW = 1_000_000.0


def agent(agent_id: str, **kw: object) -> AgentView:
    base = {"skills": {}, "capacity": {"voice": 1, "chat": 3, "email": 5, "social": 5}, "state": "available",
            "rating": 3.0, "idle_since": NOW - 10, "load": {}}
    base.update(kw)
    return AgentView(id=agent_id, **base)  # type: ignore[arg-type]


def item(**kw: object) -> WaitingItem:
    base = {"id": "int_1", "channel": "chat", "channel_class": "chat", "queue": "default", "priority": 0,
            "language": None, "initiation": "inbound", "skills": {}, "queued_at": NOW - 5, "case_id": "cas_1"}
    base.update(kw)
    return WaitingItem(**base)  # type: ignore[arg-type]


def test_longest_idle_wins_by_default_and_the_offer_says_why() -> None:
    policy = RoutingPolicy()
    choice = choose_agent(item(), [agent("a", idle_since=NOW - 5), agent("b", idle_since=NOW - 50)], policy, NOW)
    assert choice is not None and choice.agent.id == "b"
    assert choice.explanation["rule"] == "default" and "idle 50 s" in choice.explanation["reasons"]
    assert choice.explanation["eligible_agents"] == 2


def test_case_affinity_first_until_it_expires() -> None:
    policy = RoutingPolicy()
    agents = [agent("a", idle_since=NOW - 100), agent("last", idle_since=NOW - 1)]
    choice = choose_agent(item(affinity_agent="last", affinity_until=NOW + 60), agents, policy, NOW)
    assert choice is not None and choice.agent.id == "last"
    assert "case affinity" in choice.explanation["reasons"][0]
    expired = choose_agent(item(affinity_agent="last", affinity_until=NOW - 1), agents, policy, NOW)
    assert expired is not None and expired.agent.id == "a"


def test_language_rule_prefers_speakers_then_relaxes_after_the_wait() -> None:
    policy = RoutingPolicy.model_validate({"rules": [
        {"name": "finnish speakers", "language": ["fi"], "require_skills": {"fi": 1}, "relax_after": 60}]})
    agents = [agent("en-only", skills={"en": 3})]
    assert choose_agent(item(language="fi", queued_at=NOW - 10), agents, policy, NOW) is None
    relaxed = choose_agent(item(language="fi", queued_at=NOW - 61), agents, policy, NOW)
    assert relaxed is not None and relaxed.explanation["rule"] == "finnish speakers"
    speaker = choose_agent(item(language="fi", queued_at=NOW - 10), [*agents, agent("fi", skills={"fi": 2})],
                           policy, NOW)
    assert speaker is not None and speaker.agent.id == "fi"


def test_negative_high_priority_social_goes_to_the_best_rated() -> None:
    policy = RoutingPolicy.model_validate({"rules": [
        {"name": "angry influencers", "channel": ["x"], "min_priority": 80, "min_rating": 4.5,
         "prefer": ["rating"]}]})
    agents = [agent("ok", rating=3.0, idle_since=NOW - 500), agent("star", rating=4.9), agent("good", rating=4.6)]
    choice = choose_agent(item(channel="x", channel_class="social", priority=90), agents, policy, NOW)
    assert choice is not None and choice.agent.id == "star"
    calm = choose_agent(item(channel="x", channel_class="social", priority=10), agents, policy, NOW)
    assert calm is not None and calm.agent.id == "ok"


def test_capacity_and_voice_blocks_written_work() -> None:
    policy = RoutingPolicy()
    on_call = agent("on-call", load={"voice": 1}, idle_since=NOW - 999)
    full = agent("full", load={"chat": 3}, idle_since=NOW - 998)
    free = agent("free")
    choice = choose_agent(item(), [on_call, full, free], policy, NOW)
    assert choice is not None and choice.agent.id == "free"
    lenient = RoutingPolicy(voice_blocks_written=False)
    assert choose_agent(item(), [on_call, full], lenient, NOW).agent.id == "on-call"  # type: ignore[union-attr]


def test_an_agent_who_declined_is_skipped_for_a_while() -> None:
    policy = RoutingPolicy(offer_timeout=20)
    agents = [agent("a", idle_since=NOW - 100), agent("b")]
    choice = choose_agent(item(declined={"a": NOW - 5}), agents, policy, NOW)
    assert choice is not None and choice.agent.id == "b"
    later = choose_agent(item(declined={"a": NOW - 25}), agents, policy, NOW)
    assert later is not None and later.agent.id == "a"


def test_aging_keeps_order_stable_and_lets_old_low_priority_work_through() -> None:
    old_low = item(id="old", priority=0, queued_at=NOW - 600)
    new_high = item(id="new", priority=5, queued_at=NOW - 1)
    assert old_low.rank(1.0) > new_high.rank(1.0)  # 10 minutes of aging beats +5 priority
    assert old_low.effective_priority(NOW, 1.0) > new_high.effective_priority(NOW, 1.0)


async def test_router_gives_the_highest_priority_work_to_the_freed_agent(tmp_path: Path) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": "http://127.0.0.1:9/x", "secret": "s" * 20}]}
    config = make_config(tmp_path, channels=channels, routing={"default_capacity": {"chat": 1}})
    async with running_server(config) as h:
        low = await h.admin.inbound(channel="shop-chat", sender=("email", "low@example.com"), text="low",
                                    external_id="l", priority=1)
        high = await h.admin.inbound(channel="shop-chat", sender=("email", "high@example.com"), text="high",
                                     external_id="h", priority=50)
        alice = await h.agent("alice")
        offered = await h.interaction_in_state(high["interaction_id"], "offered")
        assert offered["agent_id"] == "alice"
        assert (await h.admin.get_interaction(low["interaction_id"]))["state"] == "queued"
        await alice.accept(high["interaction_id"])
        await alice.end(high["interaction_id"])
        assert (await h.admin.get_interaction(low["interaction_id"]))["state"] == "queued", "wrap-up still counts"
        await alice.wrapup(high["interaction_id"])
        await h.interaction_in_state(low["interaction_id"], "offered")


async def test_case_affinity_offers_the_customers_next_message_to_the_last_agent(tmp_path: Path) -> None:
    channels = {"custom": [{"name": "shop-chat", "outbound_url": "http://127.0.0.1:9/x", "secret": "s" * 20}]}
    async with running_server(make_config(tmp_path, channels=channels)) as h:
        bob = await h.agent("bob")
        first = await h.admin.inbound(channel="shop-chat", sender=("email", "a@example.com"), text="1",
                                      external_id="1")
        await h.interaction_in_state(first["interaction_id"], "offered")
        await bob.accept(first["interaction_id"])
        await bob.end(first["interaction_id"])
        await h.agent("alice")  # idle before bob finishes, so longest idle alone would pick alice
        await bob.wrapup(first["interaction_id"])
        second = await h.admin.inbound(channel="shop-chat", sender=("email", "a@example.com"), text="2",
                                       external_id="2")
        assert second["case_id"] == first["case_id"]
        offered = await h.interaction_in_state(second["interaction_id"], "offered")
        assert offered["agent_id"] == "bob"
        assert "case affinity" in offered["routing"]["reasons"][0]
