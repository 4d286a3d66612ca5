"""The pure decisions of social listening: noise, match, score, reply-mode suggestion.

A public post (mention, comment) is first checked for noise (blocked account, spam pattern,
nothing but links), then matched against the listening rules (brand handles, hashtags, brand
names, trigger phrases in several languages); a private message always routes. The score adds
points for negative sentiment (VADER's compound score: a lexicon model, no network; strongest
on English, and it also reads emoji and shouting), the author's influence (followers, log
scale), the customer's value (contact attributes) and contact on other channels today. Waiting
time is added later by routing's aging, so nothing starves. Every factor is kept with its
points: the interaction explains its own priority.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from cti.social.settings import SocialConfig

LINK = re.compile(r"https?://\S+")
MENTION = re.compile(r"[@#]\w+")
PERSONAL = re.compile(r"(\b\d{6,}\b|@\w+\.\w+|\border\s*(no|number|#)|\baccount\b|\btilaus|\bzamówieni)",
                      re.IGNORECASE)
CALL_ME = re.compile(r"(call me|phone me|soita|zadzwo|전화|打电话|回电)", re.IGNORECASE)


@dataclass(frozen=True)
class Screening:
    """``route``: becomes an interaction; else ``status`` (unrouted | noise) with the reason."""

    route: bool
    status: str = ""
    reason: str = ""


def screen_post(text: str, meta: dict[str, Any], author: str, config: SocialConfig) -> Screening:
    """Noise or match for a public post; private messages always route."""
    public = meta.get("kind") in ("mention", "comment")
    names = {author.lower(), str(meta.get("screen_name") or "").lower()}
    if any(b.lower().lstrip("@") in names for b in config.blocked_accounts):
        return Screening(False, "noise", "blocked account")
    if not public:
        return Screening(True)
    lowered = text.lower()
    for pattern in config.spam_patterns:
        if pattern.lower() in lowered:
            return Screening(False, "noise", f"spam pattern: {pattern}")
    if not MENTION.sub("", LINK.sub("", text)).strip():
        return Screening(False, "noise", "only links or handles")
    if config.route_all_mentions:
        return Screening(True, reason="every mention routes")
    for handle in config.handles:
        if handle.lower() in lowered:
            return Screening(True, reason=f"handle {handle}")
    for tag in config.hashtags:
        if tag.lower() in lowered:
            return Screening(True, reason=f"hashtag {tag}")
    for name in config.brand_names:
        if re.search(rf"\b{re.escape(name.lower())}\b", lowered):
            return Screening(True, reason=f"brand {name}")
    for phrase in config.trigger_phrases:
        if phrase.lower() in lowered:
            return Screening(True, reason=f"trigger phrase: {phrase}")
    return Screening(False, "unrouted", "no listening rule matched")


@functools.lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score, -1 (very negative) to 1."""
    return float(_analyzer().polarity_scores(text[:2000])["compound"])


def score(text: str, meta: dict[str, Any], attributes: dict[str, Any], other_channels_today: int,
          config: SocialConfig) -> dict[str, Any]:
    """The priority (0-100) with each factor's value and points, and a reply-mode suggestion."""
    w = config.weights
    compound = sentiment(text)
    followers = int(meta.get("followers") or 0)
    influence = min(1.0, math.log10(followers + 1) / 6)
    value = _customer_value(attributes, config)
    cross = min(1.0, other_channels_today / 2)
    factors = {
        "sentiment": {"value": round(compound, 3), "points": round(w.sentiment * max(0.0, -compound), 1)},
        "influence": {"value": followers, "points": round(w.influence * influence, 1)},
        "customer_value": {"value": round(value, 3), "points": round(w.customer_value * value, 1)},
        "cross_channel": {"value": other_channels_today, "points": round(w.cross_channel * cross, 1)},
    }
    total = min(100, round(sum(f["points"] for f in factors.values())))
    return {"priority": total, "factors": factors, "reply_mode": suggest_reply_mode(text, meta, compound, total)}


def _customer_value(attributes: dict[str, Any], config: SocialConfig) -> float:
    if attributes.get(config.vip_attribute) in (True, "true", "yes", 1):
        return 1.0
    try:
        lifetime = float(attributes.get("lifetime_value") or 0)
        purchases = float(attributes.get("purchases") or 0)
    except (TypeError, ValueError):
        return 0.0
    return min(1.0, max(lifetime / config.lifetime_value_full, purchases / 20))


def suggest_reply_mode(text: str, meta: dict[str, Any], compound: float, priority: int) -> dict[str, str]:
    """public, private or pivot, with the reason (the agent may choose otherwise)."""
    public = meta.get("kind") in ("mention", "comment")
    if CALL_ME.search(text):
        return {"mode": "pivot", "reason": "the customer asks to be called: send a callback link"}
    if priority >= 60 and compound <= -0.5:
        return {"mode": "pivot", "reason": "very upset and high priority: a call resolves it faster than text"}
    if public and PERSONAL.search(text):
        return {"mode": "private", "reason": "account or order details: move the conversation to a private message"}
    if public and compound <= -0.3:
        return {"mode": "private", "reason": "a complaint in public: acknowledge and continue privately"}
    if public:
        return {"mode": "public", "reason": "a public question others may share: answer in public"}
    return {"mode": "private", "reason": "a private message: answer privately"}
