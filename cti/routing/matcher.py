"""Pure agent selection: given one waiting interaction and the agents, pick one and say why.

No I/O and no clock: ``now`` is a parameter. Eligibility: the agent is available, has room in
the interaction's capacity class (and holds no call when voice blocks written work), is not
one who just declined it, and meets the required skill levels and minimum rating (both may
relax after a wait). Among the eligible, the policy's preference order decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cti.routing.policy import RoutingPolicy, RuleSpec


@dataclass
class AgentView:
    """What routing knows of an agent."""

    id: str
    skills: dict[str, int]
    capacity: dict[str, int]
    state: str
    rating: float
    idle_since: float
    load: dict[str, int] = field(default_factory=dict)

    def has_room(self, channel_class: str, voice_blocks_written: bool) -> bool:
        """True when one more interaction of this class fits."""
        if self.load.get(channel_class, 0) >= self.capacity.get(channel_class, 0):
            return False
        return not (voice_blocks_written and channel_class != "voice" and self.load.get("voice", 0) > 0)


@dataclass
class WaitingItem:
    """A queued interaction as routing sees it."""

    id: str
    channel: str
    channel_class: str
    queue: str
    priority: int
    language: str | None
    initiation: str
    skills: dict[str, int]
    queued_at: float
    case_id: str
    affinity_agent: str | None = None
    affinity_until: float | None = None
    declined: dict[str, float] = field(default_factory=dict)
    static_key: tuple[object, ...] = ()

    def __post_init__(self) -> None:
        # what routing needs of the item that never changes while it waits
        self.static_key = (self.queue, self.channel_class, self.language, self.initiation,
                           tuple(sorted(self.skills.items())))

    def rank(self, aging_per_minute: float) -> float:
        """Higher first. Every item ages at the same rate, so this order never changes with time."""
        return self.priority - aging_per_minute * self.queued_at / 60.0

    def effective_priority(self, now: float, aging_per_minute: float) -> float:
        """Priority plus aging: what the waiting item is worth now."""
        return self.priority + aging_per_minute * max(0.0, now - self.queued_at) / 60.0


@dataclass(frozen=True)
class Choice:
    """The chosen agent and the explanation stored with the offer."""

    agent: AgentView
    explanation: dict[str, Any]


def required_skills(item: WaitingItem, rule: RuleSpec | None, policy: RoutingPolicy, waited: float) -> dict[str, int]:
    """Queue skills, the item's own, and the rule's unless relaxed by waiting."""
    needed: dict[str, int] = {}
    queue = policy.queue(item.queue)
    for source in (queue.skills if queue else {}, item.skills):
        for skill, level in source.items():
            needed[skill] = max(needed.get(skill, 0), level)
    if rule is not None and not (rule.relax_after is not None and waited >= rule.relax_after):
        for skill, level in rule.require_skills.items():
            needed[skill] = max(needed.get(skill, 0), level)
    return needed


@dataclass(frozen=True)
class Requirements:
    """What an agent must have to take an item now, and how candidates are ordered."""

    rule: RuleSpec | None
    needed: dict[str, int]
    min_rating: float | None
    prefer: list[str]

    def key(self, channel_class: str) -> tuple[object, ...]:
        """Items with equal keys have the same eligible agents (before declines)."""
        return channel_class, tuple(sorted(self.needed.items())), self.min_rating


def requirements(item: WaitingItem, policy: RoutingPolicy, now: float) -> Requirements:
    """The rule that applies to the item now and what it demands."""
    waited = now - item.queued_at
    priority = int(item.effective_priority(now, policy.aging_per_minute))
    rule = policy.rule_for(channel=item.channel, queue=item.queue, language=item.language,
                           initiation=item.initiation, priority=priority)
    needed = required_skills(item, rule, policy, waited)
    min_rating = None
    if rule is not None and rule.min_rating is not None:
        if not (rule.relax_rating_after is not None and waited >= rule.relax_rating_after):
            min_rating = rule.min_rating
    prefer = (rule.prefer if rule and rule.prefer else None) or policy.prefer
    return Requirements(rule, needed, min_rating, list(prefer))


def choose_agent(item: WaitingItem, agents: list[AgentView], policy: RoutingPolicy, now: float,
                 demands: Requirements | None = None) -> Choice | None:
    """The best eligible agent for the item, or None."""
    demands = demands or requirements(item, policy, now)
    rule, needed, min_rating, prefer = demands.rule, demands.needed, demands.min_rating, demands.prefer
    affinity = item.affinity_agent if item.affinity_until and now < item.affinity_until else None
    decline_window = policy.offer_timeout

    best: AgentView | None = None
    best_key: tuple[float, ...] | None = None
    eligible = 0
    for agent in agents:
        if agent.state != "available" or not agent.has_room(item.channel_class, policy.voice_blocks_written):
            continue
        declined_at = item.declined.get(agent.id)
        if declined_at is not None and now - declined_at < decline_window:
            continue
        if any(agent.skills.get(skill, 0) < level for skill, level in needed.items()):
            continue
        if min_rating is not None and agent.rating < min_rating:
            continue
        eligible += 1
        key = _preference_key(agent, prefer, needed, affinity, now)
        if best_key is None or key < best_key:
            best, best_key = agent, key
    if best is None:
        return None
    return Choice(best, _explain(best, item, rule, needed, prefer, affinity, eligible, now))


def _preference_key(agent: AgentView, prefer: list[str], needed: dict[str, int], affinity: str | None,
                    now: float) -> tuple[float, ...]:
    key: list[float] = []
    for name in prefer:
        if name == "affinity":
            key.append(0.0 if agent.id == affinity else 1.0)
        elif name == "skill_level":
            key.append(-float(sum(agent.skills.get(s, 0) for s in needed)))
        elif name == "rating":
            key.append(-agent.rating)
        elif name == "longest_idle":
            key.append(agent.idle_since)
        elif name == "least_busy":
            key.append(float(sum(agent.load.values())))
    key.append(agent.idle_since)  # final tie-break: longest idle
    return tuple(key)


def _explain(agent: AgentView, item: WaitingItem, rule: RuleSpec | None, needed: dict[str, int],
             prefer: list[str], affinity: str | None, eligible: int, now: float) -> dict[str, Any]:
    reasons = []
    if affinity == agent.id:
        reasons.append("case affinity: last agent on this case")
    if needed:
        met = (f"{s}={agent.skills.get(s, 0)}>={lvl}" for s, lvl in sorted(needed.items()))
        reasons.append("skills " + ", ".join(met))
    reasons.append(f"rating {agent.rating:g}")
    reasons.append(f"idle {max(0.0, now - agent.idle_since):.0f} s")
    return {
        "rule": rule.name if rule else "default",
        "queue": item.queue,
        "agent_id": agent.id,
        "preference": list(prefer),
        "required_skills": needed,
        "eligible_agents": eligible,
        "waited_seconds": round(max(0.0, now - item.queued_at), 3),
        "reasons": reasons,
    }
