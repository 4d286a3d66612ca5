"""The routing policy: declarative data (TOML), validated at start, applied to every channel.

A queue collects interactions by channel; a rule, chosen first-match in order, adds skill
requirements (optionally relaxed after a wait), a minimum agent rating, and the order of
preferences used to pick among eligible agents. Every offer records the rule and the reasons.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Preference = Literal["affinity", "skill_level", "rating", "longest_idle", "least_busy"]
DEFAULT_PREFERENCES: tuple[Preference, ...] = ("affinity", "skill_level", "longest_idle")

# Which capacity bucket a channel draws from. Channels not listed count as "chat".
DEFAULT_CHANNEL_CLASSES: dict[str, str] = {
    "voice": "voice",
    "email": "email",
    "chat": "chat",
    "xmpp": "chat",
    "sms": "social",
    "x": "social",
    "messenger": "social",
    "instagram": "social",
    "comment": "social",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueueSpec(_Strict):
    """A queue: which channels enter it and which skills its agents need."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    channels: list[str] = Field(default_factory=lambda: ["*"])
    skills: dict[str, int] = Field(default_factory=dict)
    priority: int = 0

    def accepts(self, channel: str) -> bool:
        """True when interactions of this channel enter this queue by default."""
        return "*" in self.channels or channel in self.channels


class RuleSpec(_Strict):
    """One routing rule: conditions (all must hold) and effects."""

    name: str = Field(min_length=1, max_length=100)
    channel: list[str] | None = None
    queue: list[str] | None = None
    language: list[str] | None = None
    initiation: list[str] | None = None
    min_priority: int | None = None
    require_skills: dict[str, int] = Field(default_factory=dict)
    relax_after: float | None = Field(default=None, ge=0, le=30 * 86400)
    min_rating: float | None = None
    relax_rating_after: float | None = Field(default=None, ge=0, le=30 * 86400)
    prefer: list[Preference] | None = None

    def matches(self, *, channel: str, queue: str, language: str | None, initiation: str, priority: int) -> bool:
        """True when every condition of the rule holds for this interaction."""
        if self.channel is not None and channel not in self.channel:
            return False
        if self.queue is not None and queue not in self.queue:
            return False
        if self.language is not None and language not in self.language:
            return False
        if self.initiation is not None and initiation not in self.initiation:
            return False
        return self.min_priority is None or priority >= self.min_priority


class RoutingPolicy(_Strict):
    """The whole routing policy."""

    offer_timeout: float = Field(default=20.0, gt=0, le=3600)
    affinity_seconds: float = Field(default=120.0, ge=0, le=30 * 86400)  # (bounded: times stay dates)
    aging_per_minute: float = Field(default=1.0, ge=0, le=1_000_000)
    voice_blocks_written: bool = True
    default_capacity: dict[str, int] = Field(
        default_factory=lambda: {"voice": 1, "chat": 3, "email": 5, "social": 5}
    )
    channel_classes: dict[str, str] = Field(default_factory=dict)
    prefer: list[Preference] = Field(default_factory=lambda: list(DEFAULT_PREFERENCES))
    queues: list[QueueSpec] = Field(default_factory=lambda: [QueueSpec(name="default")])
    rules: list[RuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> RoutingPolicy:
        names = [q.name for q in self.queues]
        if not names:
            raise ValueError("routing.queues: at least one queue is needed")
        if len(set(names)) != len(names):
            raise ValueError("routing.queues: queue names must be unique")
        for rule in self.rules:
            for queue in rule.queue or []:
                if queue not in names:
                    raise ValueError(f"routing.rules[{rule.name}].queue: unknown queue {queue!r}")
        return self

    def channel_class(self, channel: str) -> str:
        """The capacity bucket a channel draws from."""
        return self.channel_classes.get(channel) or DEFAULT_CHANNEL_CLASSES.get(channel, "chat")

    def queue_for(self, channel: str) -> str:
        """The first queue that accepts this channel (the default queue when none does)."""
        for queue in self.queues:
            if queue.accepts(channel):
                return queue.name
        return self.queues[0].name

    def queue(self, name: str) -> QueueSpec | None:
        """The queue of that name, if any."""
        return next((q for q in self.queues if q.name == name), None)

    def rule_for(
        self, *, channel: str, queue: str, language: str | None, initiation: str, priority: int
    ) -> RuleSpec | None:
        """The first rule whose conditions hold."""
        for rule in self.rules:
            if rule.matches(
                channel=channel, queue=queue, language=language, initiation=initiation, priority=priority
            ):
                return rule
        return None
