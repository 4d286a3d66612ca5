"""Which replies wait for a supervisor before they go out (``[approval]``, docs/supervising.md).

Only public replies are ever held: those sent in ``public`` mode on a network that has public
replies (a tweet, a page comment), which the brand's audience reads. One is held when the policy
holds every public reply, when its agent is marked ``needs_approval``, or when it contains one of
the configured words (whole words, any case, any script).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.config import ApprovalConfig


def hold_reasons(conn: Any, policy: ApprovalConfig, *, text: str, mode: str | None, public_channel: bool,
                 agent_id: str | None) -> list[str]:
    """Why this reply must wait (``all``, ``agent``, ``word:<word>``), or nothing: it may go now."""
    if mode != "public" or not public_channel:
        return []
    reasons = ["all"] if policy.public_replies else []
    if agent_id is not None and conn.execute(sa.select(models.agents.c.needs_approval)
                                             .where(models.agents.c.id == agent_id)).scalar():
        reasons.append("agent")
    reasons.extend(f"word:{word}" for word in words_in(text, tuple(policy.words)))
    return reasons


def words_in(text: str, words: tuple[str, ...]) -> list[str]:
    """The configured words the text contains as whole words, ignoring case."""
    pattern = _pattern(words)
    if pattern is None:
        return []
    found = {match.casefold() for match in pattern.findall(text)}
    return [word for word in words if word.casefold() in found]


@lru_cache(maxsize=8)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
