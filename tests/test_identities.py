"""Identity normalization: phones to E.164, emails canonical; the fast email path never disagrees."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.errors import InvalidInput
from cti.services.identities import _simple_email, normalize_identity

ADDRESS_CHARS = st.sampled_from(list("abcxyzABC019._%+-@ä"))


def _library(value: str) -> str | None:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.emails(), st.text(ADDRESS_CHARS, min_size=1, max_size=40),
                 st.builds(lambda a, b, c: f"{a}@{b}.{c}", st.text(ADDRESS_CHARS, max_size=10),
                           st.text(ADDRESS_CHARS, max_size=10), st.sampled_from(["com", "fi", "test", "c0m", "x"]))))
def test_fast_email_path_agrees_with_email_validator(value: str) -> None:
    fast = _simple_email(value)
    if fast is not None:
        assert fast == _library(value)


def test_normalization_and_errors_name_the_field() -> None:
    assert normalize_identity("phone", "+358 40 123 4567") == ("phone", "+358401234567")
    assert normalize_identity("EMAIL", "Ann@Example.COM") == ("email", "ann@example.com")
    assert normalize_identity("email", "Łukasz@przykład.pl")[0] == "email"
    assert normalize_identity("xmpp", "Ann@Chat.example/phone") == ("xmpp", "ann@chat.example")
    with pytest.raises(InvalidInput) as err:
        normalize_identity("phone", "040 123", field="to")
    assert "to.value" in err.value.details
    with pytest.raises(InvalidInput) as err:
        normalize_identity("email", "not-an-address")
    assert "from.value" in err.value.details
