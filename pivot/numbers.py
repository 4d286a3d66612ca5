"""Which callback numbers may be dialled: the public form's toll-fraud rules, pure and table-testable.

A "call me" form is a classic toll-fraud target (someone makes the company dial premium-rate
or far-away numbers they profit from). A number is accepted only when phonenumbers parses it
as a valid number of an allowed region and of an allowed type; premium-rate and shared-cost
numbers are refused whatever the configuration says.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from pivot.settings import PivotConfig

NEVER = {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST}
TYPES = {"mobile": PhoneNumberType.MOBILE, "fixed_line": PhoneNumberType.FIXED_LINE,
         "fixed_line_or_mobile": PhoneNumberType.FIXED_LINE_OR_MOBILE, "toll_free": PhoneNumberType.TOLL_FREE,
         "voip": PhoneNumberType.VOIP}


class NumberRefused(Exception):
    """The number may not be dialled. ``code`` is stable (API and page messages key on it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CallbackNumber:
    """An accepted number."""

    e164: str
    region: str


def check_callback_number(raw: str, config: PivotConfig, *, default_region: str | None = None) -> CallbackNumber:
    """Parse and vet a number typed by a customer; raise NumberRefused with the reason."""
    text = (raw or "").strip()
    if not text or len(text) > 40:
        raise NumberRefused("invalid_number", "type your number with its country code, e.g. +358 40 123 4567")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise NumberRefused("invalid_number", "type your number with its country code, e.g. +358 40 123 4567"
                            ) from exc
    if not phonenumbers.is_valid_number(number):
        raise NumberRefused("invalid_number", "that is not a valid phone number")
    region = phonenumbers.region_code_for_number(number) or ""
    if "*" not in config.allowed_regions and region not in config.allowed_regions:
        raise NumberRefused("region_not_allowed", f"we cannot call numbers in {region or 'that region'}")
    kind = phonenumbers.number_type(number)
    allowed = {TYPES[name] for name in config.allowed_number_types}
    if kind in NEVER or kind not in allowed:
        raise NumberRefused("number_type_not_allowed", "we cannot call this kind of number (premium-rate, "
                            "shared-cost and service numbers are never called)")
    return CallbackNumber(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), region)
