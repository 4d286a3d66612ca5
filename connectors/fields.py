"""Reading vendor event fields by their shape (pure): every connector's wire module takes ids,
texts and labels through these, so that a field of the wrong type or shape is a ``ValueError``
(the webhook answers 400 ``malformed_event``), never a 500 and never a stored oddity."""

from __future__ import annotations

import re
from typing import Any


def shaped(value: Any, pattern: re.Pattern[str], what: str) -> str:
    """An id as the vendor sends it (a string or an integer) that matches ``pattern``; else ValueError."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not pattern.match(text):
        raise ValueError(f"{what} is missing or not of the vendor's shape")
    return text


def text_of(value: Any) -> str:
    """A text field: a string, or (absent) empty; anything else is a malformed event."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("a text field is not a string")
    return value


def label(value: Any) -> str | None:
    """A short display string (a name, a handle, a language), or None when absent or not a string."""
    return value[:200] if isinstance(value, str) and value else None


def bounded_int(value: Any, upper: int) -> int | None:
    """A non-negative integer below ``upper`` (counts, timestamps), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 <= number < upper else None
