"""Identity kinds and their normalization (phone numbers to E.164, emails to canonical form)."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from cti.errors import InvalidInput

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
KNOWN_KINDS = ("phone", "email", "x", "facebook", "instagram", "xmpp", "sip")


def normalize_identity(kind: str, value: str, *, field: str = "from") -> tuple[str, str]:
    """Return (kind, canonical value) or raise InvalidInput naming the field."""
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
        try:
            return kind, validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise InvalidInput(f"not a valid email address: {exc}", details={f"{field}.value": str(exc)}) from exc
    if kind == "xmpp":
        return kind, value.split("/", 1)[0].lower()
    return kind, value


def _normalize_phone(value: str, field: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("phone numbers must be in international form, e.g. +358401234567",
                           details={f"{field}.value": str(exc)}) from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput("not a possible phone number", details={f"{field}.value": "impossible number"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
