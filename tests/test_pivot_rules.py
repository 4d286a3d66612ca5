"""The pure rules behind pivot links: tokens and form tokens, callback numbers, opening hours, languages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pivot import i18n
from pivot.hours import parse_choice, slots
from pivot.numbers import NumberRefused, check_callback_number
from pivot.settings import PivotConfig
from pivot.tokens import form_token, form_token_valid, mask_number, new_nonce, new_token, token_hash, well_formed

SECRET = b"test-secret"


def test_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(well_formed(t) and len(t) >= 43 for t in tokens)  # 256 bits in URL-safe base64


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_form_tokens_only_match_their_link_and_cookie(link: str, other: str) -> None:
    nonce = new_nonce()
    field = form_token(SECRET, token_hash(link), nonce)
    assert form_token_valid(SECRET, token_hash(link), nonce, field)
    assert not form_token_valid(SECRET, token_hash(link), new_nonce(), field)
    assert not form_token_valid(SECRET, token_hash(link), None, field)
    assert not form_token_valid(b"another-secret", token_hash(link), nonce, field)
    if other != link:
        assert not form_token_valid(SECRET, token_hash(other), nonce, field)


@given(st.from_regex(r"\+[1-9]\d{7,14}", fullmatch=True))
def test_masked_numbers_keep_only_the_ends(number: str) -> None:
    masked = mask_number(number)
    assert masked.endswith(number[-2:]) and masked.startswith(number[:3])
    assert sum(ch.isdigit() for ch in masked) <= 5


@pytest.mark.parametrize(("raw", "outcome"), [
    ("+358 40 123 4567", "+358401234567"),
    ("+44 20 7946 0000", "+442079460000"),
    ("+1 415 555 0123", "+14155550123"),
    ("+358 600 123456", "number_type_not_allowed"),  # premium rate
    ("+1 900 555 0123", "number_type_not_allowed"),  # premium rate
    ("+358 20 123 4567", "number_type_not_allowed"),  # shared cost
    ("+55 11 98765 4321", "region_not_allowed"),
    ("+358 40", "invalid_number"),
    ("call me", "invalid_number"),
    ("", "invalid_number"),
])
def test_callback_numbers(raw: str, outcome: str) -> None:
    config = PivotConfig()
    if outcome.startswith("+"):
        assert check_callback_number(raw, config).e164 == outcome
    else:
        with pytest.raises(NumberRefused) as refused:
            check_callback_number(raw, config)
        assert refused.value.code == outcome


def test_premium_rate_is_refused_even_when_every_region_and_type_is_allowed() -> None:
    config = PivotConfig(allowed_regions=["*"], allowed_number_types=["mobile", "fixed_line", "toll_free", "voip"])
    with pytest.raises(NumberRefused):
        check_callback_number("+358 600 123456", config)


def test_slots_lie_within_opening_hours_and_only_they_are_accepted() -> None:
    config = PivotConfig(timezone="Europe/Helsinki", opening_hours={"mon": "09:00-11:00", "sat": "10:00-10:30"})
    monday_early = datetime(2026, 11, 30, 5, 0, tzinfo=UTC).timestamp()  # 07:00 in Helsinki
    found = slots(config, monday_early)
    assert [s.strftime("%a %H:%M") for s in found[:5]] == ["Mon 09:00", "Mon 09:30", "Mon 10:00", "Mon 10:30",
                                                          "Sat 10:00"]
    assert parse_choice(found[1].isoformat(), config, monday_early) == found[1].timestamp()
    assert parse_choice("2026-11-30T09:15:00+02:00", config, monday_early) is None  # not a slot
    assert parse_choice("2026-11-30T09:00:00", config, monday_early) is None  # no zone
    assert parse_choice("tomorrow", config, monday_early) is None


def test_every_language_has_every_message_and_negotiation_follows_quality() -> None:
    keys = set(i18n.MESSAGES["en"])
    assert set(i18n.MESSAGES) == {"en", "fi", "zh", "ko", "pl"}
    for language, messages in i18n.MESSAGES.items():
        assert set(messages) == keys, language
    assert i18n.negotiate("de-DE,pl;q=0.8,fi;q=0.9") == "fi"
    assert i18n.negotiate("zh-CN,zh;q=0.9") == "zh"
    assert i18n.negotiate("de", fallback="ko") == "ko"
    assert i18n.negotiate("fi", requested="pl") == "pl"
    assert i18n.negotiate("fi;q=abc, xx") == "en"


@pytest.mark.parametrize("language", sorted(i18n.MESSAGES))
def test_the_link_message_fits_a_tweet_in_every_language(language: str) -> None:
    text = i18n.text(language, "link_text", agent="Maximiliana", company="A" * 40, url="https://x.test/p/t")
    assert len(text) - len("https://x.test/p/t") + 23 <= 280


@pytest.mark.parametrize("bad", [
    {"continue_urls": {"x": "javascript:alert(1)"}}, {"opening_hours": {"mon": "20:00-08:00"}},
    {"opening_hours": {"funday": "08:00-09:00"}}, {"allowed_regions": ["Finland"]}, {"timezone": "Mars/Olympus"}])
def test_bad_pivot_settings_are_refused_naming_the_key(bad: dict[str, object]) -> None:
    from cti.errors import ConfigError
    from cti.main import load_app_config as load_config

    with pytest.raises(ConfigError) as refused:
        load_config(None, environ={}, overrides={"pivot": bad})
    assert f"pivot.{next(iter(bad))}" in str(refused.value)
