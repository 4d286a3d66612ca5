"""Identity kinds and their normalization (phone numbers to E.164, emails to canonical form)."""

from __future__ import annotations

import functools
import re

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from cti.errors import InvalidInput

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
KNOWN_KINDS = ("phone", "email", "x", "facebook", "instagram", "xmpp", "sip")


def normalize_identity(kind: str, value: str, *, field: str = "from") -> tuple[str, str]:
    """Return (kind, canonical value) or raise InvalidInput naming the field."""
    try:
        return _normalize_cached(kind, value)
    except InvalidInput as exc:
        exc.details = {f"{field}.{key.split('.', 1)[-1]}": why for key, why in exc.details.items()}
        raise


@functools.lru_cache(maxsize=65536)
def _normalize_cached(kind: str, value: str) -> tuple[str, str]:
    """Normalization is pure and customers write again and again: remember the answers."""
    return _normalize(kind, value, field="_")


def _normalize(kind: str, value: str, *, field: str) -> tuple[str, str]:
    kind = kind.strip().lower()
    value = value.strip()
    if not KIND_PATTERN.match(kind):
        raise InvalidInput("identity kind must be a short lower-case word",
                           details={f"{field}.kind": "must match ^[a-z][a-z0-9_-]{0,31}$"})
    if not value or len(value) > 320:
        raise InvalidInput("identity value must be 1 to 320 characters", details={f"{field}.value": "length"})
    if kind == "phone":
        return kind, _normalize_phone(value, field)
    if kind == "email":
        simple = _simple_email(value)
        if simple is not None:
            return kind, simple
        try:
            return kind, validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise InvalidInput(f"not a valid email address: {exc}", details={f"{field}.value": str(exc)}) from exc
    if kind == "xmpp":
        return kind, value.split("/", 1)[0].lower()
    return kind, value


_LOCAL = r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SIMPLE_EMAIL = re.compile(rf"^({_LOCAL})@((?:{_LABEL}\.)+([a-z]{{2,63}}))$")
_SPECIAL_USE = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _simple_email(value: str) -> str | None:
    """The canonical form of a plain ASCII address, or None to let email-validator decide.

    Only a strict subset of valid addresses passes here (the common case, at a fraction of the
    cost); anything unusual, internationalized or on a special-use domain goes to the library."""
    lowered = value.lower()
    if len(lowered) > 254 or not lowered.isascii():
        return None
    match = _SIMPLE_EMAIL.match(lowered)
    if match is None or len(match.group(1)) > 64:
        return None
    domain = match.group(2)
    if match.group(3) in _SPECIAL_USE or any(domain == d or domain.endswith("." + d) for d in _SPECIAL_USE):
        return None
    return lowered


def _normalize_phone(value: str, field: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("phone numbers must be in international form, e.g. +358401234567",
                           details={f"{field}.value": str(exc)}) from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput("not a possible phone number", details={f"{field}.value": "impossible number"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
