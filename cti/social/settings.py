"""``[social]``: listening rules, the noise filter, and the weights of the priority score."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TRIGGERS = [
    "help", "broken", "cancel", "refund", "not working", "down", "outage", "worst", "scam",  # en
    "apua", "rikki", "peruutus", "ei toimi",  # fi
    "pomocy", "pomoc", "zepsut", "anuluj", "nie działa",  # pl
    "도와", "고장", "취소", "환불",  # ko
    "帮助", "坏了", "取消", "退款",  # zh
]


class ScoreWeights(BaseModel):
    """Points each factor adds at its maximum; the score is their sum, capped at 100."""

    model_config = ConfigDict(extra="forbid")
    sentiment: float = Field(default=40.0, ge=0)  # very negative text
    influence: float = Field(default=30.0, ge=0)  # followers, on a log scale (1M followers = full)
    customer_value: float = Field(default=20.0, ge=0)  # contact attributes: vip, lifetime_value, purchases
    cross_channel: float = Field(default=10.0, ge=0)  # the same customer on other channels today


class SocialConfig(BaseModel):
    """What the company listens for on public channels, and how it ranks what it hears."""

    model_config = ConfigDict(extra="forbid")
    handles: list[str] = Field(default_factory=list)  # "@acme": a mention of these always routes
    hashtags: list[str] = Field(default_factory=list)  # "#acmehelp"
    brand_names: list[str] = Field(default_factory=list)  # "Acme" anywhere in the text
    trigger_phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_TRIGGERS))
    route_all_mentions: bool = False  # route every mention the network delivers, matched or not
    blocked_accounts: list[str] = Field(default_factory=list)  # network user ids or screen names
    spam_patterns: list[str] = Field(default_factory=lambda: ["free followers", "crypto giveaway",
                                                              "click here to win", "dm for promo"])
    duplicate_window_seconds: float = Field(default=600.0, ge=0)  # the same text again from the same author
    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    vip_attribute: str = "vip"
    lifetime_value_full: float = Field(default=10_000.0, gt=0)  # this lifetime value counts as full value
