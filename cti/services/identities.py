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
        return kind, _bare_jid(value, field)
    shape = SHAPES.get(kind)
    if shape is not None and not shape[0].match(value):
        raise InvalidInput(f"not a valid {kind} identity: {shape[1]}", details={f"{field}.value": shape[1]})
    if CONTROL.search(value):
        raise InvalidInput("identity values contain no control characters", details={f"{field}.value": "control"})
    return kind, value


# Each channel's identities by their shape, checked where they enter (webhooks, the API, imports),
# so that no stored value can later become something else in a vendor's URL path or a SIP header.
SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "x": (re.compile(r"^[0-9]{1,20}$"), "an X user id is 1-20 digits"),
    "facebook": (re.compile(r"^[0-9]{1,32}$"), "a page-scoped id (PSID) is digits"),
    "instagram": (re.compile(r"^[0-9]{1,32}$"), "an Instagram-scoped id (IGSID) is digits"),
    "whatsapp": (re.compile(r"^\+?[1-9][0-9]{6,14}$"), "a WhatsApp id is a phone number in E.164 digits"),
    "webchat": (re.compile(r"^wv_[0-9a-f]{27}$"), "a web chat visitor id (wv_ and 27 hex digits)"),
    "sip": (re.compile(r"^(sips?:)?[A-Za-z0-9._~%!$&'()*+,;=:@\[\]-]{1,300}$"),
            "a SIP URI or user (no spaces, quotes or angle brackets)"),
}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JID_LOCAL_FORBIDDEN = re.compile(r"[\s\"&'/:<>@\x00-\x1f\x7f]")
_JID_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$|^\[[0-9a-f:.]+\]$")


def _bare_jid(value: str, field: str) -> str:
    """A bare JID (local@domain or domain; the resource dropped), lower-cased, by RFC 7622's rules
    for the characters that matter here."""
    bare = value.split("/", 1)[0].lower()
    local, _, domain = bare.rpartition("@")
    if (not domain or not _JID_DOMAIN.match(domain) or (local == "" and "@" in bare)
            or _JID_LOCAL_FORBIDDEN.search(local) or len(local) > 1023):
        raise InvalidInput("not a valid XMPP address (JID)", details={f"{field}.value": "not a JID"})
    return bare


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
