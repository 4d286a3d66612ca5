"""``[pivot]``: link lifetime, the toll-fraud limits of the public form, retries, opening hours."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NumberType = Literal["mobile", "fixed_line", "fixed_line_or_mobile", "toll_free", "voip"]
DEFAULT_NUMBER_TYPES: tuple[NumberType, ...] = ("mobile", "fixed_line", "fixed_line_or_mobile")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


class PivotConfig(BaseModel):
    """Everything a company tunes about pivot links and callbacks (defaults are the safe ones)."""

    model_config = ConfigDict(extra="forbid")

    company_name: str = Field(default="Customer support", min_length=1, max_length=100)
    link_ttl_seconds: float = Field(default=86_400.0, gt=0, le=30 * 86_400)  # default expiry
    max_ttl_seconds: float = Field(default=7 * 86_400.0, gt=0, le=30 * 86_400)  # longest an agent may ask for
    default_max_uses: int = Field(default=1, ge=1, le=100)
    # Toll-fraud defences: only these regions (ISO 3166 alpha-2) and number types are ever dialled.
    allowed_regions: list[str] = Field(default_factory=lambda: ["FI", "SE", "NO", "DK", "EE", "DE", "PL", "GB",
                                                                   "IE", "US", "CA", "KR", "CN"])
    allowed_number_types: list[NumberType] = Field(default_factory=lambda: list(DEFAULT_NUMBER_TYPES))
    callbacks_per_link: int = Field(default=3, ge=1)
    callbacks_per_number_per_hour: int = Field(default=3, ge=1)
    callbacks_per_client_per_hour: int = Field(default=5, ge=1)
    misses_per_client_per_minute: int = Field(default=20, ge=1)  # unknown tokens before 429 (guessing)
    trust_forwarded_for: bool = False  # take the client address from X-Forwarded-For (behind a proxy only)
    # Callbacks: a failed attempt (no answer, busy) is retried after each of these delays, then failed.
    retry_seconds: list[float] = Field(default_factory=lambda: [120.0, 600.0])
    callback_affinity_seconds: float = Field(default=120.0, ge=0)  # offered to the link's agent first this long
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # When "call me at a time" may be chosen: weekday -> "HH:MM-HH:MM" in ``timezone``.
    timezone: str = "UTC"
    opening_hours: dict[str, str] = Field(default_factory=lambda: {d: "08:00-20:00" for d in WEEKDAYS[:5]})
    schedule_days_ahead: int = Field(default=7, ge=1, le=60)
    # Where "keep writing to us" leads, per channel (e.g. x = "https://x.com/messages/compose?recipient_id=123",
    # email = "mailto:support@example.com"); without one the page names the channel only.
    continue_urls: dict[str, str] = Field(default_factory=dict)
    secret: str = ""  # signs form tokens; empty: one is generated and shared by all nodes through the database

    @field_validator("allowed_regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        out = [v.strip().upper() for v in value]
        for region in out:
            if region != "*" and not re.fullmatch(r"[A-Z]{2}", region):
                raise ValueError(f"{region!r} is not an ISO 3166 alpha-2 region code (or '*')")
        return out

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for day, span in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            if not HOURS.match(span) or span[:5] >= span[6:]:
                raise ValueError(f"{day}: {span!r} is not a span like 08:00-20:00")
        return value

    @field_validator("continue_urls")
    @classmethod
    def _continue(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, url in value.items():
            if not re.match(r"^(https://|http://|mailto:|xmpp:|sms:|tel:)", url):
                raise ValueError(f"{channel}: {url!r} must be an https, mailto, xmpp, sms or tel URL")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value
