"""The web chat's words in five languages (``webchat/messages/<lang>.json``): the widget's, built
into its script, and the server's (the first email when a chat continues by email)."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson

HERE = Path(__file__).parent
LANGUAGES = ("en", "fi", "zh", "ko", "pl")


@functools.cache
def messages(language: str) -> dict[str, str]:
    return dict(orjson.loads((HERE / "messages" / f"{language}.json").read_bytes()))


def text(language: str | None, key: str, **words: str) -> str:
    """The text of ``key`` in the language (its first two letters; English when not one of ours)."""
    lang = (language or "en")[:2].lower()
    return messages(lang if lang in LANGUAGES else "en")[key].format(**words)
