"""The words of the desk, wallboard and reports in five languages (``cti/web/messages/*.json``).

A page speaks ``?lang=`` if given, else the signed-in person's language, else the browser's
(Accept-Language), else English. The server renders the page's own text in it and puts the
catalogue in the page for the scripts (``cti.t(key, values)``). Every catalogue has every key of
the English one, with the same ``{placeholders}`` (tests/test_page_languages.py).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from cti.languages import LANGUAGES, negotiate

__all__ = ["LANGUAGES", "catalogue", "negotiate", "text"]


@functools.lru_cache(maxsize=len(LANGUAGES))
def catalogue(language: str) -> dict[str, str]:
    """Every message of one language, by key."""
    raw = resources.files("cti.web").joinpath("messages", f"{language}.json").read_text(encoding="utf-8")
    messages: dict[str, str] = json.loads(raw)
    return messages


def text(language: str, key: str, **values: Any) -> str:
    """One message filled in (English when the language lacks it, the key when English does)."""
    message = catalogue(language).get(key) or catalogue("en").get(key) or key
    return message.format(**values) if values else message
