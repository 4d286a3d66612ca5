"""The languages people read the product in, and choosing one from what a browser asks for.

English, Finnish, Chinese (Simplified), Korean and Polish: the pages of the desk, wallboard and
reports (``cti/web/messages``) and the customer's pivot pages (``pivot/i18n.py``) all speak
these, and every catalogue has every key (tests check both).
"""

from __future__ import annotations

from collections.abc import Collection

LANGUAGES = {"en": "English", "fi": "Suomi", "zh": "中文", "ko": "한국어", "pl": "Polski"}
DEFAULT = "en"


def negotiate(accept_language: str | None, *, requested: str | None = None, fallback: str | None = None,
              supported: Collection[str] = tuple(LANGUAGES)) -> str:
    """The language to use: ``requested`` (``?lang=``) first, then Accept-Language by q-value, then the
    fallback (e.g. the person's own setting), then English."""
    if requested and requested in supported:
        return requested
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        pieces = part.strip().split(";")
        base = pieces[0].strip().lower().split("-", 1)[0]
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if base in supported and quality > 0:
            ranked.append((-quality, position, base))
    if ranked:
        return min(ranked)[2]
    base = (fallback or "").split("-", 1)[0].lower()
    return base if base in supported else DEFAULT
